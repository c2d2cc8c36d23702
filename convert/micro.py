"""`python -m convert micro`: the trained model for a microcontroller, with TFLite Micro (TFLM).

A batch-1 .tflite (a fixed batch leaves only the model's own ops), checked on TFLM's own
interpreter like every artifact, and the three files a firmware needs, in DIR/micro/:
the model as a 16-byte-aligned C array (.cc and .h), and a header that registers exactly
the ops the model uses. The tensor arena is measured, not guessed: the smallest arena with
which TFLM's interpreter allocates and runs the model, from what TFLM's recording allocator
reports, confirmed by a short bisection, each size tried in a child process (a tiny arena
crashes TFLM), plus a stated margin for 32-bit boards.

A model TFLM cannot run (dynamic-range or float16 quantization, an op TFLM lacks) is
refused with one line naming the type or op, before any file is written."""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from runtime.contract import InputContract
from runtime.errors import BackendUnavailableError, ManifestError
from runtime.store.folder import ModelsFolder
from runtime.store.layout import MICRO_FOLDER, micro_files
from runtime.store.manifest import Artifact, MicroRecord, tool_versions
from runtime.verdict import Limits

from .boards import board_fits, fit_sentence
from .conversion import ConversionError, calibration_record, check_inputs
from .keras_file import load_keras
from .tflite_export import tflite_bytes
from .verify import Candidate, verify, withdraw

MICRO_PRECISIONS = ("int8", "float32", "float16", "dynamic")
"""What `--quantize` accepts; TFLM runs int8 and float32 and refuses the others (no kernels)."""
ARENA_MARGIN = 0.25
"""Added to the arena measured here, for 32-bit boards. The measurement runs TFLM's reference
kernels with 64-bit pointers; a 32-bit board's bookkeeping is smaller, but its optimized kernels
(CMSIS-NN on Cortex-M, ESP-NN on ESP32) may request scratch or persistent buffers that the
reference kernels do not, and an arena not aligned to 16 bytes loses up to 15."""
ARENA_ALIGNMENT = 16
GENEROUS_ARENA_PER_MODEL_BYTE = 10
"""The first try: TFLM's Python default (10 bytes per model byte), at least 64 KiB. A model that
fails with it fails for a reason other than the arena."""
CONFIRM_WINDOW = 64
"""Bytes below the size TFLM's recording allocator reports that are bisected to confirm it
(TFLM aligns its allocations to 16 bytes, so the smallest arena is within a few of them)."""
BYTES_PER_LINE = 12


class MicroRefusal(ConversionError):
    """TFLite Micro cannot run this model: the message names the type or op."""


@dataclass
class MicroOptions:
    """What `python -m convert micro` was asked to do."""

    models: str = "models"
    precision: str = "int8"
    """int8 (full-integer) or float32; float16 and dynamic are refused, with the reason."""
    calibration_samples: Optional[int] = None
    """How many training images calibrate int8 activations; None: as `convert` (conversion.check_inputs)."""
    per_channel: bool = True
    limits: Limits = field(default_factory=Limits)
    """What the batch-1 model must meet on TFLM, against the float Keras model (as every artifact)."""
    engine: bool = True
    """Also write the C engine (convert/micro_engine.py): plain C99, no interpreter, TFLM's bytes."""
    npu: Optional[str] = None
    """Also compile for this Arm Ethos-U NPU with Vela (convert/npu.py), e.g. ethos-u55-128."""
    fallback: bool = True
    """When int8 is not verified on TFLM, try the measured fixes that keep every op integer (the
    other granularity, 16x8), judged on TFLite Micro (convert/fixes.py); False: --plain-int8."""


@dataclass(frozen=True)
class ArenaSize:
    """The tensor arena: measured, then the margin."""

    measured: int
    """Smallest arena (bytes) with which TFLM's interpreter allocated and ran the model here."""
    bytes: int
    """measured + ARENA_MARGIN, rounded up to ARENA_ALIGNMENT: what the firmware should reserve."""
    probes: int
    """Child processes run to find `measured`."""
    reported: Optional[int] = None
    """What TFLM's recording allocator reported in use with a generous arena."""

    def to_json(self) -> dict:
        return {"measured_bytes": self.measured, "margin": ARENA_MARGIN, "bytes": self.bytes,
                "measured_with": "TFLite Micro's Python interpreter on x86_64 (reference kernels, 64-bit pointers)",
                "probes": self.probes, "allocator_reported_bytes": self.reported}


