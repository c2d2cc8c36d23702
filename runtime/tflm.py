"""TFLite Micro's own interpreter (PyPI `tflite-micro`, x86_64 Linux only) behind the same
shape as the other backends (`inputs`, `outputs`, `run(x)`), and the checks that need it:
whether a model runs in a tensor arena of a given size, and whether TFLM's outputs equal
LiteRT's.

TFLM runs a batch-1 model, one image per `invoke`, in a fixed arena. An arena too small
for the model makes TFLM fail cleanly, or, when it is tiny, crash the process (SIGSEGV);
so arenas are tried in a child process (`python -m runtime.tflm MODEL ARENA_BYTES`, which
prints one line of JSON), and `open_backend` loads a TFLM model in a child first.

The `tflite-micro` package imports numpy, flatbuffers and PyYAML; never TensorFlow."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .backends import TensorInfo, check_io, Versioned
from .errors import ModelFileError, one_line
from .native_output import captured_stderr

DEFAULT_ARENA_PER_MODEL_BYTE = 10
"""Without a measured arena, TFLM's Python package's own default: 10 bytes per model byte."""
PROBE_TIMEOUT_S = 60
LITERT_RESOLVERS = {"int8": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "float32": "BUILTIN_REF"}
"""The LiteRT kernels TFLM's outputs are compared with (for information), by precision. int8: LiteRT's
builtin kernels without the XNNPACK delegate (XNNPACK, LiteRT's default, and the reference
kernels round some int8 outputs differently); float32: the reference kernels, which TFLM's
float kernels were ported from (the optimized ones differ by ~1e-7)."""
_RESOLVER_WORDS = {"BUILTIN_WITHOUT_DEFAULT_DELEGATES": "builtin kernels without XNNPACK", "BUILTIN_REF": "reference kernels"}
_TOTAL_LINE = re.compile(r"Arena allocation total (\d+) bytes")


def _reasons(lines: list) -> str:
    """TFLM's own diagnostics (it reports them on stderr, not in the exception), without its
    allocation report, on one line."""
    return "; ".join(one_line(line) for line in lines if line.strip() and "[RecordingMicroAllocator]" not in line)


def manifest_arena_bytes(path) -> Optional[int]:
    """The measured arena the manifest beside `path` lists for it, if any."""
    from .layout import MANIFEST_NAME
    from .manifest import read_manifest

    path = Path(path)
    if not (path.parent / MANIFEST_NAME).is_file():
        return None
    try:
        entry = read_manifest(path.parent).find(path.name)
    except ValueError:
        return None
    value = entry.micro.arena_bytes if entry is not None and entry.micro is not None else None
    return int(value) if isinstance(value, int) and value > 0 else None


class TFLMBackend(Versioned):
    """TFLM's MicroInterpreter on a batch-1 model: `run` feeds the images one at a time.

    The arena is `arena_bytes`, else the one measured for this file by `python -m convert
    micro` (its manifest entry), else TFLM's default. Unless `checked`, the file is first
    loaded and run with that arena in a child process (probe_arena), because TFLM crashes
    on some arenas that are too small and on some damaged files, whatever a manifest says.
    Calls are serialised by a lock."""

    def __init__(self, path, module, arena_bytes: Optional[int] = None, checked: bool = False):
        self.name = "tflite-micro"
        data = Path(path).read_bytes()
        if arena_bytes is None:
            arena_bytes = manifest_arena_bytes(path) or DEFAULT_ARENA_PER_MODEL_BYTE * len(data)
        if not isinstance(arena_bytes, int) or arena_bytes < 1:
            raise ValueError(f"arena_bytes: got {arena_bytes!r}, expected a positive number of bytes")
        self.arena_bytes = arena_bytes
        if not checked:
            probe = probe_arena(path, arena_bytes)
            if not probe.runs:
                raise ModelFileError(probe.detail if not probe.crashed else
                                     f"{path}: {probe.detail} with a {arena_bytes}-byte arena; refusing to load it here")
        self.allocated_bytes = None
        """What TFLM's recording allocator reports in use after the first `run` (None before)."""
        messages = []
        try:
            with captured_stderr(messages):
                self._interpreter = module.runtime.Interpreter.from_bytes(data, arena_size=arena_bytes)
        except (ValueError, RuntimeError) as err:
            raise ModelFileError(f"{path}: TFLite Micro cannot run it with a {arena_bytes}-byte arena: "
                                 f"{one_line(err)}" + (f" ({_reasons(messages)})" if _reasons(messages) else "")) from err
        self.inputs = [self._info(self._interpreter.get_input_details(0), data, "input")]
        self.outputs = [self._info(self._interpreter.get_output_details(0), data, "output")]
        check_io(path, self.inputs, self.outputs)
        if self.inputs[0].shape[0] != 1:
            raise ModelFileError(f"{path}: input batch is {self.inputs[0].shape[0]}; TFLite Micro runs batch-1 models "
                                 "(python -m convert micro makes one)")
        self._lock = threading.Lock()
        self._path = path

    @staticmethod
    def _info(details: dict, data: bytes, role: str) -> TensorInfo:
        quantization = details["quantization_parameters"]
        scales, zero_points = quantization["scales"], quantization["zero_points"]
        scale = float(scales[0]) if len(scales) else 0.0
        zero_point = int(zero_points[0]) if len(zero_points) else 0
        shape = tuple(int(v) for v in details["shape"])
        return TensorInfo(_tensor_name(data, role), shape, np.dtype(details["dtype"]), scale, zero_point)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=self.inputs[0].dtype)
        out = np.empty((len(x),) + self.outputs[0].shape[1:], self.outputs[0].dtype)
        with self._lock:
            for i in range(len(x)):
                self._interpreter.set_input(x[i : i + 1], 0)
                self._interpreter.invoke()
                out[i] = self._interpreter.get_output(0)[0]
            if self.allocated_bytes is None and len(x):
                lines = []
                with captured_stderr(lines):
                    self._interpreter.print_allocations()
                totals = [int(m.group(1)) for m in map(_TOTAL_LINE.search, lines) if m]
                self.allocated_bytes = totals[0] if totals else None
        return out


