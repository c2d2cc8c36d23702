"""Keras model to a float ONNX file. Keras 3's own exporter is used: tf2onnx's
`from_keras` does not understand Keras 3 models."""

from __future__ import annotations

import warnings
from pathlib import Path

ONNX_PRECISIONS = ("float32",)


def export_onnx(model, path: Path) -> None:
    """Writes `path` and checks it with onnx.checker."""
    import numpy as np
    import onnx

    # Keras refuses to export a freshly loaded model that has never been called.
    model(np.zeros((1, *model.input_shape[1:]), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probes the removed np.object
        model.export(str(path), format="onnx", verbose=False)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
