"""Device-side inference for the exported MNIST models. Needs numpy and one interpreter
package (ai-edge-litert, tflite-runtime or onnxruntime); never TensorFlow or Keras."""

from .contract import InputContract
from .errors import BackendUnavailableError, ManifestError, ModelFileError
from .model import Model, load

__all__ = [
    "BackendUnavailableError",
    "InputContract",
    "ManifestError",
    "Model",
    "ModelFileError",
    "load",
]