@dataclass
class MicroReport:
    """One `convert micro` run: the artifact's parity and what a firmware needs."""

    reference: object
    results: list = field(default_factory=list)
    """ParityResult of the batch-1 model on TFLM (one, or none when refused before running), then
    the C engine's when it was generated."""
    entry: Optional[Artifact] = None
    """The manifest entry written, when the model passed."""

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def model_ops(data: bytes) -> list:
    """The builtin op names a .tflite uses (custom ops as CUSTOM:<name>), sorted, read from the
    flatbuffer (not from LiteRT, whose XNNPACK delegate replaces them with one DELEGATE op)."""
    schema = _schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(data, 0)
    used = set()
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            code = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = names.get(builtin, f"BUILTIN_{builtin}")
            used.add(f"CUSTOM:{code.CustomCode().decode()}" if name == "CUSTOM" and code.CustomCode() else name)
    return sorted(used)


def _schema():
    """The TFLite flatbuffer schema as TFLM's own package ships it."""
    try:
        from tflite_micro.python.tflite_micro import runtime as tflm_runtime
    except ImportError as err:
        raise BackendUnavailableError(
            f"python -m convert micro needs TFLite Micro's interpreter: pip install tflite-micro (x86_64 Linux only) ({err})"
        ) from err
    return tflm_runtime.schema_fb


def check_quantization(name: str, data: bytes) -> None:
    """Refuses quantization types TFLM has no kernels for, naming the op and the types.

    Dynamic range: an op takes float32 activations with int8 constant weights (TFLM has no
    hybrid kernels). float16: float16 weights, which TFLM's DEQUANTIZE does not take."""
    schema = _schema()
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(data, 0)
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            op_name = ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
            inputs = [graph.Tensors(op.Inputs(j)) for j in range(op.InputsLength()) if op.Inputs(j) >= 0]
            constant = [model.Buffers(t.Buffer()).DataLength() > 0 for t in inputs]
            kinds = [types.get(t.Type(), "?") for t in inputs]
            if "FLOAT16" in kinds:
                raise MicroRefusal(
                    f"{name}: TFLite Micro cannot run float16 quantization: {op_name} takes a FLOAT16 tensor, and TFLM's "
                    "kernels take int8, int16, uint8 or float32 (use --quantize int8)")
            variable_float = any(k == "FLOAT32" and not c for k, c in zip(kinds, constant))
            constant_int = [k for k, c in zip(kinds, constant) if c and k in ("INT8", "UINT8", "INT4")]
            if variable_float and constant_int:
                raise MicroRefusal(
                    f"{name}: TFLite Micro cannot run dynamic-range quantization: {op_name} takes FLOAT32 activations with "
                    f"{constant_int[0]} weights, and TFLM has no hybrid kernels (use --quantize int8)")


def measure_arena(path, model_bytes: int, log=None) -> ArenaSize:
    """The smallest arena with which TFLM allocates and runs `path`, refusing the model
    (MicroRefusal) if even a generous arena does not run it.

    TFLM's recording allocator reports what the model allocated in a generous arena. That
    size is tried: if it runs, the CONFIRM_WINDOW bytes below it are bisected to the byte;
    if not (the report leaves out a few hundred bytes on some models), sizes above it are
    tried, the window growing fourfold, and the last gap bisected. A few child processes,
    seconds; only a report that is far off costs more."""
    from runtime.backends.tflm import probe_arena

    generous = max(64 * 1024, GENEROUS_ARENA_PER_MODEL_BYTE * model_bytes)
    first = probe_arena(path, generous)
    probes = 1
    if not first.runs:
        raise MicroRefusal(refusal_text(first.detail))

    def runs(size: int) -> bool:
        nonlocal probes
        probes += 1
        return probe_arena(path, size).runs

    reported = first.allocated_bytes
    low, high = 0, generous
    if reported and reported < generous:
        if runs(reported):
            high, low = reported, max(0, reported - CONFIRM_WINDOW)
            if low and runs(low):
                high, low = low, 0  # the report overstates: search all the way down
        else:
            low, step = reported, CONFIRM_WINDOW
            while low + step < generous and not runs(low + step):
                low, step = low + step, step * 4
            high = min(low + step, generous)
    while high - low > 1:
        middle = (low + high) // 2
        probes += 1
        if probe_arena(path, middle).runs:
            high = middle
        else:
            low = middle
    final = math.ceil(high * (1 + ARENA_MARGIN) / ARENA_ALIGNMENT) * ARENA_ALIGNMENT
    probes += 1
    check = probe_arena(path, final)
    if not check.runs:  # larger than a size that ran: TFLM's allocation would not be monotonic
        raise ConversionError(f"{path}: ran with a {high}-byte arena but not with {final} bytes ({check.detail})")
    return ArenaSize(high, final, probes, first.allocated_bytes)


