"""TFLite Micro's own interpreter (PyPI `tflite-micro`, x86_64 Linux only) behind the same
shape as the other backends (`inputs`, `outputs`, `run(x)`).

TFLM runs a batch-1 model, one image per `invoke`, in a fixed arena. An arena too small for
the model makes it fail cleanly or, when tiny, crash the process: open a file through
arena_probe.open_probed, which tries it in a child first, unless that arena already ran it.
The `tflite-micro` package imports numpy, flatbuffers and PyYAML; never TensorFlow."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ModelFileError, one_line
from .interpreters import Versioned
from .native_output import captured_stderr
from .tensors import TensorInfo, check_io

DEFAULT_ARENA_PER_MODEL_BYTE = 10
"""Without a measured arena, TFLM's Python package's own default: 10 bytes per model byte."""
_TOTAL_LINE = re.compile(r"Arena allocation total (\d+) bytes")


def tflm_reasons(lines: list) -> str:
    """TFLM's own diagnostics (it reports them on stderr, not in the exception), without its
    allocation report, on one line."""
    return "; ".join(one_line(line) for line in lines if line.strip() and "[RecordingMicroAllocator]" not in line)


def manifest_arena_bytes(path) -> Optional[int]:
    """The measured arena the manifest beside `path` lists for it, if any."""
    from ..store.layout import MANIFEST_NAME
    from ..store.manifest import read_manifest

    path = Path(path)
    if not (path.parent / MANIFEST_NAME).is_file():
        return None
    try:
        entry = read_manifest(path.parent).find(path.name)
    except ValueError:
        return None
    value = entry.micro.arena_bytes if entry is not None and entry.micro is not None else None
    return int(value) if isinstance(value, int) and value > 0 else None


def default_arena_bytes(path) -> int:
    """The arena to run `path` in: the one `python -m convert micro` measured for it (its
    manifest entry), else TFLM's default for its size."""
    return manifest_arena_bytes(path) or DEFAULT_ARENA_PER_MODEL_BYTE * Path(path).stat().st_size


class TFLMBackend(Versioned):
    """TFLM's MicroInterpreter on a batch-1 model in an arena of `arena_bytes` (default:
    default_arena_bytes): `run` feeds the images one at a time. It loads the file in this
    process: see arena_probe.open_probed. Calls are serialised by a lock."""

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
