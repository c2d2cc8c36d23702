"""The C engine of `python -m convert micro` (NAME.c and NAME.h: an int8 model as plain C99 that
gives TFLite Micro's bytes) as a backend, on any machine with a C compiler: the device's own
compiler (runtime/backends/c_compiler.py) builds it once into a shared library, which the
per-user cache keeps by content (runtime/backends/c_cache.py), and ctypes calls its
NAME_predict. Its tensors come from the header: int8 in and out, with the scale and zero point
the model's tensors have in TFLite Micro, so the runtime quantizes the contract's input and
dequantizes the output as it does for TFLM. Only the standard library and numpy.

`convert micro` checks every engine it writes through EngineLibrary, built with STRICT_FLAGS."""

from __future__ import annotations

import ctypes
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..errors import BackendUnavailableError, ModelFileError, one_line
from ..store.files import NotRegularFileError, open_regular
from .c_cache import LibraryCache, UnloadableLibraryError, default_cache, load_built
from .c_compiler import DEVICE_FLAGS, STRICT_FLAGS, Compiler, identify
from .tensors import TensorInfo, check_io

__all__ = ["DEVICE_FLAGS", "STRICT_FLAGS", "CBackend", "EngineHeader", "EngineLibrary", "compile_shared", "open_backend"]

KEY_VERSION = "1"
"""Part of every cache key: raised when how a library is built or called changes."""
MAX_SOURCE_BYTES = 1 << 30
"""A MobileNetV2's engine is ~20 MB of C; a source larger than this is refused before it is read."""
MAX_HEADER_BYTES = 1 << 16
_NAME = r"[A-Za-z][A-Za-z0-9_]{0,47}"


@dataclass(frozen=True)
class EngineHeader:
    """What NAME.h says of the engine: its name, and its int8 input and output tensors."""

    name: str
    input_bytes: int
    input_scale: float
    input_zero_point: int
    output_bytes: int
    output_scale: float
    output_zero_point: int

    @classmethod
    def parse(cls, text: str) -> "EngineHeader":
        """The header's #defines; ValueError saying what is missing or out of range."""
        names = re.findall(rf"^#define ({_NAME})_INPUT_BYTES \d+$", text, re.M)
        if len(names) != 1:
            raise ValueError("it is not the header of a C engine (expected one #define NAME_INPUT_BYTES)")
        name = names[0]

        def value(constant: str) -> str:
            match = re.search(rf"^#define {name}_{constant} \(?(-?[0-9][0-9.e+-]*)f?\)?$", text, re.M)
            if match is None:
                raise ValueError(f"it does not define {name}_{constant}")
            return match.group(1)

        fields = {}
        for role in ("input", "output"):
            count, scale, zero_point = (value(f"{role.upper()}_{c}") for c in ("BYTES", "SCALE", "ZERO_POINT"))
            fields[f"{role}_bytes"], fields[f"{role}_zero_point"] = int(count), int(zero_point)
            fields[f"{role}_scale"] = float(np.float32(scale))  # written as the float32 TFLM reads
            if not 0 < int(count) <= MAX_SOURCE_BYTES or not 0 < fields[f"{role}_scale"] < float("inf") \
                    or not -128 <= int(zero_point) <= 127:
                raise ValueError(f"its {role} ({count} bytes, scale {scale}, zero point {zero_point}) is not an int8 tensor")
        return cls(name, **fields)


class EngineLibrary:
    """NAME_predict of a generated engine, in a shared library built by this machine's C
    compiler and loaded through ctypes. `run` takes int8 arrays of any leading shape whose
    trailing elements are one input each. With `cache`, the library is kept (and looked for)
    there; without, it is built in a private temporary folder."""

    def __init__(self, source: Union[str, bytes], header: Union[str, bytes], name: Optional[str] = None, *,
                 flags=STRICT_FLAGS, compiler: Optional[str] = None, cache: Optional[LibraryCache] = None,
                 display: str = ""):
        source = source.encode() if isinstance(source, str) else bytes(source)
        header = header.encode() if isinstance(header, str) else bytes(header)
        what = display or f"{name or 'the'} C engine"
        try:
            self.header = EngineHeader.parse(header.decode("utf-8", "replace"))
        except ValueError as err:
            raise ModelFileError(f"{what}: its header: {err}") from err
        if name is not None and name != self.header.name:
            raise ModelFileError(f"{what}: its header defines the engine {self.header.name!r}, not {name!r}")
        self.name = self.header.name
        _check_sizes(source, self.header, what)
        self.compiler: Compiler = identify(compiler)
        key = hashlib.sha256("\n".join([KEY_VERSION, self.name, hashlib.sha256(source).hexdigest(),
                                        hashlib.sha256(header).hexdigest(), self.compiler.identity,
                                        " ".join(flags)]).encode()).hexdigest()

        def build(library: Path) -> None:
            (library.parent / f"{self.name}.h").write_bytes(header)
            (library.parent / f"{self.name}.c").write_bytes(source)
            self.compiler.compile_shared(library.parent / f"{self.name}.c", library, flags, what)

        try:
            loaded = cache.load(key, build) if cache is not None else load_built(build)
        except UnloadableLibraryError as err:
            raise BackendUnavailableError(f"{what}: the library {self.compiler.version} built cannot be loaded by this "
                                          f"Python ({one_line(err)}); is $CC a compiler for another machine?") from err
        self.origin = loaded.origin
        """Where the library came from: "cache", "built", or "built, not cached: <why>"."""
        try:
            self._predict = getattr(loaded.library, f"{self.name}_predict")
        except AttributeError as err:
            raise ModelFileError(f"{what}: it defines no {self.name}_predict") from err
        self._predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._predict.restype = ctypes.c_int
        self._lock = _library_lock(loaded.sha256)

    def run(self, x: np.ndarray) -> np.ndarray:
        """int8 inputs (n, ...) with input_bytes values each -> int8 outputs (n, output_bytes)."""
        x = np.ascontiguousarray(x)
        if x.dtype != np.int8:
            raise TypeError(f"x: got {x.dtype}, expected int8 (the model's quantized input)")
        batch = x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(1, -1)
        if batch.shape[1] != self.header.input_bytes:
            raise ValueError(f"x: got {batch.shape[1]} values per input, expected {self.header.input_bytes}")
        out = np.empty((len(batch), self.header.output_bytes), np.int8)
        predict, data, result, size, step = self._predict, batch.ctypes.data, out.ctypes.data, batch.shape[1], out.shape[1]
        with self._lock:
            for i in range(len(batch)):
                status = predict(data + i * size, result + i * step)
                if status != 0:
                    raise RuntimeError(f"{self.name}_predict returned {status}")
        return out


