"""Device-side inference for exported image classifiers (.tflite, .onnx): `load(path)` and
`Model.predict(uint8 images)`, the parity check, benchmarks and image preparation. Needs
numpy and one interpreter package (ai-edge-litert, tflite-runtime or onnxruntime); never
TensorFlow or Keras."""

from .contract import InputContract
from .errors import BackendUnavailableError, ManifestError, ModelFileError, ToolkitError
from .model import Model, load

__all__ = [
    "BackendUnavailableError",
    "InputContract",
    "ManifestError",
    "Model",
    "ModelFileError",
    "ToolkitError",
    "load",
]
