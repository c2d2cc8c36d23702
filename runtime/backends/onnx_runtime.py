"""onnxruntime's `InferenceSession` on the CPU behind the backends' shape: `inputs`, `outputs`,
`run(x)`. A file whose external data lies outside its folder is refused before onnxruntime
opens it (runtime.store.onnx_external)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ModelFileError, one_line
from ..store.onnx_external import check_external_data
from .interpreters import Versioned
from .tensors import TensorInfo, check_io


def open_backend(path, name: str, module, options) -> "OnnxRuntimeBackend":
    """The family's opener (runtime.backends.open_backend): `module` is onnxruntime."""
    return OnnxRuntimeBackend(path, module, options.num_threads)


_ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}


class OnnxRuntimeBackend(Versioned):
    """An onnxruntime `InferenceSession` on the CPU; `run` is thread-safe."""

    def __init__(self, path, module, num_threads: Optional[int] = None):
        self.name = "onnxruntime"
        check_external_data(path)
        options = module.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        try:
            self._session = module.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
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
