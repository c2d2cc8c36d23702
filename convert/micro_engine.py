"""The C engine beside `convert micro`'s TFLite Micro files (convert/c_engine): generated from
the batch-1 model TFLM has just verified, compiled here and run on every reference image
(its int8 outputs must equal TFLM's), judged against Keras like every artifact, measured on
an emulated Cortex-M4F when Debian's cross toolchain is installed, and listed in the
manifest as format "c".

A model with an op the engine does not run is refused in one line; TFLM's files are
written all the same. convert/micro.py calls build_engine() once it has verified the TFLM
model, writes EngineOutcome.files with its own, and lists EngineOutcome.artifact()."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from runtime.errors import one_line
from runtime.layout import MICRO_FOLDER
from runtime.manifest import Artifact, Metrics
from runtime.parity import ParityResult, compare
from runtime.tables import plural

ENGINE_FORMAT = "c"
EMULATED_CORE = "cortex-m4f"
EMULATED_IMAGES = 3
"""Reference images run on the emulated core for the summary's figures (the tests run 100 and more)."""


def engine_files(name: str) -> dict:
    """The engine's files for the engine name `name`, relative to the models folder."""
    return {"source": f"{MICRO_FOLDER}/{name}.c", "header": f"{MICRO_FOLDER}/{name}.h"}


class HostBackend:
    """The engine compiled here, behind the shape of the runtime's backends (`inputs`,
    `outputs`, `run`), its tensors those of the TFLM model it reproduces."""

    def __init__(self, host, like, compiler: str):
        self.name, self.compiler = "c-engine", compiler
        self.inputs, self.outputs = like.inputs, like.outputs
        self._host = host

    @property
    def version(self) -> str:
        return f"({self.compiler})"

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._host.run(x).reshape((len(x),) + tuple(self.outputs[0].shape[1:]))


@dataclass
class EngineOutcome:
    """What `convert micro` made of the C engine for one model."""

    name: str
    files: dict = field(default_factory=dict)
    """Relative path -> text, to write with the TFLM files (empty when refused)."""
    result: Optional[ParityResult] = None
    """Its check against Keras: a row of the summary."""
    lines: list = field(default_factory=list)
    """What to print."""
    refused: str = ""
    """Why it was not generated (one line), or ''."""
    record: dict = field(default_factory=dict)
    """The manifest entry's engine fields."""

    @property
    def passed(self) -> bool:
        return self.result is not None and self.result.passed

    def artifact(self, tflm: Artifact) -> Artifact:
        """The manifest entry, beside the TFLM artifact `tflm` it was generated from."""
        paths = engine_files(self.name)
        source = self.files[paths["source"]].encode()
        entry = copy.deepcopy(tflm)
        entry.path, entry.format, entry.micro = paths["source"], ENGINE_FORMAT, None
        entry.sha256, entry.bytes = hashlib.sha256(source).hexdigest(), len(source)
        entry.metrics = Metrics(**self.result.parity_metrics(), reference_images=tflm.metrics.reference_images,
                                verified_with=self.result.backend, verdict=self.result.verdict)
        entry.extra = dict(self.record, source=paths["source"], header=paths["header"], model=tflm.path,
                           model_sha256=tflm.sha256)
        return entry


def build_engine(name: str, model_name: str, data: bytes, tflm_model, tflm_probs: np.ndarray, reference, limits,
                 tflm_arena_bytes: int, calibration: str = "") -> EngineOutcome:
    """Generates, compiles, runs and judges the engine of the TFLM-verified `data` (the file
    `model_name`), its identifiers prefixed with `name`. `tflm_model` is the runtime Model on
    TFLM, `tflm_probs` its probabilities on the reference images: the engine's must be the
    same to the bit."""
    from runtime.model import Model

    from .c_engine import EngineError, generate
    from .c_engine.host import HostCompilerError, HostEngine, compiler_version

    outcome = EngineOutcome(name)
    try:
        contract = tflm_model.contract
        polarity = f" ({contract.polarity})" if contract.preprocessing == "mnist-digit" else ""
        engine = generate(data, name, model_name, f"value = {contract.formula()}{polarity}")
        backend = HostBackend(HostEngine(engine.source, engine.header, name), tflm_model.backend, compiler_version())
    except (EngineError, HostCompilerError) as err:
        outcome.refused = one_line(err)
        outcome.lines.append(f"  C engine: not written: {outcome.refused} (the TFLite Micro files are)")
        return outcome
    paths = engine_files(name)
    outcome.files = {paths["source"]: engine.source, paths["header"]: engine.header}
    model = Model(tflm_model.path, backend, tflm_model.contract, tflm_model.labels, contract_source="from the manifest")
    x = model.pixels_to_input(model.contract.check_shape(reference.images))
    outputs = backend.run(x)
    probs = model.predict(reference.images)
    identical = int(np.count_nonzero((probs == tflm_probs).all(axis=1)))
    emulated, why_not = _emulated(engine, x[:EMULATED_IMAGES], outputs[:EMULATED_IMAGES])
    flash = emulated.engine.flash if emulated else engine.constant_bytes
    result = compare(paths["source"], "int8", flash, probs, reference, limits)
    result.backend = f"C engine ({backend.compiler})"
    result.calibration = calibration
    if identical != len(x):
        result.failures.append(f"its outputs differ from TFLite Micro's on {len(x) - identical} of {len(x)} "
                               f"{plural(len(x), 'image')}: the engine reproduces TFLM's arithmetic, so this is a "
                               "bug of the engine (please report it with the model)")
    if emulated is not None and not np.array_equal(emulated.outputs.reshape(outputs[:EMULATED_IMAGES].shape),
                                                   outputs[:EMULATED_IMAGES]):
        result.failures.append(f"on the emulated {emulated.core.description} its outputs differ from this machine's")
    outcome.result = result
    stack = emulated.stack_bytes if emulated else None
    ram = engine.arena_bytes + (stack or 0) + engine.output.bytes  # the plan holds the input tensor
    outcome.record = {
        "name": name, "ops": list(engine.ops), "identical_to_tflite_micro": {"images": len(x), "identical": identical},
        "ram": {"bytes": ram, "plan_bytes": engine.arena_bytes, "stack_bytes": stack, "output_bytes": engine.output.bytes,
                "input_bytes_in_plan": engine.input.bytes, "tflite_micro_arena_bytes": tflm_arena_bytes,
                "stack_measured_on": emulated.core.description if emulated else None},
        "flash": {"bytes": flash, "constant_bytes": engine.constant_bytes,
                  "measured_on": f"{emulated.core.description}, {emulated.compiler} -O2" if emulated else None},
        "instructions_per_inference": emulated.instructions if emulated else None,
        "emulated": {"core": emulated.core.name, "board": emulated.core.board, "images": EMULATED_IMAGES}
        if emulated else {"not_measured": why_not},
    }
    outcome.lines += _summary(outcome, engine, identical, len(x), emulated, why_not, tflm_arena_bytes, len(data))
    return outcome


