"""Device-side inference for exported image classifiers (.tflite, .onnx): `load(path)`,
`prepare_image(file or array, model)` as `python -m runtime predict` prepares an image,
`Model.predict(uint8 images)`, and `classify(model, image)`, the answer predict prints (a
`Prediction`); the parity check and benchmarks are commands. Needs numpy and one interpreter
package (ai-edge-litert, tflite-runtime or onnxruntime); never TensorFlow or Keras. Typed
(py.typed).

The package's rooms, each with its own docstring: this top level holds the public API (model,
prediction) and the vocabulary every part shares (contract, verdict, errors, tables, untrusted); store/
owns the models folder and file safety; backends/ wraps each interpreter family; preprocess/
makes images into inputs; evaluate/ measures parity and time; apps/ holds the commands;
workstation/ what only the training machine runs. doctor.py stands alone (standard library
only)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .contract import InputContract
    from .errors import (BackendUnavailableError, ImageError, InputShapeError, ManifestError, ModelFileError,
                         ToolkitError)
    from .model import Model, load
    from .prediction import Prediction, classify
    from .preprocess.images import prepare_image

_HOMES = {
    "InputContract": ".contract", "BackendUnavailableError": ".errors", "ImageError": ".errors",
    "InputShapeError": ".errors", "ManifestError": ".errors", "ModelFileError": ".errors", "ToolkitError": ".errors",
    "Model": ".model", "load": ".model", "Prediction": ".prediction", "classify": ".prediction",
    "prepare_image": ".preprocess.images",
}
"""Where each public name is defined; imported on first use, so that `import runtime` (and
`python -m runtime doctor`, which must run when numpy is missing or broken) needs nothing."""


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)


__all__ = [
    "BackendUnavailableError",
    "ImageError",
    "InputContract",
    "InputShapeError",
    "ManifestError",
    "Model",
    "ModelFileError",
    "Prediction",
    "ToolkitError",
    "classify",
    "load",
    "prepare_image",
]
