"""Which PyPI package provides each backend's interpreter, importing it only when asked (a
missing one is named with the line that installs it), and its version. The C engine's backend
needs no package but a C compiler (COMPILED): "importing" it finds the compiler."""

from __future__ import annotations

import importlib

from ..errors import BackendUnavailableError

MODULES = {
    "litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
    "onnxruntime": "onnxruntime",
    "tflite-micro": "tflite_micro",
}
COMPILED = {"c": "runtime.backends.c_compiler"}
"""Backends that need the device's C compiler instead of a package: the module that finds it."""
PACKAGES = {"litert": "ai-edge-litert", "tflite-runtime": "tflite-runtime", "onnxruntime": "onnxruntime",
             "tflite-micro": "tflite-micro"}
"""The PyPI package that provides each backend's module."""


def import_backend(name: str):
    """Imports the backend's module, or says which package to install (for a compiled
    backend: the compiler's module, once a compiler is found, or which package installs one)."""
    if name in COMPILED:
        module = importlib.import_module(COMPILED[name])
        module.find_compiler()
        return module
    try:
        return importlib.import_module(MODULES[name])
    except ImportError as err:
        raise BackendUnavailableError(
            f"backend {name!r} needs the package {PACKAGES[name]!r}: pip install {PACKAGES[name]}"
            f" ({err})"
        ) from err


def package_version(name: str) -> str:
    """The installed version of the backend's package, or "unknown"."""
    if name in COMPILED:
        compilers = importlib.import_module(COMPILED[name])
        try:
            return compilers.identify().version
        except BackendUnavailableError:
            return "unknown"
    from importlib import metadata

    try:
        return metadata.version(PACKAGES[name])
    except metadata.PackageNotFoundError:
        return "unknown"


class Versioned:
    """A backend's `version`, from its `name`."""

    name: str

    @property
    def version(self) -> str:
        """The interpreter package's version (looked up on demand: importlib.metadata is slow to import)."""
        return package_version(self.name)
