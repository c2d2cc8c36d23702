"""The C engine beside `convert micro`'s TFLite Micro files (convert/c_engine): generated from
the batch-1 model TFLM has just verified, compiled here and run on every reference image
(its int8 outputs must equal TFLM's), measured on an emulated Cortex-M4F when Debian's cross
toolchain is installed, then verified and listed like every artifact (convert/verify.py),
as format "c".

A model with an op the engine does not run is refused in one line; TFLM's files are
written all the same. convert/micro.py calls write_engine() once verify() has committed the
TFLM model; whenever this run lists no engine, the one an earlier run wrote for the model it
replaced is withdrawn."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from runtime.errors import one_line
from runtime.evaluate.parity import ParityResult
from runtime.store.folder import ModelsFolder
from runtime.store.layout import MICRO_FOLDER
from runtime.tables import plural

from .verify import Candidate, Verified, verify, withdraw

ENGINE_FORMAT = "c"
EMULATED_CORE = "cortex-m4f"
EMULATED_IMAGES = 3
"""Reference images run on the emulated core for the summary's figures (the tests run 100 and more)."""


def engine_files(name: str) -> dict:
    """The engine's files for the engine name `name`, relative to the models folder."""
    return {"source": f"{MICRO_FOLDER}/{name}.c", "header": f"{MICRO_FOLDER}/{name}.h"}


class HostBackend:
    """The engine compiled here with warnings as errors (runtime.backends.c_engine.EngineLibrary),
    behind the shape of the runtime's backends (`inputs`, `outputs`, `run`), its tensors those of
    the TFLM model it reproduces; named as the runtime's `c` backend names itself."""

    def __init__(self, library, like):
        self.name, self.version = "c", library.compiler.version
        self.inputs, self.outputs = like.inputs, like.outputs
        self._library = library

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._library.run(x).reshape((len(x),) + tuple(self.outputs[0].shape[1:]))


@dataclass
class EngineOutcome:
    """What `convert micro` made of the C engine for one model."""

    name: str
    result: Optional[ParityResult] = None
    """Its check against Keras and TFLM: a row of the summary (None when it was not generated)."""
    committed: bool = False
    """Verified and listed, its files written."""
    refused: str = ""
    """Why it was not generated (one line), or ''."""
    record: dict = field(default_factory=dict)
    """The manifest entry's engine fields."""

    @property
    def files(self) -> list:
        """The files written, relative to the models folder."""
        return list(engine_files(self.name).values()) if self.committed else []