def refusal_text(detail: str) -> str:
    """TFLM's reason, without the temporary file's name and the arena size (not the point);
    an op TFLM lacks is named first."""
    reason = re.sub(r"^\S*?\.tmp\.tflite: TFLite Micro cannot run it with a \d+-byte arena: ", "", detail)
    missing = re.search(r"Didn't find op for builtin opcode '(\w+)'", reason)
    if missing:
        said = re.sub(r"^TFLM failed to allocate tensors \((.*)\)$", r"\1", reason)
        return f"no kernel for the op {missing.group(1)}, which the model uses (TFLM: {said})"
    failed = re.search(r"Node (\w+) \(number (\d+)f?\) failed to (prepare|invoke)", reason)
    if failed:
        return f"its {failed.group(1)} kernel cannot {failed.group(3)} op {failed.group(2)} of the model (TFLM: {reason})"
    return reason


def resolver_method(op: str) -> str:
    """The MicroMutableOpResolver method that registers `op`, by TFLM's own generator's rule
    (tensorflow/lite/micro/tools/gen_micro_mutable_op_resolver): CONV_2D -> AddConv2D."""
    if op.startswith("CUSTOM:"):
        raise MicroRefusal(f"custom op {op[7:]}: TFLite Micro registers custom ops with AddCustom and your own kernel; "
                           "this model needs one that this tool cannot generate")
    words = re.split(r"[_-]", op.replace("TFLite", ""))
    name = "".join(w[0].upper() + w[1:].lower() if len(w) > 1 and w[0].isalpha() else w.upper() for w in words)
    return "Add" + name.replace("Lstm", "LSTM").replace("BatchMatmul", "BatchMatMul")


def c_identifier(name: str) -> str:
    """A C++ identifier from an artifact name (runtime.store.layout.check_model_name has refused
    what cannot name a file): mnist_mlp_int8 stays as it is, any other character becomes _."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return ident if re.match(r"[A-Za-z_]", ident) else f"model_{ident}"


def model_data_source(ident: str, header_name: str, data: bytes, origin: str) -> str:
    """<ident>_model_data.cc: the model bytes as an aligned array TFLM reads in place."""
    rows = []
    for i in range(0, len(data), BYTES_PER_LINE):
        rows.append("    " + ", ".join(f"0x{b:02x}" for b in data[i : i + BYTES_PER_LINE]) + ",")
    return (
        f"// Generated by `python -m convert micro` from {origin}; do not edit, run it again.\n"
        f'#include "{header_name}"\n\n'
        f"alignas(16) const unsigned char {ident}_model_data[{ident}_model_data_len] = {{\n"
        + "\n".join(rows) + "\n};\n"
    )


def model_data_header(ident: str, data_len: int, arena: ArenaSize, origin: str, model_info: str) -> str:
    guard = ident.upper() + "_MODEL_DATA_H_"
    return f"""// Generated by `python -m convert micro` from {origin}; do not edit, run it again.
#ifndef {guard}
#define {guard}

#include <cstddef>

{model_info}

// The model, {data_len} bytes of flash. TFLite Micro reads it in place, so the array is
// 16-byte aligned (an unaligned model array hard-faults some boards: tflite-micro#418).
constexpr std::size_t {ident}_model_data_len = {data_len};
alignas(16) extern const unsigned char {ident}_model_data[{ident}_model_data_len];

// The tensor arena, in bytes of RAM. {arena.measured} bytes is the smallest arena with which
// TFLite Micro's interpreter allocated and ran this model, measured on x86_64 (reference
// kernels, 64-bit pointers); {ARENA_MARGIN:.0%} is added for 32-bit boards, whose optimized
// kernels (CMSIS-NN, ESP-NN) may ask for scratch buffers, rounded up to 16 bytes.
// Declare the arena alignas(16).
constexpr std::size_t {ident}_arena_bytes = {arena.bytes};

#endif  // {guard}
"""


def ops_header(ident: str, ops: list, origin: str) -> str:
    guard = ident.upper() + "_OPS_H_"
    calls = "\n".join(f"  if (resolver.{resolver_method(op)}() != kTfLiteOk) return kTfLiteError;" for op in ops)
    return f"""// Generated by `python -m convert micro` from {origin}; do not edit, run it again.
