"""Benchmarks of every artifact on every installed backend, each measured in a child
process of its own (so its peak memory is its own), next to the bare interpreter doing
the same work: LiteRT / tflite-runtime `set_tensor` + `invoke` + `get_tensor`, or
onnxruntime `run`, on input already in the model's type.

Run as `python -m runtime.bench PATH BACKEND THREADS RUNS REFERENCE` in the child; prints
one line of JSON."""

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

from .tables import format_size, text_table

BATCH_SIZES = (1, 32, 1000)
THROUGHPUT_SECONDS = 0.3
"""How long each throughput figure runs for."""
WARMUP_RUNS = 200
STARTUP_REPEATS = 5
TARGETS = {"one_image": 2.0, "batch_1000": 0.9, "startup": 2.0}
"""The runtime against the bare interpreter: one image at most 2x its time, batch 1000 at
least 0.9x its throughput; `predict` as a whole process at most 2x the time and memory of
importing numpy and the interpreter."""


@dataclass
class Timings:
    """One implementation's figures (the runtime's Model, or the bare interpreter)."""

    load_ms: float
    first_ms: float
    """First inference after load, one image."""
    p50_us: float
    """Median single-image latency after warm-up."""
    p99_us: float
    images_per_s: dict
    """Batch size -> images per second."""


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

    def to_json(self) -> dict:
        return {"machine": self.machine, "rows": [r.to_json() for r in self.rows], "startup": self.startup}


def _latencies_us(call, runs: int) -> list:
    for _ in range(WARMUP_RUNS):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - start) / 1000)
    return times


def _images_per_s(call, batch: int) -> float:
    call()
    count, start = 0, time.perf_counter()
    while True:
        call()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= THROUGHPUT_SECONDS:
            return count * batch / elapsed


def timings(load_s: float, first_s: float, single, batched: dict, runs: int) -> Timings:
    """Latency of `single()` over `runs` calls after warm-up, and throughput of each
    `batched[size]()`, with the load and first-call times measured by the caller."""
    latencies = _latencies_us(single, runs)
    return Timings(
        load_ms=load_s * 1000,
        first_ms=first_s * 1000,
        p50_us=statistics.median(latencies),
        p99_us=float(np.percentile(latencies, 99)),
        images_per_s={b: _images_per_s(call, b) for b, call in batched.items()},
    )


def _bare_tflite(module, path: str, threads, model, images):
    """The interpreter alone: one per batch size, resized before timing."""
    start = time.perf_counter()
    interpreters = {}
    for batch in BATCH_SIZES:
        interpreter = module.Interpreter(model_path=path, num_threads=threads)
        index = interpreter.get_input_details()[0]["index"]
        if batch != 1:
            interpreter.resize_tensor_input(index, [batch, *images.shape[1:]])
        interpreter.allocate_tensors()
        interpreters[batch] = (interpreter, index, interpreter.get_output_details()[0]["index"])
        if batch == 1:
            load_s = time.perf_counter() - start

    def call_for(batch):
        interpreter, index, output = interpreters[batch]
        x = model._pixels_to_input(images[:batch])  # input prepared outside the timing

        def call():
            interpreter.set_tensor(index, x)
            interpreter.invoke()
            return interpreter.get_tensor(output)

        return call

    return load_s, {b: call_for(b) for b in BATCH_SIZES}


def _bare_onnx(module, path: str, threads, model, images):
    start = time.perf_counter()
    options = module.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = module.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - start
    name = session.get_inputs()[0].name

    def call_for(batch):
        x = model._pixels_to_input(images[:batch])
        return lambda: session.run(None, {name: x})

    return load_s, {b: call_for(b) for b in BATCH_SIZES}