def write_engine(folder: ModelsFolder, name: str, model_name: str, data: bytes, tflm: Verified, limits,
                 tflm_arena_bytes: int, log=print) -> EngineOutcome:
    """Generates and compiles the engine of the TFLM-verified `data` (the file `model_name`;
    `tflm` is what verify() did with it), its identifiers prefixed with `name`, and verifies it
    in `folder` (whose writer's lock the caller holds): judged against Keras, and its outputs
    must be TFLM's to the bit (`tflm.probs`). Refused in one line when it cannot be generated."""
    from runtime.backends.c_compiler import CompileError, CompilerMissingError
    from runtime.backends.c_engine import EngineLibrary
    from runtime.model import Model

    from .c_engine import EngineError, generate

    outcome = EngineOutcome(name)
    tflm_model, tflm_entry = tflm.model, tflm.entry
    try:
        contract = tflm_model.contract
        polarity = f" ({contract.polarity})" if contract.preprocessing == "mnist-digit" else ""
        engine = generate(data, name, model_name, f"value = {contract.formula()}{polarity}")
        backend = HostBackend(EngineLibrary(engine.source, engine.header, name), tflm_model.backend)
    except (EngineError, CompileError, CompilerMissingError) as err:
        outcome.refused = one_line(err)
        log(f"  C engine: not written: {outcome.refused} (the TFLite Micro files are)")
        withdraw_engine(folder, name, log, f"not generated: {outcome.refused}")
        return outcome
    paths = engine_files(name)

    def check_against_tflm(tmp, model, result: ParityResult) -> None:
        """Its outputs against TFLM's on every reference image, and on the emulated core."""
        x = model.pixels_to_input(model.contract.check_shape(folder.reference().images))
        outputs = backend.run(x)
        probs = model.predict(folder.reference().images)
        identical = int(np.count_nonzero((probs == tflm.probs).all(axis=1)))
        emulated, why_not = _emulated(engine, x[:EMULATED_IMAGES], outputs[:EMULATED_IMAGES])
        flash = emulated.engine.flash if emulated else engine.constant_bytes
        result.bytes = flash  # the summary's size: what a board's flash holds, not the C source's text
        if identical != len(x):
            result.failures.append(f"its outputs differ from TFLite Micro's on {len(x) - identical} of {len(x)} "
                                   f"{plural(len(x), 'image')}: the engine reproduces TFLM's arithmetic, so this is a "
                                   "bug of the engine (please report it with the model)")
        if emulated is not None and not np.array_equal(emulated.outputs.reshape(outputs[:EMULATED_IMAGES].shape),
                                                       outputs[:EMULATED_IMAGES]):
            result.failures.append(f"on the emulated {emulated.core.description} its outputs differ from this machine's")
        stack = emulated.stack_bytes if emulated else None
        ram = engine.arena_bytes + (stack or 0) + engine.output.bytes  # the plan holds the input tensor
        outcome.record = {
            "name": name, "ops": list(engine.ops),
            "identical_to_tflite_micro": {"images": len(x), "identical": identical},
            "ram": {"bytes": ram, "plan_bytes": engine.arena_bytes, "stack_bytes": stack,
                    "output_bytes": engine.output.bytes, "input_bytes_in_plan": engine.input.bytes,
                    "tflite_micro_arena_bytes": tflm_arena_bytes,
                    "stack_measured_on": emulated.core.description if emulated else None},
            "flash": {"bytes": flash, "constant_bytes": engine.constant_bytes,
                      "measured_on": f"{emulated.core.description}, {emulated.compiler} -O2" if emulated else None},
            "instructions_per_inference": emulated.instructions if emulated else None,
            "emulated": {"core": emulated.core.name, "board": emulated.core.board, "images": EMULATED_IMAGES}
            if emulated else {"not_measured": why_not},
        }
        for line in _summary(outcome, engine, backend.version, identical, len(x), emulated, why_not,
                             tflm_arena_bytes, len(data)):
            log(line)

    def describe(entry, model, result) -> None:
        entry.extra = dict(outcome.record, source=paths["source"], header=paths["header"],
                           header_sha256=hashlib.sha256(engine.header.encode()).hexdigest(), model=tflm_entry.path,
                           model_sha256=tflm_entry.sha256)

    candidate = Candidate(
        name=paths["source"], format=ENGINE_FORMAT, precision="int8", write=lambda tmp: tmp.write_text(engine.source),
        open=lambda tmp: Model(folder.file(model_name), backend, tflm_model.contract, tflm_model.labels,
                               contract_source="from the manifest"),
        checks=(check_against_tflm,), calibration=tflm_entry.calibration, tools=dict(tflm_entry.tools),
        companions=lambda model, result: {paths["header"]: engine.header}, describe=describe)
    verified = verify(candidate, folder, limits, log=log)
    outcome.result, outcome.committed = verified.result, verified.committed
    if not outcome.committed:  # rejected (verify recorded why): the engine of the model replaced goes
        withdraw_engine(folder, name, log)
    return outcome


def withdraw_engine(folder: ModelsFolder, name: str, log=print, reason: str = "") -> None:
    """The engine an earlier run wrote, for the model this run replaced (its entry and files),
    withdrawn: this run wrote none. With `reason`, the manifest records why."""
    paths = engine_files(name)
    listed = folder.entry(paths["source"]) is not None
    removed = withdraw(folder, paths["source"], list(paths.values()), "int8", reason)
    if listed or removed:
        log(f"Removed the C engine an earlier run wrote ({', '.join(removed) or 'its manifest entry'}): this run did "
            "not write one for the model it wrote")


def _emulated(engine, x: np.ndarray, expected: np.ndarray):
    """(Emulated on EMULATED_CORE, None), or (None, why not) when the toolchain is missing."""
    from .c_engine import cortex_m

    try:
        return cortex_m.emulate(engine, x, EMULATED_CORE), ""
    except cortex_m.ToolchainMissing as err:
        return None, str(err)
    except RuntimeError as err:  # e.g. weights beyond the emulated board's 4 MiB of flash
        return None, f"the emulated {cortex_m.CORES[EMULATED_CORE].description} did not run it: {one_line(err)}"


def _summary(outcome, engine, compiler, identical, images, emulated, why_not, tflm_arena, model_bytes) -> list:
    record = outcome.record
    paths = engine_files(outcome.name)
    lines = [f"  C engine: {paths['source']} and .h ({', '.join(engine.ops)}): its int8 outputs equal TFLite Micro's "
             f"on {identical} of {images} {plural(images, 'image')} (compiled here with {compiler})"]
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
