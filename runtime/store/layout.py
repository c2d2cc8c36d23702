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

import unicodedata
from pathlib import PurePosixPath

from ..errors import ToolkitError

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


MAX_MODEL_NAME = 100
"""Characters in a model name: its longest file name (`<model>_float16_micro_model_data.cc`)
stays well inside the 255 bytes a file system allows."""
NAME_FORBIDDEN = frozenset('/\\<>:"|?*')
"""What no model name holds: path separators, and what Windows forbids in a file name (a
models folder is copied between systems)."""


class UnusableNameError(ToolkitError, ValueError):
    """A model name or a listed path that would make the toolkit write outside the models
    folder, or a file name no system can hold."""


def check_model_name(name, source: str) -> str:
    """`name` if it can be the stem of every file named after the model (layout above): one
    file name, no path in it, no control character, not hidden; else UnusableNameError naming
    `source` (where the name came from) and what is wrong."""
    if not isinstance(name, str) or not name:
        raise UnusableNameError(f"{source}: the model's name is {name!r}; expected a non-empty text")
    problem = None
    if len(name) > MAX_MODEL_NAME:
        problem = f"is {len(name)} characters long (at most {MAX_MODEL_NAME})"
    elif any(c in NAME_FORBIDDEN for c in name):
        problem = f"holds {next(c for c in name if c in NAME_FORBIDDEN)!r}, which no file name may hold"
    elif any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        problem = "holds a control or formatting character"
    elif name[0] in ". " or name[-1] in ". ":
        problem = "starts or ends with a dot or a space"
    if problem:
        raise UnusableNameError(f"{source}: the model's name {name!r} {problem}; the toolkit names the model's files "
                                "after it (letters, digits, '-', '_' and inner dots or spaces are fine)")
    return name


def check_listed_path(path, source: str) -> str:
    """`path` if it names a file inside the models folder: relative, in forward slashes, no
    `..`, no control character; else UnusableNameError (a manifest that lists `../x` must not
    make a command read or write outside the folder)."""
    if not isinstance(path, str) or not path:
        raise UnusableNameError(f"{source}: path {path!r}; expected a file name inside the models folder")
    parts = PurePosixPath(path).parts
    if (path.startswith("/") or "\\" in path or any(part in ("..", ".") for part in parts)
            or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in path)):
        raise UnusableNameError(f"{source}: path {path!r} does not name a file inside the models folder")
    return path


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
