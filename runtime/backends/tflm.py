"""TFLite Micro's own interpreter (PyPI `tflite-micro`, x86_64 Linux only) behind the same
shape as the other backends (`inputs`, `outputs`, `run(x)`).

TFLM runs a batch-1 model, one image per `invoke`, in a fixed arena. An arena too small for
the model makes it fail cleanly or, when tiny, crash the process (SIGSEGV), and so do some
damaged files, whatever a manifest says: `open_backend` tries the file and the arena in a child
first (`probe_arena`, runtime/backends/child.py), and only then loads it here. The
`tflite-micro` package imports numpy, flatbuffers and PyYAML; never TensorFlow.

Run as `python -m runtime.backends.tflm MODEL ARENA_BYTES` (the arena probe's child): one line
of JSON."""

from __future__ import annotations

import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ModelFileError, one_line
from .child import ChildTimeoutError, answer, run_module
from .interpreters import Versioned
from .native_output import captured_stderr
from .tensors import TensorInfo, check_io

DEFAULT_ARENA_PER_MODEL_BYTE = 10
"""Without a measured arena, TFLM's Python package's own default: 10 bytes per model byte."""
_TOTAL_LINE = re.compile(r"Arena allocation total (\d+) bytes")
PROBE_TIMEOUT_S = 60


def tflm_reasons(lines: list) -> str:
    """TFLM's own diagnostics (it reports them on stderr, not in the exception), without its
    allocation report, on one line."""
    return "; ".join(one_line(line) for line in lines if line.strip() and "[RecordingMicroAllocator]" not in line)


def default_arena_bytes(path) -> int:
    """The arena to run `path` in when none was measured for it (`python -m convert micro`
    measures one, which its manifest entry records): TFLM's default for the file's size."""
    return DEFAULT_ARENA_PER_MODEL_BYTE * Path(path).stat().st_size


class TFLMBackend(Versioned):
    """TFLM's MicroInterpreter on a batch-1 model in an arena of `arena_bytes` (default:
    default_arena_bytes): `run` feeds the images one at a time. It loads the file in this
    process: see open_backend. Calls are serialised by a lock."""

    def __init__(self, path, module, arena_bytes: Optional[int] = None):
        self.name = "tflite-micro"
        data = Path(path).read_bytes()
        if arena_bytes is None:
            arena_bytes = default_arena_bytes(path)
        if not isinstance(arena_bytes, int) or arena_bytes < 1:
            raise ValueError(f"arena_bytes: got {arena_bytes!r}, expected a positive number of bytes")
        self.arena_bytes = arena_bytes
        self.allocated_bytes = None
        """What TFLM's recording allocator reports in use after the first `run` (None before)."""
        messages = []
        try:
            with captured_stderr(messages):
                self._interpreter = module.runtime.Interpreter.from_bytes(data, arena_size=arena_bytes)
        except (ValueError, RuntimeError) as err:
            reasons = tflm_reasons(messages)
            raise ModelFileError(f"{path}: TFLite Micro cannot run it with a {arena_bytes}-byte arena: "
                                 f"{one_line(err)}" + (f" ({reasons})" if reasons else "")) from err
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
    try:
        child = run_module("runtime.backends.tflm", [path, int(arena_bytes)], timeout)
    except ChildTimeoutError as err:
        raise ModelFileError(f"{path}: TFLite Micro did not finish within {timeout:g} s with a {arena_bytes}-byte arena") from err
    if child.signal:
        return ArenaProbe(arena_bytes, False, f"the TFLite Micro interpreter crashed ({child.signal})", crashed=True)
    reply = child.reply()
    if reply is not None and "error" in reply:
        return ArenaProbe(arena_bytes, False, reply["error"])
    if reply is not None:
        return ArenaProbe(arena_bytes, True, allocated_bytes=reply.get("allocated_bytes"))
    raise ModelFileError(f"{path}: the TFLite Micro check failed with exit status {child.returncode}: "
                         f"{child.last_stderr_line()}")


def open_backend(path, name: str, module, options) -> TFLMBackend:
    """The family's opener (runtime.backends.open_backend): a TFLMBackend on `path` once a child
    has loaded and run it with options.arena_bytes (default: default_arena_bytes);
    ModelFileError when the child fails or crashes."""
    arena_bytes = options.arena_bytes
    if arena_bytes is None:
        arena_bytes = default_arena_bytes(path)
    probe = probe_arena(path, arena_bytes)
    if not probe.runs:
        raise ModelFileError(probe.detail if not probe.crashed else
                             f"{path}: {probe.detail} with a {arena_bytes}-byte arena; refusing to load it here")
    return TFLMBackend(path, module, arena_bytes)


def _load_and_run(path: str, arena_bytes: int) -> dict:
    """The child's work: this load is the check."""
    import tflite_micro

    backend = TFLMBackend(path, tflite_micro, arena_bytes)
    backend.run(np.zeros((1,) + backend.inputs[0].shape[1:], backend.inputs[0].dtype))
    return {"ok": True, "allocated_bytes": backend.allocated_bytes}


if __name__ == "__main__":
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a tiny arena may crash TFLM: no core file for that
    sys.exit(answer(lambda: _load_and_run(sys.argv[1], int(sys.argv[2]))))