def engine_compiler(outcome: EngineOutcome) -> str:
    return outcome.result.backend.removeprefix("C engine (").removesuffix(")")


def list_engine(models: Path, manifest, outcome: Optional[EngineOutcome], tflm: Artifact, name: str) -> list:
    """Lists the engine beside the TFLM artifact `tflm` in `manifest` (not written to disk
    here), or, when it was not written this time, drops the engine an earlier run wrote for
    the model this one replaces, with its files. Returns what to print."""
    paths = engine_files(name)
    if outcome is not None and outcome.passed:
        manifest.put(outcome.artifact(tflm))
        return []
    stale = manifest.find(paths["source"])
    manifest.artifacts = [a for a in manifest.artifacts if a.path != paths["source"]]
    if outcome is not None and outcome.result is not None:
        manifest.reject(paths["source"], "int8", "; ".join(outcome.result.failures))
    elif outcome is not None and outcome.refused:
        manifest.reject(paths["source"], "int8", f"not generated: {outcome.refused}")
    removed = [p for p in paths.values() if (models / p).is_file()]
    for path in removed:
        (models / path).unlink()
    if stale is not None or removed:
        return [f"Removed the C engine an earlier run wrote ({', '.join(removed) or 'its manifest entry'}): this run did not "
                "write one for the model it wrote"]
    return []


def _emulated(engine, x: np.ndarray, expected: np.ndarray):
    """(Emulated on EMULATED_CORE, None), or (None, why not) when the toolchain is missing."""
    from .c_engine import cortex_m

    try:
        return cortex_m.emulate(engine, x, EMULATED_CORE), ""
    except cortex_m.ToolchainMissing as err:
        return None, str(err)
    except RuntimeError as err:  # e.g. weights beyond the emulated board's 4 MiB of flash
        return None, f"the emulated {cortex_m.CORES[EMULATED_CORE].description} did not run it: {one_line(err)}"


def _summary(outcome, engine, identical, images, emulated, why_not, tflm_arena, model_bytes) -> list:
    record = outcome.record
    paths = engine_files(outcome.name)
    lines = [f"  C engine: {paths['source']} and .h ({', '.join(engine.ops)}): its int8 outputs equal TFLite Micro's "
             f"on {identical} of {images} {plural(images, 'image')} (compiled here with {engine_compiler(outcome)})"]
    ram = record["ram"]
    stack = f" + stack {ram['stack_bytes']:,}" if emulated else " (+ the stack, not measured)"
    lines.append(f"  C engine RAM: {ram['bytes']:,} bytes = plan {ram['plan_bytes']:,} (the input tensor included){stack} "
                 f"+ output {ram['output_bytes']:,}; TFLite Micro's arena: {tflm_arena:,} bytes measured (without "
                 "TFLM's own stack)")
    if emulated:
        lines.append(f"  C engine on an emulated {emulated.core.description}: flash {emulated.engine.flash:,} bytes "
                     f"(code, weights and constants; TFLM's model array alone: {model_bytes:,}), "
                     f"{emulated.instructions:,} instructions per inference (QEMU -icount), outputs equal to this "
                     f"machine's on {EMULATED_IMAGES} {plural(EMULATED_IMAGES, 'image')}")
    else:
        lines.append(f"  C engine: flash, stack and instructions not measured: {why_not}")
    return lines