def _tensor_name(data: bytes, role: str) -> str:
    """The model's name for its first input or output tensor, read from the flatbuffer."""
    from tflite_micro.python.tflite_micro import runtime as tflm_runtime

    model = tflm_runtime.schema_fb.Model.GetRootAsModel(data, 0)
    graph = model.Subgraphs(0)
    index = graph.Inputs(0) if role == "input" else graph.Outputs(0)
    name = graph.Tensors(index).Name()
    return name.decode() if name else role


@dataclass(frozen=True)
class ArenaProbe:
    """One try of a model in an arena of a given size, in a child process."""

    arena_bytes: int
    runs: bool
    """The interpreter allocated the tensors and ran one inference."""
    detail: str = ""
    """Why not: TFLM's message, or how the child died."""
    allocated_bytes: Optional[int] = None
    """What TFLM's recording allocator reported in use, when it ran."""
    crashed: bool = False
    """The child was killed by a signal (TFLM crashes on some tiny arenas)."""


def probe_arena(path, arena_bytes: int, timeout: float = PROBE_TIMEOUT_S) -> ArenaProbe:
    """Loads `path` into TFLM with an arena of `arena_bytes` and runs one image, in a child."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    try:
        child = subprocess.run([sys.executable, "-m", "runtime.tflm", str(path), str(int(arena_bytes))],
                               capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        raise ModelFileError(f"{path}: TFLite Micro did not finish within {timeout:g} s with a {arena_bytes}-byte arena") from err
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        return ArenaProbe(arena_bytes, False, f"the TFLite Micro interpreter crashed ({name})", crashed=True)
    for line in reversed(child.stdout.strip().splitlines()):
        try:
            result = json.loads(line)
        except ValueError:
            continue
        if "error" in result:
            return ArenaProbe(arena_bytes, False, result["error"])
        return ArenaProbe(arena_bytes, True, allocated_bytes=result.get("allocated_bytes"))
    last = (child.stderr.strip().splitlines() or ["no output"])[-1]
    raise ModelFileError(f"{path}: the TFLite Micro check failed with exit status {child.returncode}: {last}")


def _run_in_child(path: str, arena_bytes: int) -> dict:
    import tflite_micro

    backend = TFLMBackend(path, tflite_micro, arena_bytes, checked=True)  # this is the check
    backend.run(np.zeros((1,) + backend.inputs[0].shape[1:], backend.inputs[0].dtype))
    return {"ok": True, "allocated_bytes": backend.allocated_bytes}


def litert_reference(path, precision: str):
    """LiteRT on `path` with the kernels TFLM's outputs must equal (LITERT_RESOLVERS), or None
    when LiteRT is not installed or the precision has no such rule."""
    from .backends import BackendUnavailableError, TFLiteBackend, import_backend

    if precision not in LITERT_RESOLVERS:
        return None
    try:
        module = import_backend("litert")
    except BackendUnavailableError:
        return None
    return TFLiteBackend(path, module, "litert", num_threads=1, op_resolver=LITERT_RESOLVERS[precision])


@dataclass(frozen=True)
class LiteRTComparison:
    """TFLM's outputs against LiteRT's, image by image, in the model's own output type."""

    kernels: str
    """LiteRT's op resolver that was compared with."""
    images: int
    differing: int
    """Images with any output value that differs."""
    max_steps: float
    """Largest difference, in quantization steps for an integer output, else absolute."""

    @property
    def equal(self) -> bool:
        return self.differing == 0

    def sentence(self) -> str:
        what = f"LiteRT's ({_RESOLVER_WORDS.get(self.kernels, self.kernels)})"
        if self.equal:
            return f"outputs equal {what} bit for bit on {self.images} of {self.images} images"
        unit = " quantization steps" if float(self.max_steps).is_integer() else ""
        return f"outputs differ from {what} on {self.differing} of {self.images} images, by up to {self.max_steps:g}{unit}"


