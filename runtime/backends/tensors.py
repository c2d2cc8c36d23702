"""A model's input and output tensors as every backend describes them, and the checks each
backend makes on them before it allocates anything: one input and one output, of a type the
runtime feeds, of a bounded size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelFileError


@dataclass(frozen=True)
class TensorInfo:
    """One input or output tensor as the interpreter reports it."""

    name: str
    shape: tuple
    """-1 marks a dimension the model leaves open (the batch)."""
    dtype: np.dtype
    scale: float = 0.0
    """Quantization scale; 0 when the tensor is not quantized."""
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale > 0 and np.issubdtype(self.dtype, np.integer)

    def to_json(self) -> dict:
        """Name, shape and dtype, and the scale and zero point of a quantized tensor."""
        data = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype.name}
        if self.quantized:
            data.update(scale=self.scale, zero_point=self.zero_point)
        return data

    def describe(self) -> str:
        """One line: "int8[1, 28, 28], scale 0.003921569, zero point -128"."""
        quantization = f", scale {self.scale:.8g}, zero point {self.zero_point}" if self.quantized else ""
        return f"{self.dtype.name}{list(self.shape)}{quantization}"


SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.int8), np.dtype(np.uint8))
MAX_TENSOR_BYTES = 1 << 28
"""A tensor the model declares larger than this (256 MiB; a 4096 x 4096 RGB float image is
192 MiB) is refused before any memory is allocated for it: a file of a few hundred bytes can
declare a [1, 40000, 40000] input."""


def check_io(path, inputs: list, outputs: list) -> None:
    """One input and one output, of a type this runtime feeds and reads, of a bounded size."""
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelFileError(f"{path}: expected a model with 1 input and 1 output, got {len(inputs)} and {len(outputs)}")
    for role, info in (("input", inputs[0]), ("output", outputs[0])):
        if info.dtype not in SUPPORTED_DTYPES:
            raise ModelFileError(f"{path}: {role} tensor has type {info.dtype}, expected float32, int8 or uint8")
        if len(info.shape) < 2:
            raise ModelFileError(f"{path}: {role} tensor has shape {info.shape}, expected a batch dimension and more")
        check_tensor_size(path, f"{role} tensor {info.name!r}", info.shape, info.dtype)


def check_tensor_size(path, what: str, shape, dtype) -> None:
    """ModelFileError when a tensor of `shape` (open dimensions counted as 1) would take more
    than MAX_TENSOR_BYTES."""
    size = int(np.prod([max(int(d), 1) for d in shape], dtype=object)) * np.dtype(dtype).itemsize
    if size > MAX_TENSOR_BYTES:
        raise ModelFileError(f"{path}: {what} has shape {list(shape)}, {size:,} bytes, more than the "
                             f"{MAX_TENSOR_BYTES:,} allowed; refusing to allocate it")