def _check_sizes(source: bytes, header: EngineHeader, what: str) -> None:
    """The sizes the source checks its header against (convert's generator writes the checks
    near its top, so that it compiles only with its own header) are the header's: NAME_predict
    reads and writes that many bytes of the buffers run() gives it."""
    start = source[:1 << 16].decode("utf-8", "replace")
    found = [re.search(rf"^typedef char {header.name}_header_matches_{role}\[\({header.name}_{role.upper()}_BYTES == "
                       rf"(\d+)\) \? 1 : -1\];$", start, re.M) for role in ("input", "output")]
    if None in found:
        raise ModelFileError(f"{what}: it does not check its header ({header.name}_header_matches_input and _output); "
                             "write it again with this version's `python -m convert micro`")
    sizes = tuple(int(match.group(1)) for match in found)
    if sizes != (header.input_bytes, header.output_bytes):
        raise ModelFileError(f"{what}: its header is another engine's: {header.input_bytes} input and "
                             f"{header.output_bytes} output bytes, where the source has {sizes[0]} and {sizes[1]}")


_LOCKS: dict = {}
_LOCKS_LOCK = threading.Lock()


def _library_lock(sha256: str) -> threading.Lock:
    """One lock per library loaded in this process: the engine works in one static arena, and
    two EngineLibrary objects of the same library share it."""
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(sha256, threading.Lock())


def compile_shared(source: Path, library: Path, compiler: Optional[str] = None, flags=STRICT_FLAGS) -> Path:
    """Compiles `source` (its header beside it) into the shared library `library` (no cache)."""
    return identify(compiler).compile_shared(Path(source), Path(library), flags)


class CBackend:
    """A C engine's NAME.c and, beside it, NAME.h, behind the backends' shape: `inputs` and
    `outputs` from the header (the input shaped as the contract's image when its size
    matches), `run(x)` one NAME_predict per image. Calls are serialised."""

    def __init__(self, path, image_shape: Optional[tuple] = None, cache: Optional[LibraryCache] = None):
        self.name = "c"
        path = Path(path)
        header_path = path.with_suffix(".h")
        source = _read(path, MAX_SOURCE_BYTES, str(path))
        header = _read(header_path, MAX_HEADER_BYTES, f"{path}: its header {header_path}")
        self.library = EngineLibrary(source, header, flags=DEVICE_FLAGS, cache=cache if cache is not None else default_cache(),
                                     display=str(path))
        spec = self.library.header
        shape = tuple(image_shape) if image_shape and int(np.prod(image_shape)) == spec.input_bytes else (spec.input_bytes,)
        self.inputs = [TensorInfo("input", (1, *shape), np.dtype(np.int8), spec.input_scale, spec.input_zero_point)]
        self.outputs = [TensorInfo("output", (1, spec.output_bytes), np.dtype(np.int8), spec.output_scale,
                                   spec.output_zero_point)]
        check_io(path, self.inputs, self.outputs)

    @property
    def version(self) -> str:
        """The compiler that built it: "gcc 12.2.0"."""
        return self.library.compiler.version

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.library.run(x).reshape((len(x),) + self.outputs[0].shape[1:])


def _read(path: Path, limit: int, owner: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; ModelFileError naming `owner` else."""
    try:
        with open_regular(path) as f:
            size = f.seek(0, 2)
            if size > limit:
                raise ModelFileError(f"{owner}: {size:,} bytes, more than the {limit:,} a C engine's file may have")
            f.seek(0)
            return f.read(limit + 1)
    except NotRegularFileError as err:
        raise ModelFileError(f"{owner}: {err}") from err
    except FileNotFoundError as err:
        raise ModelFileError(f"{owner}: not found (a C engine is NAME.c with its NAME.h beside it)") from err
    except OSError as err:
        raise ModelFileError(f"{owner}: cannot read it: {err.strerror or err}") from err


def open_backend(path, name: str, module, options) -> CBackend:
    """The family's opener (runtime.backends.open_backend): `module` is the compiler module."""
    return CBackend(path, options.image_shape)
