"""TensorFlow's start-up and converter chatter, hidden unless asked for (`--verbose`): the
absl "All log messages before absl::InitializeLog()" warning, oneDNN's I0000 lines, an E0000
line about `use_unbounded_threadpool` during the first epoch, the converter's warnings.
A user takes them for failure. Must run before TensorFlow is imported."""

from __future__ import annotations

import os
import warnings

QUIET_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}
"""TF_CPP_MIN_LOG_LEVEL alone does not silence the import: oneDNN's notice and absl's
warning go only when oneDNN's custom ops are off too (measured with tensorflow-cpu 2.21)."""


def quiet_tensorflow(verbose: bool = False) -> None:
    """Sets the environment (values the user set are kept) and filters the converter's and
    Keras's warnings, unless `verbose`."""
    if verbose:
        return
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(keras|tensorflow|tf2onnx|onnx)")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(keras|tensorflow|tf2onnx)")
