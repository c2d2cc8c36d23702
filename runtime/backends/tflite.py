"""LiteRT's and tflite-runtime's `Interpreter` (the same API) behind the backends' shape:
`inputs`, `outputs`, `run(x)`, and `run_offset_pixels` for an int8 input that takes pixels."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import InputShapeError, ModelFileError, one_line
from ..store.files import sealed_memory_file
from .interpreters import Versioned
from .native_output import filtered_stderr
from .tensors import TensorInfo, check_io, check_tensor_size


def open_backend(path, name: str, module, options) -> "TFLiteBackend":
    """The family's opener (runtime.backends.open_backend): `module` is the interpreter package's."""
    return TFLiteBackend(path, module, name, options.num_threads, options.quiet, image_shape=options.image_shape)


@contextlib.contextmanager
def sealed_copy(path):
    """The path of a sealed in-memory copy of the file, for the interpreter to map (Linux;
    elsewhere the file's own path). The interpreter maps its model read-only, so a file whose
    tensors alias its weights faults cleanly (runtime.backends.probe) where bytes handed over
    as model_content would be written over; and a mapping of the user's file would end the
    process with SIGBUS when the file is rewritten in place while it runs (`cp new.tflite
    model.tflite` beside a running `watch`). The copy cannot change: what was read is what runs."""
    fd = sealed_memory_file("edge-mnist-model", [Path(path).read_bytes()])
    if fd is None:  # not Linux, no memory for the copy, or no seals: the file's own path, as elsewhere
        yield str(path)
        return
    try:
        yield f"/proc/self/fd/{fd}"  # the interpreter's mapping outlives this descriptor
    finally:
        os.close(fd)


_UINT8 = np.dtype(np.uint8)
_TOP_BIT = np.array(128, np.uint8)
"""A 0-d array: numpy's ufuncs take it faster than a scalar (0.8 against 1.1 µs on 784 bytes)."""


class TFLiteBackend(Versioned):
    """LiteRT's or tflite-runtime's `Interpreter` (the same API).

    An interpreter holds its tensors in place and is not safe to share between threads,
    so calls are serialised by a lock; the input is resized to each batch's size, or, for a
    model made for one fixed batch size (a batch-1 export for TFLite Micro), the batch is
    run in pieces of that size. `op_resolver` names an `OpResolverType` (e.g. BUILTIN_REF).
    """

    def __init__(self, path, module, name: str, num_threads: Optional[int] = None, quiet: bool = True,
                 op_resolver: Optional[str] = None, image_shape: Optional[tuple] = None):
        self.name = name
        options = {}
        if op_resolver is not None:
            options["experimental_op_resolver_type"] = getattr(module.OpResolverType, op_resolver)
        try:
            with filtered_stderr(quiet):
                with sealed_copy(path) as mapped:
                    self._interpreter = module.Interpreter(model_path=mapped, num_threads=num_threads, **options)
                inputs = self._interpreter.get_input_details()
                outputs = self._interpreter.get_output_details()
                self.inputs = [self._info(d) for d in inputs]
                self.outputs = [self._info(d) for d in outputs]
                # Sizes and the contract are checked on the model's declarations, before allocating.
                check_io(path, self.inputs, self.outputs)
                for tensor in self._interpreter.get_tensor_details():
                    check_tensor_size(path, f"tensor {tensor['name']!r}", tensor["shape"], tensor["dtype"])
                if image_shape is not None and tuple(self.inputs[0].shape[1:]) != tuple(image_shape):
                    raise InputShapeError(f"{path}: model input shape {list(self.inputs[0].shape)} does not match the "
                                         f"input contract's image shape {tuple(image_shape)}")
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            if isinstance(err, ModelFileError):
                raise
            raise ModelFileError(f"{path}: not a valid TFLite model ({one_line(err)})") from err
        self._input_index = inputs[0]["index"]
        self._output_index = outputs[0]["index"]
        self._batch = int(inputs[0]["shape"][0])
        self._fixed_batch = self.inputs[0].shape[0] if self.inputs[0].shape[0] > 0 else None
        """The batch size the model was exported for, when it is not left open."""
        self._lock = threading.Lock()
        self._input_is_int8 = self.inputs[0].dtype == np.int8
        self._input_tensor = self._interpreter.tensor(self._input_index)
        """Returns a numpy view of the input tensor's memory, wherever the last allocation put it."""
        if self._fixed_batch is None:
            self.run = self._run  # one call less on the single-image path (the fixed-batch split is not needed)

    @staticmethod
    def _info(details: dict) -> TensorInfo:
        scale, zero_point = details["quantization"]
        shape = tuple(int(v) for v in details.get("shape_signature", details["shape"]))
        return TensorInfo(details["name"], shape, np.dtype(details["dtype"]), float(scale), int(zero_point))

    def run(self, x: np.ndarray) -> np.ndarray:
        fixed = self._fixed_batch
        if fixed is not None and len(x) > fixed and len(x) % fixed == 0:
            return np.concatenate([self._run(x[i : i + fixed]) for i in range(0, len(x), fixed)])
        return self._run(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        interpreter = self._interpreter
        with self._lock:
            if x.shape[0] != self._batch:
                self._resize(x.shape)
            interpreter.set_tensor(self._input_index, x)
            interpreter.invoke()
            return interpreter.get_tensor(self._output_index)

    def _resize(self, shape: tuple) -> None:
        """The input tensor resized to `shape` (a new batch size); the caller holds the lock."""
        self._interpreter.resize_tensor_input(self._input_index, list(shape))
        self._interpreter.allocate_tensors()
        self._batch = shape[0]

    def run_offset_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """`run` of pixels - 128 as int8 (an int8 input of scale 1/255, zero point -128) for
        uint8 `pixels`: the top bit is flipped as the pixels are written into the input
        tensor, in one pass with no array in between. A new array for the flipped pixels
        cost the seed MLP 0.86x the bare interpreter's throughput at batch 1,000 (issue 24)."""
        if pixels.dtype != _UINT8 or not self._input_is_int8:
            raise TypeError(f"run_offset_pixels takes uint8 pixels for an int8 input; got {pixels.dtype} pixels "
                            f"for a {self.inputs[0].dtype} input (use run)")
        if self._fixed_batch is not None and len(pixels) != self._fixed_batch:
            return self.run((pixels ^ _TOP_BIT).view(np.int8))  # in pieces of the fixed batch
        with self._lock:
            if pixels.shape[0] != self._batch:
                self._resize(pixels.shape)
            # The view of the tensor's memory is gone when the statement ends: invoke() refuses to run while one lives.
            np.bitwise_xor(pixels, _TOP_BIT, out=self._input_tensor().view(np.uint8))
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output_index)
