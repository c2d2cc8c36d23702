"""Device-side inference for exported image classifiers (.tflite, .onnx): `load(path)`,
`prepare_image(file or array, model)` as `python -m runtime predict` prepares an image, and
`Model.predict(uint8 images)`; the parity check and benchmarks are commands. Needs numpy and
one interpreter package (ai-edge-litert, tflite-runtime or onnxruntime); never TensorFlow or
Keras. Typed (py.typed)."""

from .contract import InputContract
from .errors import BackendUnavailableError, ImageError, InputShapeError, ManifestError, ModelFileError, ToolkitError
from .model import Model, load
from .preprocess.preparation import prepare_image

__all__ = [
    "BackendUnavailableError",
    "ImageError",
    "InputContract",
    "InputShapeError",
    "ManifestError",
    "Model",
    "ModelFileError",
    "ToolkitError",
    "load",
    "prepare_image",
]
