"""`load(path)` and the `Model` it returns: uint8 images in, probabilities out, whatever the
file's format, precision or input contract."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import numpy as np
import numpy.typing as npt

from .backends import CHECKS_ITS_OWN_FILES, check_threads, choose_backend, open_backend
from .contract import InputContract, dequantize, quantize
from .errors import InputShapeError, ManifestError, ModelFileError
from .store.files import manifest_lock, sha256_file, special_kind
from .store.folder import ModelsFolder, missing_file_reason
from .tables import plural

MAX_BATCH = 1024
"""Larger inputs are run in chunks of this many images, bounding the interpreter's memory."""

_TOP_BIT = np.uint8(128)
_UINT8 = np.dtype(np.uint8)
"""Compared with a dtype object, not the np.uint8 type (which numpy converts on every comparison)."""
OUTPUT_TABLE_MAX = 1024
"""Quantized outputs of up to this many values are dequantized by a 256-entry table, larger
ones by the arithmetic (the same values: the table is made with it). A lookup saves numpy's
per-call overhead on one image; on 1,000 images numpy's take is 2 to 3x slower than the arithmetic."""


class Model:
    """A loaded artifact. `predict` applies the input contract and any int8 quantization,
    so callers never handle scales or zero-points. Safe to share between threads."""

    def __init__(self, path, backend, contract: InputContract, labels=None, entry=None, contract_source: str = ""):
        self.path = Path(path)
        self.backend = backend
        self.contract = contract
        self.contract_source = contract_source
        """Where the contract came from: the manifest, the file's metadata, MNIST's default or the caller."""
        self.entry = entry
        """This artifact's manifest record (runtime.store.manifest.Artifact), when the file is listed in one."""
        self.input = backend.inputs[0]
        self.output = backend.outputs[0]
        classes = self.output.shape[-1]
        self.labels = [str(label) for label in labels] if labels else [str(k) for k in range(max(classes, 0))]
        self._check_shapes()
        # uint8 pixel value (and channel) -> quantized model input, made once with the general path.
        self._pixel_table = None
        if self.input.quantized:
            self._pixel_table = self._model_input(contract.scale_pixels(_pixel_values(contract.channels)))
        self.takes_pixels = self.input.dtype == np.uint8 and (
            not self.input.quantized or np.array_equal(self._pixel_table, _pixel_values(contract.channels)))
        """The model's input is uint8 pixels as they are: the contract's scaling is in its graph,
        or is its input's quantization (an int8 model with a uint8 input, scale 1/255, zero point 0)."""
        self._pixels_are_offset = self.input.dtype == np.int8 and np.array_equal(
            self._pixel_table, _pixel_values(contract.channels).astype(np.int16) - 128)
        """An int8 input of scale 1/255, zero point -128: `convert`'s int8 TFLite and TFLite Micro files."""
        self._run_offset_pixels = getattr(backend, "run_offset_pixels", None) if self._pixels_are_offset else None
        """A backend that flips the pixels' top bit as it writes its input tensor (TFLite's) offers this."""
        self._output_quantized = self.output.quantized  # a property that costs a microsecond: read once
        self._output_table = None
        if self.output.quantized and self.output.dtype.itemsize == 1:
            codes = np.arange(256, dtype=np.uint8).view(self.output.dtype)  # indexed by the byte's value
            self._output_table = dequantize(codes, self.output.scale, self.output.zero_point)

    def _check_shapes(self):
        want = tuple(self.contract.image_shape)
        got = tuple(self.input.shape[1:])
        if got != want:
            raise ModelFileError(
                f"{self.path}: model input shape {list(self.input.shape)} does not match the input contract's "
                f"image shape {want} ({self.contract_source})"
            )
        if len(self.output.shape) != 2 or self.output.shape[1] != len(self.labels):
            raise ModelFileError(
                f"{self.path}: model output shape {list(self.output.shape)} does not match {len(self.labels)} {plural(len(self.labels), 'label')}"
            )

    def predict(self, images: npt.ArrayLike) -> np.ndarray:
        """Probabilities (N, classes) as float32 for uint8 images (N, *image_shape) or one image."""
        x = np.asarray(images)
        run_offset_pixels = self._run_offset_pixels
        if run_offset_pixels is not None and x.dtype == _UINT8:  # the int8 TFLite path, kept short: one image takes µs
            pixels = x if x.shape[1:] == self.contract.image_shape else self.contract.check_shape(x)
            y = run_offset_pixels(pixels) if 0 < len(pixels) <= MAX_BATCH else self._in_batches(run_offset_pixels, pixels)
            return self._probabilities(y)
        if x.dtype == np.uint8:
            x = self.pixels_to_input(self.contract.check_shape(x))
        elif self.takes_pixels and not self.input.quantized:  # floats are pixel / pixel_scale: back to the pixels
            floats = self.contract.check_floats(self.contract.check_shape(x))
            x = np.round(floats * np.float32(self.contract.pixel_scale)).astype(np.uint8)
        else:
            x = self._model_input(self.contract.model_input(x))
        return self._probabilities(self._in_batches(self.backend.run, x))

    def _in_batches(self, run, x: np.ndarray) -> np.ndarray:
        """run(x), in chunks of at most MAX_BATCH images."""
        if len(x) <= MAX_BATCH:
            return run(x) if len(x) else np.zeros((0, len(self.labels)), self.output.dtype)
        return np.concatenate([run(x[i : i + MAX_BATCH]) for i in range(0, len(x), MAX_BATCH)])

    def _probabilities(self, y: np.ndarray) -> np.ndarray:
        """The model's output as float32 probabilities, dequantized with its own parameters."""
        if self._output_quantized:
            if self._output_table is not None and y.size <= OUTPUT_TABLE_MAX:
                return self._output_table.take(y.view(np.uint8))
            return dequantize(y, self.output.scale, self.output.zero_point)
        return y if y.dtype == np.float32 else y.astype(np.float32)

    def _model_input(self, x: np.ndarray) -> np.ndarray:
        """The contract's float input as the model's input tensor wants it (quantized if integer)."""
        if self.input.quantized:
            return quantize(x, self.input.scale, self.input.zero_point, self.input.dtype)
        return x.astype(self.input.dtype, copy=False)

    def pixels_to_input(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels to the model's input, identical to the general path, faster.

        A model that takes pixels (takes_pixels) gets them as they are. A float input is computed directly.
        A quantized input goes through a 256-entry table per channel made with _model_input;
        when that table is the int8 offset q = p - 128 (scale 1/255, zero point -128, no mean
        or std), flipping the top bit is the same mapping."""
        if self.takes_pixels:
            return pixels
        if self._pixels_are_offset:
            return (pixels ^ _TOP_BIT).view(np.int8)
        if not self.input.quantized:
            return self.contract.scale_pixels(pixels).astype(self.input.dtype, copy=False)
        if self._pixel_table.shape[1] == 1:
            return np.take(self._pixel_table[:, 0], pixels)
        return self._pixel_table[pixels, np.arange(self._pixel_table.shape[1])]

    def describe(self) -> dict:
        """What `python -m runtime info` prints: tensors, quantization, size, backend, contract,
        and what the file itself carries."""
        from .store.embedded import read_embedded

        embedded = read_embedded(self.path)
        return {
            "path": str(self.path),
            "bytes": self.path.stat().st_size,
            "backend": f"{self.backend.name} {self.backend.version}",
            "input": self.input.to_json(),
            "output": self.output.to_json(),
            "contract": self.contract.to_json(),
            "contract_source": self.contract_source,
            "takes_pixels": self.takes_pixels,
            "preprocessing": self.contract.describe_preprocessing(),
            "labels": self.labels,
            "embedded": None if embedded is None else embedded.to_json(),
            "manifest": None if self.entry is None else {
                "precision": self.entry.precision, "sha256": self.entry.sha256, "dataset": self.entry.dataset,
                "metrics": self.entry.metrics.to_json(),
            },
        }

    def __repr__(self):
        return f"Model({str(self.path)!r}, backend={self.backend.name!r}, input={self.input.dtype})"


def _pixel_values(channels: int) -> np.ndarray:
    """Every uint8 value once per channel: (256, channels)."""
    return np.repeat(np.arange(256, dtype=np.uint8)[:, np.newaxis], channels, axis=1)


def load(
    path: Union[str, os.PathLike],
    *,
    backend: Optional[str] = None,
    num_threads: Optional[int] = None,
    contract: Optional[InputContract] = None,
    verify_checksum: bool = True,
    isolate: Optional[bool] = None,
    quiet: bool = True,
) -> Model:
    """Loads a .tflite or .onnx file, or the C engine (NAME.c, NAME.h beside it) that
    `python -m convert micro` writes, which the machine's C compiler builds (once: the
    library is cached by content, runtime/backends/c_cache.py).

    The input contract and labels come from, in this order: `contract` if given; the
    manifest.json beside the file, when it lists the file (its sha256 is checked first,
    unless verify_checksum=False); the contract and labels embedded in the file itself;
    else MNIST's contract (28x28 uint8 pixels / 255) with labels 0..N-1.

    A file whose checksum was not verified against a manifest is first loaded and run in a
    child process (`isolate`, by default), so a file that crashes the native interpreter
    raises ModelFileError here instead of killing this process; once per file content and
    backend version (runtime/backends/probe_cache.py remembers passes). `quiet` drops the
    interpreter's status lines on stderr (False shows them).
    """
    check_threads(num_threads)
    path = _model_file(path)
    where, name = _listing_folder(path)
    if where is None:
        return _open(path, None, name, backend=backend, num_threads=num_threads, contract=contract,
                     verify_checksum=verify_checksum, isolate=isolate, quiet=quiet)
    with manifest_lock(where, shared=True):  # `convert` renames a file and rewrites its entry under this lock
        try:
            folder = ModelsFolder.open(where)
        except ManifestError as err:
            raise ModelFileError(f"{path}: {err}") from err
        return _open(path, folder, name, backend=backend, num_threads=num_threads, contract=contract,
                     verify_checksum=verify_checksum, isolate=isolate, quiet=quiet)


def _listing_folder(path: Path) -> tuple:
    """(the models folder whose manifest would list `path`, the name it would list it under):
    the file's own folder when it has a manifest; for a C engine (`convert micro` writes
    micro/NAME.c), the folder above when that one has a manifest; else (None, the file's name)."""
    if ModelsFolder.holds_manifest(path.parent):
        return path.parent, path.name
    if path.suffix.lower() == ".c" and ModelsFolder.holds_manifest(path.parent.parent):
        return path.parent.parent, f"{path.parent.name}/{path.name}"
    return None, path.name


def load_listed(folder: ModelsFolder, name: str, *, backend: Optional[str] = None, num_threads: Optional[int] = None,
                verify_checksum: bool = True, quiet: bool = True) -> Model:
    """The file `name` that an opened models folder lists, loaded as `load` loads a file beside
    its manifest, without reading the manifest again (parity loads every artifact of one).
    The caller holds the folder's read lock (ModelsFolder.reading) around it."""
    return _open(_model_file(folder.file(name)), folder, name, backend=backend, num_threads=num_threads, contract=None,
                 verify_checksum=verify_checksum, isolate=None, quiet=quiet)


def _checksums(path: Path, entry) -> list:
    """(file, the sha256 the manifest records for it): the artifact, and beside a C engine its
    header (compiled with it), when the manifest records the header's."""
    checks = [(path, entry.sha256)]
    header_sha256 = entry.extra.get("header_sha256")
    if entry.format == "c" and isinstance(header_sha256, str):
        checks.append((path.with_suffix(".h"), header_sha256))
    return checks


def _sha256_regular(path: Path) -> str:
    """sha256_file of a regular file; ModelFileError for anything else, or a missing file."""
    kind = special_kind(path)
    if kind is not None:
        raise ModelFileError(f"{path}: is {kind}, not a regular file")
    try:
        return sha256_file(path)
    except OSError as err:
        raise ModelFileError(f"{path}: cannot read it ({err.strerror or err})") from err


def _model_file(path) -> Path:
    """`path` if it names a regular file, else ModelFileError saying what it is (a conversion
    that rejected it is named, from the manifest beside it)."""
    path = Path(path)
    if path.suffix.lower() == ".keras":
        raise ModelFileError(
            f"{path}: Keras models need TensorFlow; the runtime runs the exported .tflite and .onnx files"
        )
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder; expected a .tflite or .onnx file (or the .c of `convert micro`)")
    if not path.is_file():
        kind = special_kind(path)
        if kind:
            raise ModelFileError(f"{path}: is {kind}, not a model file")
        raise ModelFileError(f"{path}: {missing_file_reason(path) or 'model file not found'}")
    return path


def _open(path: Path, folder: Optional[ModelsFolder], listed_as: str, *, backend, num_threads, contract,
          verify_checksum: bool, isolate, quiet: bool) -> Model:
    """A model file, with its entry in `folder` when it is listed there (as `listed_as`)."""
    entry = folder.entry(listed_as) if folder is not None else None
    if entry is not None and verify_checksum:
        for checked, expected in _checksums(path, entry):
            actual = _sha256_regular(checked)
            if actual != expected:
                raise ModelFileError(
                    f"{checked}: sha256 {actual[:12]}… does not match the manifest's {expected[:12]}…;"
                    " the file changed since conversion (pass verify_checksum=False / --no-verify to load it anyway)"
                )
    name = choose_backend(path, backend)
    if isolate is None:
        isolate = not (entry is not None and verify_checksum)
    labels = None
    if contract is not None:
        source = "given by the caller"
    elif entry is not None:
        contract, labels, source = entry.contract, entry.labels or folder.manifest.labels, f"from {folder.manifest_path}"
    else:
        from .store.embedded import read_embedded

        embedded = read_embedded(path)
        if embedded is not None and embedded.contract is not None:
            contract, labels, source = embedded.contract, embedded.labels, "embedded in the file"
        else:
            contract, source = InputContract(), "MNIST's default: the file carries no contract"
            labels = embedded.labels if embedded is not None else None
    if isolate and name not in CHECKS_ITS_OWN_FILES:
        from .backends.probe import probe

        probe(path, name)
    arena_bytes = folder.arena_bytes(listed_as) if folder is not None else None
    try:  # the contract is known before the interpreter allocates anything for the model's input
        opened = open_backend(path, name, num_threads, quiet, image_shape=contract.image_shape, arena_bytes=arena_bytes)
    except InputShapeError as err:
        raise InputShapeError(f"{err} ({source})") from err
    return Model(path, opened, contract, labels, entry, source)
