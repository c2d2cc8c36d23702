"""Benchmarks of every artifact on every installed backend, each measured in a child
process of its own (so its peak memory is its own), next to the bare interpreter doing
the same work: LiteRT / tflite-runtime `set_tensor` + `invoke` + `get_tensor`, onnxruntime
`run`, or a C engine's NAME_predict through ctypes, on input already in the model's type.

Made to run on a Raspberry Pi: the largest batch is bounded by memory (measured per image
on the model itself, unless --batch-size says), the latency samples by a time budget, and
an artifact that cannot be measured is skipped with its reason while the others are.

Run as `python -m runtime.apps.bench PATH BACKEND THREADS RUNS MODELS BATCH` in the child
(RUNS and BATCH 0: chosen as above); prints one line of JSON."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..backends.child import ChildTimeoutError, answer, child_env, run_module, signal_name
from ..evaluate.timing import Measured, Timings, paired_timings
from ..store.bundles import load_reference
from ..store.folder import ModelsFolder
from ..tables import format_size, text_table
from .start import SETUP_ERRORS, fail

BATCH_SIZES = (1, 32, 1000)
"""The batch sizes measured when memory allows (a Keras row measures these too)."""
PROBE_BATCH = 32
"""The batch whose memory, against batch 1's, gives the memory an image takes."""
MEMORY_BUDGET_MIB = 768
"""The largest batch's tensors, the runtime's and the bare interpreter's together, stay within
this: with the interpreters and the images, a child stays under 1.5 GB (on the zoo of
docs/runtime.md, at most ~1.0 GB), less than a Pi 4 or 5 with 2 GB can spare."""
IMPLEMENTATIONS = 2
"""A child holds the runtime's Model and the bare interpreter, each with its own tensors for the largest batch."""
CHILD_TIMEOUT_S = 900
STARTUP_REPEATS = 5
TARGETS = {"one_image": 2.0, "batch_1000": 0.9, "startup": 2.0}
"""The runtime against the bare interpreter: one image at most 2x its time, the largest
batch at least 0.9x its throughput; `predict` as a whole process at most 2x the time and
memory of importing numpy and the interpreter."""


@dataclass
class BenchRow:
    """One artifact on one backend, measured two ways (the runtime, then the bare interpreter)."""

    artifact: str
    precision: str
    backend: str
    bytes: int
    timings: dict
    """Who was measured -> Timings: "runtime" and "bare" (a Keras row: "model.predict", "model(x)")."""
    peak_rss_mib: float
    """Peak resident memory of the process that measured them."""
    batch_sizes: list = field(default_factory=lambda: list(BATCH_SIZES))
    """The batch sizes measured, the largest chosen by memory or --batch-size."""
    image_mib: Optional[float] = None
    """Memory one more image in a batch took in the runtime's Model (batch PROBE_BATCH, run twice, against batch 1), measured."""
    batch_note: Optional[str] = None
    """Why the largest batch is smaller than --batch-size asked (it would not fit MEMORY_BUDGET_MIB)."""

    @classmethod
    def from_json(cls, data: dict) -> "BenchRow":
        data = dict(data)
        data["timings"] = {who: Timings(**t) for who, t in data["timings"].items()}
        return cls(**data)

    def to_json(self) -> dict:
        return dict(asdict(self), timings={who: asdict(t) for who, t in self.timings.items()})


@dataclass
class BenchReport:
    machine: dict
    rows: list = field(default_factory=list)
    startup: Optional[dict] = None
    """Whole-process wall time and peak memory of `predict` vs importing the interpreter."""
    skipped: list = field(default_factory=list)
    """{"artifact", "backend", "reason"} of each artifact that could not be measured."""
    doctor: str = ""
    """What `python -m runtime doctor` recommends on this device, in one line (runtime.doctor.recommendation)."""

    def to_json(self) -> dict:
        return {"machine": self.machine, "rows": [r.to_json() for r in self.rows], "startup": self.startup,
                "skipped": self.skipped, "doctor": self.doctor}


