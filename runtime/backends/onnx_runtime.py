"""onnxruntime's `InferenceSession` on the CPU behind the backends' shape: `inputs`, `outputs`,
`run(x)`. A file whose external data lies outside its folder is refused before onnxruntime
opens it (runtime.store.onnx_external)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ModelFileError, one_line
from ..store.onnx_external import check_external_data
from .interpreters import Versioned
from .native_output import filtered_stderr
from .tensors import TensorInfo, check_io


def open_backend(path, name: str, module, options) -> "OnnxRuntimeBackend":
    """The family's opener (runtime.backends.open_backend): `module` is onnxruntime."""
    return OnnxRuntimeBackend(path, module, options.num_threads, options.quiet)


_ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}

ONNX_DISABLED_OPTIMIZERS = {(1, 21): "WeightBiasQuantization"}
"""onnxruntime graph transformers that change a float model's answers, by the release that has them.
1.21's WeightBiasQuantization (basic level) rounds a Gemm's float weights to per-tensor int8 when
its input comes from a DequantizeLinear, even if no QuantizeLinear takes its output. The seed's
float32 ONNX (uint8 pixels, DequantizeLinear, MatMul + Add) then differed from ORT_DISABLE_ALL by
max |dp| 8.1e-3 on 1,000 reference images: on x86_64 (PyPI's 1.21.0 and 1.21.1) as on emulated
armv7l (Debian 13's python3-onnxruntime 1.21; qemu's cortex-a7, cortex-a15 and max alike), so
neither the ARM kernels nor the emulator. With it disabled: 4.8e-7 (armv7l 5.2e-7), what 1.20.1,
1.22.0 and 1.32.0 give with every optimization on. Disabling it cost 1.21 nothing measurable
(batch 1,000 the same; one float32 image 0.7x the time, its weights no longer dequantized each
run). 1.22 leaves such a Gemm alone (onnxruntime PR 24537); elsewhere it stays on."""


def onnx_session_options(module, num_threads: Optional[int] = None):
    """The `SessionOptions` every onnxruntime session of the runtime (and bench's bare one) is opened
    with: ORT's own defaults, less ONNX_DISABLED_OPTIMIZERS for the release installed."""
    options = module.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    release = tuple(int(part) for part in module.__version__.split(".")[:2] if part.isdigit())  # "1.21" from Debian
    if release in ONNX_DISABLED_OPTIMIZERS:
        # One name only: 1.21 ignores the whole list when one name in it is unknown (measured).
        options.add_session_config_entry("optimization.disable_specified_optimizers", ONNX_DISABLED_OPTIMIZERS[release])
    return options


class OnnxRuntimeBackend(Versioned):
    """An onnxruntime `InferenceSession` on the CPU; `run` is thread-safe."""

    def __init__(self, path, module, num_threads: Optional[int] = None, quiet: bool = True):
        self.name = "onnxruntime"
        check_external_data(path)
        try:
            with filtered_stderr(quiet):  # Debian's build prints hundreds of lines at the first session
                self._session = module.InferenceSession(
                    str(path), sess_options=onnx_session_options(module, num_threads), providers=["CPUExecutionProvider"]
                )
        except Exception as err:  # onnxruntime's errors do not derive from RuntimeError
            raise ModelFileError(f"{path}: not a valid ONNX model ({one_line(err)})") from err
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        for arg in inputs + outputs:
            if arg.type not in _ONNX_DTYPES:
                raise ModelFileError(f"{path}: tensor {arg.name!r} has type {arg.type}, expected float, int8 or uint8")
        self.inputs = [self._info(t) for t in inputs]
        self.outputs = [self._info(t) for t in outputs]
        check_io(path, self.inputs, self.outputs)
        self._input_name = inputs[0].name

    @staticmethod
    def _info(arg) -> TensorInfo:
        shape = tuple(d if isinstance(d, int) else -1 for d in (arg.shape or ()))
        return TensorInfo(arg.name, shape, np.dtype(_ONNX_DTYPES[arg.type]))

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input_name: x})[0]
