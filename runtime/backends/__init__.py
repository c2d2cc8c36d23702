"""The interpreters that run a model file, one module per family, all with the same shape:
`inputs` and `outputs` describe the tensors (tensors.TensorInfo), `run(x)` returns the first
output, `name` and `version` say which package ran it. Model code never asks which backend it
holds. Interpreter packages are imported only when a backend is opened.

Here: the families, LiteRT and tflite-runtime (tflite), onnxruntime (onnx_runtime), TFLite
Micro (tflm, which tries each arena in a child first) and the C engine of `convert micro`
(c_engine: built by the device's C compiler, c_compiler, kept in a private cache, c_cache);
which PyPI package provides each (interpreters); the first load of a file no manifest vouches for, in a child (probe, and
probe_cache, which remembers passes); the protocol of every child (child); the interpreters'
own stderr lines (native_output). Another family is one more module with an
`open_backend(path, name, module, options)`, a line in FAMILIES and its package in
interpreters.

May import: the shared vocabulary, the store (file safety) and this package; never the
library or the apps."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import BackendUnavailableError, ModelFileError
from .interpreters import PACKAGES, import_backend

BACKENDS = ("litert", "tflite-runtime", "onnxruntime", "tflite-micro", "c")
"""Names accepted by `--backend` and `load(..., backend=)`."""

BACKENDS_FOR_FORMAT = {".tflite": ("litert", "tflite-runtime"), ".onnx": ("onnxruntime",), ".c": ("c",)}
"""Which backends can run a file, in order of preference."""
ON_REQUEST = {".tflite": ("tflite-micro",)}
"""Backends used only when named: TFLite Micro runs batch-1 models (`python -m convert micro`),
not every .tflite file, and only on x86_64 Linux (runtime/backends/tflm.py)."""
FAMILIES = {"litert": "tflite", "tflite-runtime": "tflite", "onnxruntime": "onnx_runtime", "tflite-micro": "tflm",
            "c": "c_engine"}
"""Backend name -> the module of this package that opens it (its `open_backend`)."""
MAX_THREADS = 64
"""The most interpreter threads asked of a backend: LiteRT crashes with 100,000 and onnxruntime
takes minutes to start 5,000; no model here gains beyond a few per core."""
CHECKS_ITS_OWN_FILES = ("tflite-micro",)
"""Backends that load every file in a child process first themselves (with its arena), so
`load` need not probe it."""


def model_format(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in BACKENDS_FOR_FORMAT:
        raise ModelFileError(
            f"{path}: unknown model format {suffix!r}; expected a .tflite or .onnx file (or the .c of `convert micro`)"
        )
    return suffix[1:]


def available_backends(path) -> list:
    """The installed backends that can run this file, in order of preference."""
    found = []
    for name in BACKENDS_FOR_FORMAT[Path(path).suffix.lower()]:
        try:
            import_backend(name)
        except BackendUnavailableError:
            continue
        found.append(name)
    return found


def choose_backend(path, backend: Optional[str] = None) -> str:
    """The backend that will run `path`: `backend` if given (checked against the file's
    format), else the first installed one for its format; BackendUnavailableError names the
    package to install when there is none."""
    suffix = "." + model_format(path)
    candidates = BACKENDS_FOR_FORMAT[suffix]
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"backend: got {backend!r}, expected one of {', '.join(BACKENDS)}")
        if backend not in candidates + ON_REQUEST.get(suffix, ()):
            raise ValueError(
                f"backend {backend!r} cannot run {suffix} files; use {' or '.join(candidates)}"
            )
        candidates = (backend,)
    errors = []
    for name in candidates:
        try:
            import_backend(name)
        except BackendUnavailableError as err:
            errors.append(err)
            continue
        return name
    if candidates == ("c",):
        raise BackendUnavailableError(f"cannot run {path}: {errors[-1]}") from errors[-1]
    raise BackendUnavailableError(
        f"cannot run {path}: no interpreter for {suffix} files is installed; {_install_hint(candidates)}"
    ) from errors[-1]


@dataclass(frozen=True)
class OpenOptions:
    """How a family opens a file (each uses what applies to it)."""

    num_threads: Optional[int] = None
    """Interpreter threads; None: the interpreter's default."""
    quiet: bool = True
    """Drop the interpreter's status lines on stderr (runtime.backends.native_output)."""
    image_shape: Optional[tuple] = None
    """The input contract's image shape: a TFLite model whose input differs is refused before
    its tensors are allocated."""
    arena_bytes: Optional[int] = None
    """TFLite Micro's tensor arena (None: TFLM's own default for the file's size)."""

    def __post_init__(self):
        check_threads(self.num_threads)


def check_threads(num_threads) -> None:
    """TypeError or ValueError unless `num_threads` is None or a whole number 1..MAX_THREADS."""
    if num_threads is None:
        return
    if isinstance(num_threads, bool) or not isinstance(num_threads, int):
        raise TypeError(f"num_threads: got {type(num_threads).__name__} {num_threads!r}, expected a whole number")
    if not 1 <= num_threads <= MAX_THREADS:
        raise ValueError(f"num_threads: got {num_threads}, expected 1..{MAX_THREADS}")


def open_backend(path, backend: str, num_threads: Optional[int] = None, quiet: bool = True,
                 image_shape: Optional[tuple] = None, arena_bytes: Optional[int] = None):
    """Opens `path` in this process with the named backend (see choose_backend), through its
    family's module (FAMILIES); see OpenOptions for the rest."""
    module = import_backend(backend)
    family = importlib.import_module(f".{FAMILIES[backend]}", __name__)
    return family.open_backend(path, backend, module, OpenOptions(num_threads, quiet, image_shape, arena_bytes))


def _install_hint(candidates) -> str:
    """What to install to run one of `candidates`. On 32-bit ARM (the 32-bit Raspberry Pi OS)
    only tflite-runtime has wheels on PyPI: ai-edge-litert and onnxruntime have none."""
    import platform

    if platform.machine() not in ("armv7l", "armv6l"):
        return "pip install " + " or ".join(PACKAGES[name] for name in candidates)
    import sys

    if sys.version_info[:2] > (3, 11):  # 32-bit Raspberry Pi OS 13 (trixie): Python 3.13
        if "onnxruntime" in candidates:
            return ("onnxruntime has no 32-bit ARM wheels, but Debian 13 packages it: sudo apt install python3-onnxruntime "
                    "(a venv sees it when made with --system-site-packages; `python -m runtime doctor` says more)")
        return (f"no TFLite interpreter has 32-bit ARM wheels for Python {sys.version_info[0]}.{sys.version_info[1]} "
                "(tflite-runtime's last are for 3.11, ai-edge-litert has none): run the .onnx artifacts with "
                "Debian's python3-onnxruntime (`python -m runtime doctor` says how)")
    extra = 'pip install "edge-mnist[tflite-runtime]"'
    if "tflite-runtime" in candidates:
        return f"{extra} (ai-edge-litert has no 32-bit ARM wheels)"
    if "litert" in candidates:
        return f"ai-edge-litert has no 32-bit ARM wheels: use --backend tflite-runtime and {extra}"
    return "onnxruntime has no 32-bit ARM wheels: run the .tflite artifacts, or use a 64-bit OS"