def measure(path: str, backend: str, threads: Optional[int], runs: int, reference: str) -> dict:
    """Child side: the runtime's Model and the bare interpreter on the same file."""
    from .backends import _import
    from .model import load

    with np.load(reference, allow_pickle=False) as data:
        images = data["images"]
    while len(images) < max(BATCH_SIZES):
        images = np.concatenate([images, images])
    module = _import(backend)
    bare_load = _bare_onnx if backend == "onnxruntime" else _bare_tflite
    load(path, backend=backend, num_threads=threads)  # one-time library set-up is nobody's load time
    start = time.perf_counter()
    model = load(path, backend=backend, num_threads=threads)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    model.predict(images[:1])
    first_s = time.perf_counter() - start
    runtime = timings(load_s, first_s, lambda: model.predict(images[:1]),
                       {b: (lambda b=b: model.predict(images[:b])) for b in BATCH_SIZES}, runs)

    bare_load_s, calls = bare_load(module, path, threads, model, images)
    start = time.perf_counter()
    calls[1]()
    bare_first_s = time.perf_counter() - start
    bare = timings(bare_load_s, bare_first_s, calls[1], calls, runs)
    row = BenchRow(
        artifact=Path(path).name, precision=model.entry.precision if model.entry else "?",
        backend=f"{model.backend.name} {model.backend.version}", bytes=Path(path).stat().st_size,
        timings={"runtime": runtime, "bare": bare}, peak_rss_mib=peak_rss_mib(),
    )
    return row.to_json()


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_child(args: list, timeout: float = 600) -> dict:
    child = subprocess.run([sys.executable, "-m", "runtime.bench", *map(str, args)],
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if child.returncode != 0:
        raise RuntimeError(f"benchmark of {args[0]} on {args[1]} failed: {(child.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def bench_models(models_dir, threads: Optional[int] = None, runs: int = 2000, startup: bool = True, log=None) -> BenchReport:
    """Every artifact of the manifest on every installed backend that runs it."""
    from .backends import available_backends
    from .manifest import read_manifest
    from .parity import REFERENCE_NAME
    from .platform_info import machine_record

    models_dir = Path(models_dir)
    manifest = read_manifest(models_dir)
    report = BenchReport(machine_record())
    for entry in manifest.exported:
        if entry.format == "tflite-micro":  # a microcontroller's speed is not measured here
            continue
        path = models_dir / entry.path
        for backend in available_backends(path):
            if log:
                log(f"measuring {entry.path} on {backend} ...")
            data = _run_child([path, backend, threads or 0, runs, models_dir / REFERENCE_NAME])
            report.rows.append(BenchRow.from_json(data))
    if startup:
        report.startup = measure_startup(models_dir, manifest)
    return report


def _peak_run(command: list, env: Optional[dict] = None) -> tuple:
    """Wall seconds and peak RSS (MiB) of one whole process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                               env=env)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {os.waitstatus_to_exitcode(status)}")
    return elapsed, usage.ru_maxrss / 1024


def measure_startup(models_dir, manifest) -> Optional[dict]:
    """`python -m runtime predict digit.png` as a whole process against
    `python -c "import numpy, <interpreter>"`, medians of a few runs, on the manifest's
    int8 TFLite artifact (None when there is none, or no interpreter runs it)."""
    from .backends import available_backends
    from .parity import load_reference

    int8 = next((a for a in manifest.exported if a.format == "tflite" and a.precision == "int8"), None)
    if int8 is None:
        return None
    model = Path(models_dir) / int8.path
    if not model.is_file() or not available_backends(model):
        return None
    try:
        from PIL import Image
    except ImportError:
        return None
    module = {"litert": "ai_edge_litert.interpreter", "tflite-runtime": "tflite_runtime.interpreter"}[available_backends(model)[0]]
    with tempfile.TemporaryDirectory() as tmp:
        digit = Path(tmp) / "digit.png"
        image = load_reference(models_dir).images[0]
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
    lines = [f"CPU: {m['cpu']} ({m['cores']} cores, {m['machine']}); Python {m['python']}, numpy {m['numpy']}; {versions}", ""]
    header = ("artifact", "backend", "measured", "size", "load ms", "first ms", "p50 µs", "p99 µs",
              "b=1 img/s", "b=32 img/s", "b=1000 img/s", "peak MiB")
    rows = []
    for r in report.rows:
        for k, (who, t) in enumerate(r.timings.items()):
            first = k == 0
            rows.append((
                r.artifact if first else "", r.backend if first else "", who,
                format_size(r.bytes) if first else "", f"{t.load_ms:.1f}", f"{t.first_ms:.2f}",
                f"{t.p50_us:.1f}", f"{t.p99_us:.1f}", *(_rate(_ips(t, b)) for b in BATCH_SIZES),
                f"{r.peak_rss_mib:.0f}" if first else "",
            ))
    lines += text_table(header, rows)
    lines.append("")
    for r in report.rows:
        if "runtime" in r.timings and "bare" in r.timings:
            ours, bare = r.timings["runtime"], r.timings["bare"]
            one, many = ours.p50_us / bare.p50_us, _ips(ours, 1000) / _ips(bare, 1000)
            lines.append(f"{r.artifact} on {r.backend.split()[0]}: one image {one:.2f}x the bare time "
                         f"({_target(one, '<=', TARGETS['one_image'])}); batch 1000 at {many:.2f}x the bare "
                         f"throughput ({_target(many, '>=', TARGETS['batch_1000'])})")
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


def _ips(t: Timings, batch: int) -> float:
    return t.images_per_s[str(batch)] if str(batch) in t.images_per_s else t.images_per_s[batch]


if __name__ == "__main__":
    path, backend, threads, runs, reference = sys.argv[1:6]
    print(json.dumps(measure(path, backend, int(threads) or None, int(runs), reference)))