def _bare_tflite(module, path: str, threads, inputs, batch_sizes):
    """The interpreter alone: one for single images, and one for the batch being measured,
    opened (and resized) at its untimed first call, replacing the previous batch's."""
    def open_for(batch):
        interpreter = module.Interpreter(model_path=path, num_threads=threads)
        index = interpreter.get_input_details()[0]["index"]
        if batch != 1:
            interpreter.resize_tensor_input(index, [batch, *inputs.shape[1:]])
        interpreter.allocate_tensors()
        return interpreter, index, interpreter.get_output_details()[0]["index"]

    start = time.perf_counter()
    single = open_for(1)
    load_s = time.perf_counter() - start
    current = {}

    def call_for(batch):
        x = inputs[:batch]

        def call():
            if batch == 1:
                interpreter, index, output = single
            else:
                if batch not in current:
                    current.clear()  # the previous batch's tensors go before this one's are allocated
                    current[batch] = open_for(batch)
                interpreter, index, output = current[batch]
            interpreter.set_tensor(index, x)
            interpreter.invoke()
            return interpreter.get_tensor(output)

        return call

    return load_s, {b: call_for(b) for b in batch_sizes}


def _bare_onnx(module, path: str, threads, inputs, batch_sizes):
    from ..backends.onnx_runtime import onnx_session_options  # the runtime's options: both time the same graph

    start = time.perf_counter()
    session = module.InferenceSession(path, sess_options=onnx_session_options(module, threads), providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - start
    name = session.get_inputs()[0].name

    def call_for(batch):
        x = inputs[:batch]
        return lambda: session.run(None, {name: x})

    return load_s, {b: call_for(b) for b in batch_sizes}


def _bare_c(module, path: str, threads, inputs, batch_sizes):
    """The C engine alone: its NAME_predict through ctypes, one call per image (the library
    from the cache the runtime's load filled)."""
    from ..backends.c_engine import CBackend

    start = time.perf_counter()
    library = CBackend(path).library
    load_s = time.perf_counter() - start

    def call_for(batch):
        x = inputs[:batch]
        return lambda: library.run(x)

    return load_s, {b: call_for(b) for b in batch_sizes}


BARE = {"onnxruntime": _bare_onnx, "c": _bare_c}
"""The bare interpreter's calls for each backend that is not a TFLite one."""


def current_rss_mib() -> float:
    """This process's resident memory now (Linux's /proc; elsewhere its peak so far)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return peak_rss_mib()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_bounded_batch(image_mib: float, largest: int = max(BATCH_SIZES), budget_mib: float = MEMORY_BUDGET_MIB) -> int:
    """The largest batch up to `largest` (the default's 1000, or --batch-size) whose images take
    at most `budget_mib`, given the memory one image takes; never below PROBE_BATCH, which
    measured it."""
    if image_mib <= 0:
        return largest
    return int(max(min(PROBE_BATCH, largest), min(largest, budget_mib // image_mib)))


def batch_sizes_for(largest: int) -> list:
    """1, PROBE_BATCH and `largest`, each once, ascending."""
    return sorted({1, min(PROBE_BATCH, largest), largest})


def measure(path: str, backend: str, threads: Optional[int], runs: Optional[int], models_dir: str,
            batch_size: Optional[int] = None) -> dict:
    """Child side: the runtime's Model and the bare interpreter on the same file, timed in
    alternation (paired_timings); the peak memory is the two together.
    `batch_size` None: the largest batch is chosen by memory (memory_bounded_batch)."""

    from ..backends.interpreters import import_backend
    from ..model import load

    images = load_reference(models_dir).images
    module = import_backend(backend)
    bare_load = BARE.get(backend, _bare_tflite)
    load(path, backend=backend, num_threads=threads)  # one-time library set-up is nobody's load time
    start = time.perf_counter()
    model = load(path, backend=backend, num_threads=threads)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    model.predict(images[:1])
    first_s = time.perf_counter() - start
    probe = np.concatenate([images] * -(-PROBE_BATCH // len(images)))[:PROBE_BATCH]
    before = current_rss_mib()
    for _ in range(2):  # onnxruntime adds its memory pattern's block at a shape's second run, keeping the first's
        model.predict(probe)
    # what one image takes, measured, and at least what it holds by the tensors' sizes: its pixels, the model's
    # input twice as floats (the bare interpreter's copy, made here, and the graph's own: a uint8 input is cast)
    # and the output
    held = images[:1].nbytes + 2 * 4 * int(np.prod(model.input.shape[1:])) + 4 * len(model.labels)
    image_mib = max(current_rss_mib() - before, 0.0) / (PROBE_BATCH - 1)
    child_image_mib = IMPLEMENTATIONS * max(image_mib, held / 2**20)
    largest = memory_bounded_batch(child_image_mib, largest=batch_size or max(BATCH_SIZES))
    note = None
    if batch_size and largest < batch_size:
        note = (f"--batch-size {batch_size:,} would take about {batch_size * child_image_mib:,.0f} MiB on this model "
                f"(the runtime's and the bare interpreter's), more than the {MEMORY_BUDGET_MIB} MiB allowed: measured batch {largest:,}")
    sizes = batch_sizes_for(largest)
    if len(images) < largest:
        images = np.concatenate([images] * -(-largest // len(images)))
    images = images[:largest]
    ours = Measured(load_s, first_s, lambda: model.predict(images[:1]),
                    {b: (lambda b=b: model.predict(images[:b])) for b in sizes})
    precision = model.entry.precision if model.entry else "?"
    backend_name = f"{model.backend.name} {model.backend.version}"
    prepared = model.pixels_to_input(images)  # the bare interpreter's input, made outside its timing
    bare_load_s, calls = bare_load(module, path, threads, prepared, sizes)
    start = time.perf_counter()
    calls[1]()
    bare_first_s = time.perf_counter() - start
    runtime, bare = paired_timings(ours, Measured(bare_load_s, bare_first_s, calls[1], calls), runs)
    row = BenchRow(
        artifact=model.entry.path if model.entry else Path(path).name, precision=precision, backend=backend_name, bytes=Path(path).stat().st_size,
        timings={"runtime": runtime, "bare": bare}, peak_rss_mib=peak_rss_mib(), batch_sizes=sizes,
        image_mib=image_mib, batch_note=note,
    )
    return row.to_json()


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class BenchChildError(RuntimeError):
    """One artifact's benchmark child failed; the message is its reason, in one line."""


def _run_child(args: list, timeout: float = CHILD_TIMEOUT_S) -> dict:
    """One artifact measured by `python -m runtime.apps.bench ...` in a child (runtime/backends/child.py)."""
    try:
        child = run_module("runtime.apps.bench", args, timeout)
    except ChildTimeoutError as err:
        raise BenchChildError(f"not measured within {timeout:.0f} s") from err
    if child.signal:
        raise BenchChildError(f"the benchmark process was killed by {child.signal} (the interpreter crashed, "
                              "or the system ran out of memory)")
    reply = child.reply()
    if reply is not None and "error" in reply:
        raise BenchChildError(str(reply["error"]))
    if child.returncode != 0 or reply is None:
        raise BenchChildError(child.last_stderr_line(f"exit status {child.returncode}, no message"))
    return reply


def bench_models(models_dir, threads: Optional[int] = None, runs: Optional[int] = None, startup: bool = True, log=None,
                 batch_size: Optional[int] = None) -> BenchReport:
    """Every artifact of the manifest on every installed backend that runs it. `runs` None:
    latency samples by time budget; `batch_size` None: the largest batch bounded by memory.
    An artifact whose child fails is skipped (report.skipped says why); the others are measured."""
    from ..backends import available_backends
    from ..doctor import advise, inspect_device, recommendation
    from ..evaluate.platform_info import machine_record

    folder = ModelsFolder.open(models_dir)
    report = BenchReport(machine_record(), doctor=recommendation(advise(inspect_device())))
    for entry in folder.manifest.exported:
        if entry.format == "tflite-micro":  # a microcontroller's speed is not measured here (its C engine's is)
            continue
        path = folder.file(entry.path)
        backends = available_backends(path) if path.is_file() else []
        if not path.is_file():
            report.skipped.append({"artifact": entry.path, "backend": "", "reason": f"{path}: no such file, though the manifest lists it"})
        for backend in backends:
            if log:
                log(f"measuring {entry.path} on {backend} ...")
            try:
                data = _run_child([path, backend, threads or 0, runs or 0, folder.path, batch_size or 0])
            except BenchChildError as err:
                report.skipped.append({"artifact": entry.path, "backend": backend, "reason": str(err)})
                if log:
                    log(f"skipped {entry.path} on {backend}: {err}")
                continue
            report.rows.append(BenchRow.from_json(data))
    if startup:
        report.startup = measure_startup(folder)
    return report


def _peak_run(command: list, env: Optional[dict] = None) -> tuple:
    """Wall seconds and peak RSS (MiB) of one whole process (this package first on its PYTHONPATH,
    as runtime/backends/child.py gives every child)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                               env=child_env(env))
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(command)} " + (f"was killed by {signal_name(code)}" if code < 0 else f"exited with {code}"))
    return elapsed, usage.ru_maxrss / 1024


def measure_startup(folder: ModelsFolder) -> Optional[dict]:
    """`python -m runtime predict digit.png` as a whole process against
    `python -c "import numpy, <interpreter>"`, medians of a few runs, on the manifest's
    int8 TFLite artifact (None when there is none, or no interpreter runs it)."""
    from ..backends import available_backends

    int8 = next((a for a in folder.manifest.exported if a.format == "tflite" and a.precision == "int8"), None)
    if int8 is None:
        return None
    model = folder.file(int8.path)
    if not model.is_file() or not available_backends(model):
        return None
    try:
        from PIL import Image
    except ImportError:
        return None
    module = {"litert": "ai_edge_litert.interpreter", "tflite-runtime": "tflite_runtime.interpreter"}[available_backends(model)[0]]
    with tempfile.TemporaryDirectory() as tmp:
        digit = Path(tmp) / "digit.png"
        image = folder.reference().images[0]
        Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image).save(digit)
        commands = {
            "predict": [sys.executable, "-m", "runtime", "predict", str(digit), "--model", str(model)],
            "baseline": [sys.executable, "-c", f"import numpy, {module}"],
        }
        # As on a device, where pip compiled the bytecode at install: a warm-up run writes it
        # (to a folder of this run's own, even where PYTHONDONTWRITEBYTECODE is set).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        runs = {}
        for name, cmd in commands.items():
            _peak_run(cmd, env)
            runs[name] = [_peak_run(cmd, env) for _ in range(STARTUP_REPEATS)]
    result = {"baseline_command": f'python -c "import numpy, {module}"',
              "predict_command": f"python -m runtime predict digit.png --model {model}"}
    for name, samples in runs.items():
        result[f"{name}_wall_ms"] = statistics.median(s[0] for s in samples) * 1000
        result[f"{name}_peak_mib"] = statistics.median(s[1] for s in samples)
    return result


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def format_report(report: BenchReport) -> str:
    m = report.machine
    versions = ", ".join(f"{k} {m[k]}" for k in m if k not in ("cpu", "cores", "machine", "system", "python", "numpy"))
    lines = [f"CPU: {m['cpu']} ({m['cores']} cores, {m['machine']}); Python {m['python']}, numpy {m['numpy']}; {versions}"]
    if report.doctor:
        lines.append(f"Doctor recommends here: {report.doctor}")
    lines.append("")
    largest = {max(r.batch_sizes) for r in report.rows}
    big = f"b={largest.pop()}" if len(largest) == 1 else "b=max"
    header = ("artifact", "backend", "measured", "size", "load ms", "first ms", "p50 µs", "p99 µs",
              "b=1 img/s", "b=32 img/s", f"{big} img/s", "peak MiB")
    rows = []
    for r in report.rows:
        for k, (who, t) in enumerate(r.timings.items()):
            first = k == 0
            rates = [_rate(_ips(t, b)) if _has(t, b) else "-" for b in (1, PROBE_BATCH)]
            top = max(r.batch_sizes)
            rates.append(_rate(_ips(t, top)) + ("" if big != "b=max" else f" (b={top})"))
            rows.append((
                r.artifact if first else "", r.backend if first else "", who,
                format_size(r.bytes) if first else "", f"{t.load_ms:.1f}", f"{t.first_ms:.2f}",
                f"{t.p50_us:.1f}", f"{t.p99_us:.1f}", *rates,
                f"{r.peak_rss_mib:.0f}" if first else "",
            ))
    lines += text_table(header, rows)
    lines.append("")
    for r in report.rows:
        if "runtime" in r.timings and "bare" in r.timings:
            ours, bare = r.timings["runtime"], r.timings["bare"]
            top = max(r.batch_sizes)
            one, many = ours.p50_us / bare.p50_us, _ips(ours, top) / _ips(bare, top)
            lines.append(f"{r.artifact} on {r.backend.split()[0]}: one image {one:.2f}x the bare time "
                         f"({_target(one, '<=', TARGETS['one_image'])}); batch {top} at {many:.2f}x the bare "
                         f"throughput ({_target(many, '>=', TARGETS['batch_1000'])})")
    lines += [f"note {r.artifact} on {r.backend.split()[0]}: {r.batch_note}" for r in report.rows if r.batch_note]
    for skipped in report.skipped:
        on = f" on {skipped['backend']}" if skipped["backend"] else ""
        lines.append(f"skipped {skipped['artifact']}{on}: {skipped['reason']}")
    s = report.startup
    if s:
        time_ratio = s["predict_wall_ms"] / s["baseline_wall_ms"]
        memory_ratio = s["predict_peak_mib"] / s["baseline_peak_mib"]
        lines.append("")
        lines.append(f"Start-up, whole process (median of {STARTUP_REPEATS}): {s['predict_command']}: "
                     f"{s['predict_wall_ms']:.0f} ms, {s['predict_peak_mib']:.0f} MiB peak; "
                     f"{s['baseline_command']}: {s['baseline_wall_ms']:.0f} ms, {s['baseline_peak_mib']:.0f} MiB "
                     f"({time_ratio:.2f}x time, {_target(time_ratio, '<=', TARGETS['startup'])}; "
                     f"{memory_ratio:.2f}x memory, {_target(memory_ratio, '<=', TARGETS['startup'])})")
    return "\n".join(lines)


def _target(value: float, relation: str, target: float) -> str:
    """"target <= 2x: holds" or "target <= 2x: MISSED"."""
    holds = value <= target if relation == "<=" else value >= target
    return f"target {relation} {target:g}x: {'holds' if holds else 'MISSED'}"


def _has(t: Timings, batch: int) -> bool:
    return str(batch) in t.images_per_s or batch in t.images_per_s


def _ips(t: Timings, batch: int) -> float:
    return t.images_per_s[str(batch)] if str(batch) in t.images_per_s else t.images_per_s[batch]


def run(args) -> int:
    """The command's body: the table (or JSON) of every artifact's figures; 1 when one was skipped."""
    progress = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        report = bench_models(args.models, threads=args.threads, runs=args.runs, startup=not args.no_startup, log=progress,
                              batch_size=args.batch_size)
    except SETUP_ERRORS as err:
        return fail(err)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report))
    return 1 if report.skipped else 0


def child_main(argv: list) -> int:
    """The child's body: one line of JSON, the row or {"error": ...} (runtime/backends/child.py)."""
    from ..errors import ToolkitError

    path, backend, threads, runs, models_dir, batch = argv[:6]
    return answer(lambda: measure(path, backend, int(threads) or None, int(runs) or None, models_dir, int(batch) or None),
                  describe=lambda err: " ".join(str(err).split()) or type(err).__name__,
                  catch=(ToolkitError, ValueError, OSError, RuntimeError, MemoryError))  # interpreters raise RuntimeError


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