def compare_with_litert(model, images: np.ndarray, precision: str) -> Optional[LiteRTComparison]:
    """Runs `images` (uint8, as the runtime takes them) through `model` (a runtime Model on
    TFLM) and through LiteRT with LITERT_RESOLVERS[precision], one image at a time, and
    compares the raw outputs. None when LiteRT is not installed or the precision has no rule."""
    from .model import Model

    reference = litert_reference(model.path, precision)
    if reference is None:
        return None
    litert_model = Model(model.path, reference, model.contract, model.labels)
    x = model._pixels_to_input(model.contract.check_shape(np.asarray(images)))
    ours, theirs = model.backend.run(x), litert_model.backend.run(x)
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).reshape(len(x), -1)
    return LiteRTComparison(LITERT_RESOLVERS[precision], len(x), int(np.count_nonzero(diff.max(1))),
                            float(diff.max()) if diff.size else 0.0)


_ARRAY = re.compile(r"\{(.*?)\};", re.S)


def read_model_array(source) -> bytes:
    """The bytes of the model array in a generated `<stem>_model_data.cc`."""
    text = Path(source).read_text()
    match = _ARRAY.search(text)
    if match is None:
        raise ValueError(f"{source}: no array initializer found")
    return bytes(int(v, 16) for v in re.findall(r"0x([0-9a-fA-F]{2})", match.group(1)))


def check_micro_artifact(models_dir: Path, entry, model, images: np.ndarray, result) -> None:
    """What parity checks of a tflite-micro artifact (a manifest Artifact) beyond its
    probabilities, added to `result` (a ParityResult): the C++ array holds exactly the model
    file's bytes, the header's arena constant is the manifest's; on TFLM, a note of how its
    outputs compare with LiteRT's."""
    micro = entry.micro
    if micro is None:
        result.failures.append("the manifest lists it as tflite-micro without its source, header and arena")
        return
    for key in ("source", "header", "ops_header"):
        if not getattr(micro, key) or not (models_dir / getattr(micro, key)).is_file():
            result.failures.append(f"{key} {getattr(micro, key)!r} listed in the manifest is missing")
            return
    try:
        array = read_model_array(models_dir / micro.source)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        result.failures.append(f"{micro.source}: cannot read the model array ({one_line(err)})")
        return
    if array != Path(model.path).read_bytes():
        result.failures.append(f"{micro.source} does not hold the bytes of {entry.path} (re-run python -m convert micro)")
    declared = re.search(r"_arena_bytes = (\d+);", (models_dir / micro.header).read_text())
    if declared is None or int(declared.group(1)) != micro.arena_bytes:
        result.failures.append(f"{micro.header} declares an arena of {declared and declared.group(1)} bytes, "
                               f"the manifest {micro.arena_bytes}")
    if model.backend.name != "tflite-micro":
        return
    check_against_litert(model, images, result, f" (arena {model.backend.arena_bytes} bytes)")


def check_against_litert(model, images: np.ndarray, result, detail: str = "") -> Optional[LiteRTComparison]:
    """Compares TFLM's outputs with LiteRT's (compare_with_litert) and records it in `result`
    (a ParityResult) as a note: information, never a failure. Kernel libraries round int8
    differently, more so through deep graphs; TFLM is judged, like every runtime, against the
    float Keras model."""
    same = compare_with_litert(model, images, result.precision)
    if same is None:
        result.notes.append("not compared with LiteRT: ai-edge-litert is not installed")
    else:
        result.notes.append(f"TFLite Micro's {same.sentence()}{detail} (information: judged against Keras, not LiteRT)")
    return same


if __name__ == "__main__":
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a tiny arena may crash TFLM: no core file for that
    try:
        outcome = _run_in_child(sys.argv[1], int(sys.argv[2]))
    except Exception as err:  # reported to the parent as the reason this arena does not run
        outcome = {"error": one_line(err)}
    print(json.dumps(outcome))