#ifndef {guard}
#define {guard}

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

// The {len(ops)} operators the model uses, and no others: each registered operator links its
// kernel into the firmware. ({", ".join(ops)})
constexpr unsigned int {ident}_op_count = {len(ops)};
using {ident}_op_resolver = tflite::MicroMutableOpResolver<{ident}_op_count>;

// Registers them; returns kTfLiteError if one cannot be registered.
inline TfLiteStatus {ident}_register_ops({ident}_op_resolver& resolver) {{
{calls}
  return kTfLiteOk;
}}

#endif  // {guard}
"""


def _describe_tensors(info_in, info_out, contract: InputContract) -> str:
    polarity = f" ({contract.polarity})" if contract.preprocessing == "mnist-digit" else ""
    return (f"// Input {info_in.describe()}:\n//   x = {contract.formula()}{polarity}"
            + (", q = round(x / scale) + zero point" if info_in.quantized else "")
            + f".\n// Output {info_out.describe()}"
            + (":\n//   probability = scale * (q - zero point)." if info_out.quantized else ": probabilities."))


def convert_micro(options: MicroOptions, log=print) -> MicroReport:
    """Builds, checks and lists the micro artifact; holds the models folder's lock throughout."""
    if options.precision not in MICRO_PRECISIONS:
        raise ValueError(f"precision: got {options.precision!r}, expected one of {', '.join(MICRO_PRECISIONS)}")
    if options.npu:
        from .npu import check_vela

        check_vela()  # before the work: says what to install
    try:
        with ModelsFolder.writing(options.models) as folder:
            return _convert_micro(folder, options, log)
    except (ManifestError, BackendUnavailableError) as err:
        raise ConversionError(str(err)) from err


