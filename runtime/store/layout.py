"""The models folder's layout: the name of every file and folder that train, convert and the
runtime write or read inside it, in one place (the device package, which convert and train
import), so that no package spells one of them on its own.

    models/
      manifest.json                MANIFEST_NAME: every file below with its sha256, input contract,
                                   labels and parity metrics; what was rejected and why
      <model>.keras                keras_name(model): the Keras model, trained or the user's
      reference.npz                REFERENCE_NAME: held-out images, labels and Keras's probabilities
      calibration.npz              CALIBRATION_NAME: training images that calibrate int8
      <model>_<precision>.tflite   artifact_name(model, precision, "tflite"), and .onnx likewise
      micro/                       MICRO_FOLDER, from `convert micro`: micro_files(name)
        <name>_model_data.cc         the model as a 16-byte-aligned C array
        <name>_model_data.h          its declaration, length and the tensor arena's size
        <name>_ops.h                 the op resolver for exactly the model's ops
        <name>.c, <name>.h           the C engine: the int8 model as plain C99 (convert/micro_engine.py)
      web/                         WEB_FOLDER, from `convert web`: the page
        index.html                   WEB_INDEX_NAME, with its style sheet and scripts
        model.json                   WEB_CONFIG_NAME: which model file, its contract and labels
        <model>_<precision>.onnx     the model it runs, and onnxruntime-web's files
      .models.lock                 LOCK_NAME: held by whoever writes the folder
      .manifest.lock               MANIFEST_LOCK_NAME: the manifest and its files change together
"""

from __future__ import annotations

MANIFEST_NAME = "manifest.json"
REFERENCE_NAME = "reference.npz"
CALIBRATION_NAME = "calibration.npz"
LOCK_NAME = ".models.lock"
"""Held (flock) by a command that writes the models folder, so two never write it at once."""
MANIFEST_LOCK_NAME = ".manifest.lock"
"""Held while the manifest and the files it lists are changed or read together."""
MICRO_FOLDER = "micro"
WEB_FOLDER = "web"
WEB_INDEX_NAME = "index.html"
WEB_CONFIG_NAME = "model.json"
"""The page's settings: which model file, its input contract, labels and threshold."""


def keras_name(model: str) -> str:
    """The Keras model's file name: `mnist_mlp.keras`."""
    return f"{model}.keras"


def artifact_name(model: str, precision: str, file_format: str) -> str:
    """An exported file's name: `mnist_mlp_int8.tflite`."""
    return f"{model}_{precision}.{file_format}"


def micro_files(name: str) -> dict:
    """The C++ files of `convert micro` for `name` (`mnist_mlp_int8`), relative to the models folder."""
    return {"source": f"{MICRO_FOLDER}/{name}_model_data.cc", "header": f"{MICRO_FOLDER}/{name}_model_data.h",
            "ops_header": f"{MICRO_FOLDER}/{name}_ops.h"}
