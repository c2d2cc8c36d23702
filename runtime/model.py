"""`load(path)` and the `Model` it returns: uint8 MNIST images in, probabilities out,
whatever the file's format or precision."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .backends import open_backend
from .contract import InputContract, dequantize, quantize
from .errors import ManifestError, ModelFileError
from .manifest import MANIFEST_NAME, find_artifact, read_manifest, sha256_file

MAX_BATCH = 1024
"""Larger inputs are run in chunks of this many images, bounding the interpreter's memory."""

DEFAULT_LABELS = [str(d) for d in range(10)]
_TOP_BIT = np.uint8(128)


class Model:
    """A loaded artifact. `predict` applies the input contract and any int8 quantization,
    so callers never handle scales or zero-points. Safe to share between threads."""

    def __init__(self, path, backend, contract: InputContract, labels=None, entry=None):
        self.path = Path(path)
        self.backend = backend
        self.contract = contract
        self.labels = list(labels or DEFAULT_LABELS)
        self.entry = entry
        """This artifact's manifest entry, when the file is listed in one."""
        self.input = backend.inputs[0]
        self.output = backend.outputs[0]
        self._check_shapes()
        self._pixel_table = self._model_input(contract.scale_pixels(np.arange(256, dtype=np.uint8)))
        self._pixels_are_offset = self.input.dtype == np.int8 and np.array_equal(
            self._pixel_table, (np.arange(256) - 128).astype(np.int8))
        self._output_table = None
        if self.output.quantized and self.output.dtype.itemsize == 1:
            codes = np.arange(256, dtype=np.uint8).view(self.output.dtype)  # indexed by the byte's value
            self._output_table = dequantize(codes, self.output.scale, self.output.zero_point)

    def _check_shapes(self):
        want_in = (-1,) + tuple(self.contract.image_shape)
        got_in = (-1,) + tuple(self.input.shape[1:])
        if got_in != want_in:
            raise ModelFileError(
                f"{self.path}: model input shape {self.input.shape} does not match the input contract's image shape {self.contract.image_shape}"
            )
        if len(self.output.shape) != 2 or self.output.shape[1] != len(self.labels):
            raise ModelFileError(
                f"{self.path}: model output shape {self.output.shape} does not match {len(self.labels)} labels"
            )

    def predict(self, images) -> np.ndarray:
        """Probabilities (N, classes) as float32 for uint8 images (N, 28, 28) or (28, 28)."""
        x = np.asarray(images)
        if x.dtype == np.uint8:
            x = self._pixels_to_input(self.contract.check_shape(x))
        else:
            x = self._model_input(self.contract.to_unit_range(x))
        if len(x) <= MAX_BATCH:
            y = self.backend.run(x) if len(x) else np.zeros((0, len(self.labels)), self.output.dtype)
        else:
            y = np.concatenate([self.backend.run(x[i : i + MAX_BATCH]) for i in range(0, len(x), MAX_BATCH)])
        if self._output_table is not None:
            return self._output_table.take(y.view(np.uint8))
        if self.output.quantized:
            return dequantize(y, self.output.scale, self.output.zero_point)
        return y.astype(np.float32, copy=False)

    def _model_input(self, x: np.ndarray) -> np.ndarray:
        """Float input in 0..1 as the model's input tensor wants it (quantized if integer)."""
        if self.input.quantized:
            return quantize(x, self.input.scale, self.input.zero_point, self.input.dtype)
        return x.astype(self.input.dtype, copy=False)

    def _pixels_to_input(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels to the model's input, identical to the general path, faster.

        A float input is pixel / scale, computed directly. An integer input goes through a
        256-entry table made with _model_input; when that table is the int8 offset
        q = p - 128 (scale 1/255, zero point -128), flipping the top bit is the same mapping."""
        if self._pixels_are_offset:
            return (pixels ^ _TOP_BIT).view(np.int8)
        if not self.input.quantized:
            return self.contract.scale_pixels(pixels).astype(self.input.dtype, copy=False)
        return np.take(self._pixel_table, pixels)

    def describe(self) -> dict:
        """What `python -m runtime info` prints: tensors, quantization, size, backend."""

        def tensor(info):
            data = {"name": info.name, "shape": list(info.shape), "dtype": info.dtype.name}
            if info.quantized:
                data.update(scale=info.scale, zero_point=info.zero_point)
            return data

        return {
            "path": str(self.path),
            "bytes": self.path.stat().st_size,
            "backend": f"{self.backend.name} {self.backend.version}",
            "input": tensor(self.input),
            "output": tensor(self.output),
            "contract": self.contract.to_json(),
            "labels": self.labels,
            "manifest": None if self.entry is None else {
                k: self.entry.get(k) for k in ("precision", "sha256", "dataset", "metrics")
            },
        }

    def __repr__(self):
        return f"Model({str(self.path)!r}, backend={self.backend.name!r}, input={self.input.dtype})"


def load(
    path,
    *,
    backend: Optional[str] = None,
    num_threads: Optional[int] = None,
    contract: Optional[InputContract] = None,
    verify_checksum: bool = True,
    isolate: Optional[bool] = None,
) -> Model:
    """Loads a .tflite or .onnx file.

    When a manifest.json beside the file lists it, its sha256 is checked first (unless
    verify_checksum=False) and its recorded input contract and labels are used; otherwise,
    or when `contract` is given, MNIST's contract (pixels / 255) applies.

    A file whose checksum was not verified against a manifest is first loaded and run in a
    child process (`isolate`, by default), so a file that crashes the native interpreter
    raises ModelFileError here instead of killing this process.
    """
    path = Path(path)
    if path.suffix.lower() == ".keras":
        raise ModelFileError(
            f"{path}: Keras models need TensorFlow; the runtime runs the exported .tflite and .onnx files"
        )
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    entry, labels = _manifest_entry(path)
    if entry is not None and verify_checksum:
        actual = sha256_file(path)
        if actual != entry.get("sha256"):
            raise ModelFileError(
                f"{path}: sha256 {actual[:12]}… does not match the manifest's {str(entry.get('sha256'))[:12]}…;"
                " the file changed since conversion (pass verify_checksum=False / --no-verify to load it anyway)"
            )
    if contract is None:
        contract = InputContract.from_json(entry["input"]) if entry and "input" in entry else InputContract()
    if isolate is None:
        isolate = not (entry is not None and verify_checksum)
    return Model(path, open_backend(path, backend, num_threads, isolate=isolate), contract, labels, entry)


def _manifest_entry(path: Path):
    """The manifest entry for `path` and the manifest's labels, or (None, None)."""
    if not (path.parent / MANIFEST_NAME).is_file():
        return None, None
    try:
        manifest = read_manifest(path.parent)
    except ManifestError as err:
        raise ModelFileError(f"{path}: {err}") from err
    return find_artifact(manifest, path.name), manifest.get("labels")