def _convert_micro(folder: ModelsFolder, options: MicroOptions, log) -> MicroReport:
    from runtime.backends.interpreters import import_backend
    from runtime.backends.tflm import TFLMBackend
    from runtime.evaluate.micro_checks import check_against_litert
    from runtime.model import Model

    started = time.perf_counter()
    tflite_micro = import_backend("tflite-micro")  # before the work: says what to install
    inputs, samples = check_inputs(folder, options.calibration_samples, needs_calibration=options.precision == "int8")
    keras_model = load_keras(inputs.keras_path)
    manifest = folder.manifest
    contract = manifest.keras.contract
    calibration = inputs.calibration(contract, samples)
    name = f"{manifest.model}_{options.precision}"
    ident = c_identifier(name)
    model_name = f"{name}_micro.tflite"
    files = micro_files(name)
    report = MicroReport(inputs.reference)

    log(f"Converting {folder.file(model_name)} (tflite-micro, {options.precision}, batch 1) ...", flush=True)
    plain = tflite_bytes(keras_model, options.precision, calibration, options.per_channel, batch_size=1)
    made = []
    """(bytes, what was measured of them) of each candidate made: plain int8, and a fix."""

    def candidate(data: bytes, label: str = "") -> Candidate:
        """The batch-1 file `data` as a candidate: its own ops, arena, C++ files and entry."""
        check_quantization(model_name, data)
        ops = model_ops(data)
        for op in ops:
            resolver_method(op)  # refuses custom ops before anything is written
        log(f"  ops{label}: {', '.join(ops)}", flush=True)
        measured = {}
        """The arena measured for the written file, and TFLM's outputs against LiteRT's."""

        def open_on_tflm(tmp: Path):
            try:
                arena = measure_arena(tmp, len(data))
            except MicroRefusal as err:
                raise MicroRefusal(f"{model_name}: TFLite Micro cannot run it: {err}") from err
            log(f"  arena: {arena.measured} bytes measured (the smallest that allocates and runs; TFLM's recording "
                f"allocator reported {arena.reported}, confirmed with {arena.probes} child processes), "
                f"+{ARENA_MARGIN:.0%} for 32-bit boards -> {arena.bytes} bytes", flush=True)
            log(f"  boards: {fit_sentence(board_fits(len(data), arena.bytes))}", flush=True)
            measured["arena"] = arena
            backend = TFLMBackend(tmp, tflite_micro, arena.bytes)  # measure_arena ran this size in a child
            return Model(tmp, backend, contract, manifest.labels, contract_source="from the manifest")

        def compare_with_litert(tmp: Path, model, result) -> None:
            measured["litert"] = check_against_litert(model, inputs.reference.images, result)

        def describe(entry: Artifact, model, result) -> None:
            arena, same = measured["arena"], measured.get("litert")
            entry.micro = MicroRecord(model=model_name, source=files["source"], header=files["header"],
                                      ops_header=files["ops_header"], arena_bytes=arena.bytes, ops=ops,
                                      flash_bytes=len(data), batch_size=1, arena=arena.to_json())
            if same is not None:
                entry.metrics.litert_comparison = {"kernels": same.kernels, "images": same.images,
                                                   "differing": same.differing, "max_steps": same.max_steps}
            npu = _npu(options, ident, model.path)  # the verified file, before it is renamed into place
            if npu is not None:
                measured["npu"] = npu
                entry.extra["npu"] = npu[0].to_json()

        def sources(model, result) -> dict:  # after describe (verify's order): Vela's model with the C++ files
            arena, npu = measured["arena"], measured.get("npu")
            return {
                files["source"]: model_data_source(ident, Path(files["header"]).name, data, model_name),
                files["header"]: model_data_header(ident, len(data), arena, model_name,
                                                   _describe_tensors(model.input, model.output, contract)),
                files["ops_header"]: ops_header(ident, ops, model_name),
                **({npu[0].file: npu[1]} if npu is not None else {}),
            }

        made.append((data, measured))
        return Candidate(
            name=model_name, format="tflite-micro", precision=options.precision, write=lambda tmp: tmp.write_bytes(data),
            open=open_on_tflm, checks=(compare_with_litert,),
            calibration=calibration_record(samples, options.per_channel) if options.precision == "int8" else None,
            tools=tool_versions("tensorflow", "keras", "tflite-micro", "ai-edge-litert", "numpy"),
            companions=sources, describe=describe, errors_reject=False)

    first = candidate(plain)
    fallback = None
    if options.fallback and options.precision == "int8":
        from .fixes import tflite_int8_fix

        fallback = tflite_int8_fix(keras_model, calibration, inputs.reference, options.limits, first, log,
                                   options.per_channel, micro=True, rebuild=lambda data: candidate(data, " of the fix"))
    verified = verify(first, folder, options.limits, fallback=fallback, log=log, started=started)
    report.results.append(verified.result)
    if not verified.committed:
        return report
    report.entry = verified.entry
    data, measured = next((d, m) for d, m in made if hashlib.sha256(d).hexdigest() == verified.entry.sha256)
    npu = measured["npu"][0] if "npu" in measured else None
    stale = [f"{MICRO_FOLDER}/{p.name}" for p in sorted(folder.file(MICRO_FOLDER).glob(f"{ident}_vela_*.tflite"))]
    withdraw(folder, None, [f for f in stale if npu is None or f != npu.file])  # Vela's, of the model replaced
    engine = _c_engine(folder, options, name, model_name, data, verified, measured["arena"], log)
    if engine is not None and engine.result is not None:
        report.results.append(engine.result)
    for line in npu.lines() if npu is not None else []:
        log(line)
    written = list(files.values()) + (engine.files if engine is not None else []) + ([npu.file] if npu else [])
    log(f"Wrote {folder.file(model_name)}, {', '.join(str(folder.file(f)) for f in written)}")
    return report


def _c_engine(folder: ModelsFolder, options: MicroOptions, name, model_name, data, verified, arena, log):
    """The C engine beside the TFLM files (None with --engine none, when an engine an earlier run
    wrote is withdrawn)."""
    from .c_engine import engine_name
    from .micro_engine import EngineOutcome, withdraw_engine, write_engine

    if not options.engine:
        withdraw_engine(folder, engine_name(name), log)
        return None
    if options.precision != "int8":
        log(f"  C engine: not written: it runs int8 models, this one is {options.precision} (--quantize int8)")
        withdraw_engine(folder, engine_name(name), log, "not generated: it runs int8 models")
        return EngineOutcome(engine_name(name), refused="it runs int8 models")
    return write_engine(folder, engine_name(name), model_name, data, verified, options.limits, arena.measured, log)


def _npu(options: MicroOptions, ident: str, model: Path):
    """(Vela's report, its compiled model's bytes) for options.npu; None without --npu."""
    if not options.npu:
        return None
    from .npu import compile_for_npu

    file = f"{MICRO_FOLDER}/{ident}_vela_{options.npu.replace('-', '_')}.tflite"
    with tempfile.TemporaryDirectory(prefix="vela-") as scratch:
        output = Path(scratch) / "model_vela.tflite"
        report = compile_for_npu(model, options.npu, output, file)
        return report, output.read_bytes()
