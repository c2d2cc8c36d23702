"""A user's own Keras image classifier, made ready for conversion (`python -m convert ...
--keras MODEL.keras --data DATA`): the model is inspected and its input contract set, the
data read and split into a held-out reference bundle and a calibration pool (never the same
images), and a fresh models folder written as `python -m train` writes one. Everything is
checked before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from runtime.contract import InputContract
from runtime.errors import ToolkitError, one_line
from runtime.manifest import MANIFEST_NAME, Manifest, read_manifest
from train.data import DataError, check_class_names, open_npz, read_labels_file
from train.outputs import CALIBRATION_POOL, ModelOutputs, describe_architecture, write_outputs

REFERENCE_FRACTION = 0.2
"""Share of the data held out as the reference bundle."""
MAX_REFERENCE = 1000
"""At most this many reference images: enough to measure agreement to a tenth of a percent."""
SPLIT_SEED = 0
"""The reference/calibration split is fixed: the same data gives the same split."""
PROBABILITY_TOLERANCE = 1e-3
"""Outputs whose rows sum to 1 within this are taken as probabilities; others as logits."""


class UserModelError(ToolkitError, ValueError):
    """The model or the data cannot be used (said in one line, before anything is written)."""


@dataclass
class UserModelOptions:
    """What `convert --keras MODEL --data DATA` was asked to do."""

    keras: str
    """The user's .keras file."""
    data: str
    """An .npz with x (uint8 images) and optionally y and class_names, or a folder with one
    subfolder of images per class."""
    models: str
    """The models folder to set up."""
    labels: Optional[str] = None
    """A file with one class name per line; else the folder names, else the .npz's, else 0..N-1."""
    input_scale: float = 255.0
    """The model's input is pixel / input_scale (1: the model has its own Rescaling layer)."""
    mean: tuple = ()
    std: tuple = ()
    preprocessing: str = "resize"
    """How predict prepares image files: resize, or mnist-digit for a 28x28 digit model."""
    resize: str = "crop"
    """crop, pad or stretch (see runtime.contract.RESIZE_MODES)."""


def load_keras(path) -> object:
    """The model in Keras's safe mode: a file never runs code (no Lambda layers)."""
    import keras

    import zipfile

    from runtime.files import special_kind

    path = Path(path)
    kind = special_kind(path)
    if kind is not None:
        raise UserModelError(f"{path}: is {kind}, not a file (expected a Keras model saved as .keras)")
    if not path.is_file():
        raise UserModelError(f"{path}: no such file (expected a Keras model saved as .keras)")
    if path.suffix.lower() != ".keras":
        raise UserModelError(f"{path}: not a .keras file; save the model with model.save('name.keras')")
    if not zipfile.is_zipfile(path):  # Keras itself says "File not found" of such a file
        raise UserModelError(f"{path}: not a Keras model (a .keras file is a zip archive, and this file is not one); "
                             "save the model with model.save('name.keras')")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # Keras raises ValueError, TypeError, OSError, zipfile errors ... for bad files
        raise UserModelError(f"{path}: cannot load the Keras model in safe mode: {one_line(err)}") from err


def image_shape_and_classes(model, path) -> tuple:
    """((H, W) or (H, W, C), classes) of an image classifier, or UserModelError saying why
    the model is not one."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserModelError(f"{path}: the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                             "expected an image classifier with one input and one output")
    shape, output = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    image = shape[1:]
    if len(image) not in (2, 3) or not all(isinstance(d, int) and d > 0 for d in image) or (
            len(image) == 3 and image[2] not in (1, 3)):
        raise UserModelError(f"{path}: input shape {_dims(shape)} is not an image; expected (H, W) or (H, W, C) "
                             "with C 1 or 3 and every size fixed")
    if len(output) != 2 or not isinstance(output[1], int) or output[1] < 2:
        raise UserModelError(f"{path}: output shape {_dims(output)} is not one score per class; expected (N, classes)")
    return image, output[1]


def _dims(shape) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"


def load_data(path, contract: InputContract, log=print) -> tuple:
    """(uint8 images (N, *image_shape), int labels (N,) or None, class names or None) from an
    .npz (x, optionally y and class_names) or a folder of class subfolders."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path, contract, log)
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder (expected an .npz with x [and y], or a folder with one "
                        "subfolder of images per class)")
    try:
        with open_npz(path) as data:
            if "x" not in data.files:
                raise DataError(f"{path}: no array 'x'; expected x (uint8 images) and optionally y (labels) "
                                f"and class_names; found {', '.join(data.files) or 'nothing'}")
            x = data["x"]
            y = data["y"] if "y" in data.files else None
            names = [str(n) for n in data["class_names"].tolist()] if "class_names" in data.files else None
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npz file: {one_line(err)}") from err
    if x.dtype != np.uint8:
        if x.dtype.kind not in "iu" or x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(f"{path}: x has dtype {x.dtype}, expected uint8 pixels 0..255")
        x = x.astype(np.uint8)
    expected = f"(N, {', '.join(map(str, contract.image_shape))})"
    try:
        x = contract.check_shape(x)
    except ValueError as err:
        raise DataError(f"{path}: x has shape {x.shape}, but the model takes images shaped {contract.image_shape} "
                        f"(expected x shaped {expected})") from err
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
            raise DataError(f"{path}: y has shape {y.shape} and dtype {y.dtype}; expected {len(x)} integer labels")
    return x, y, names


def _load_folder(folder: Path, contract: InputContract, log) -> tuple:
    """Keras's image_dataset_from_directory layout: folder/<class>/<image>; the sorted
    subfolder names are the class names."""
    from runtime.images import IMAGE_SUFFIXES, ImageError, prepare_image

    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{folder}: no class subfolders; expected {folder}/<class name>/<images>")
    images, labels = [], []
    for k, sub in enumerate(classes):
        files = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{sub}: empty class folder (no {', '.join(IMAGE_SUFFIXES)} files)")
        for file in files:
            notes = []
            try:
                images.append(prepare_image(file, contract, notes))
            except ImageError as err:
                raise DataError(f"{err} (in the data folder; remove or fix it)") from err
            for note in notes:
                log(f"Note: {note}")
            labels.append(k)
    log(f"Read {len(images)} images in {len(classes)} classes from {folder} ({contract.describe_preprocessing()})")
    return np.stack(images), np.asarray(labels, np.int64), [p.name for p in classes]


def split(count: int, labels: Optional[np.ndarray], seed: int = SPLIT_SEED) -> tuple:
    """(reference indices, calibration indices), disjoint: REFERENCE_FRACTION of the images
    (at most MAX_REFERENCE, at least 1) held out, stratified by label when there are labels;
    the rest (at most CALIBRATION_POOL) for calibration."""
    if count < 2:
        raise DataError(f"the data has {count} image(s); at least 2 are needed (one to check, one to calibrate)")
    rng = np.random.default_rng(seed)
    wanted = min(MAX_REFERENCE, max(1, round(count * REFERENCE_FRACTION)))
    if labels is None:
        order = rng.permutation(count)
        return np.sort(order[:wanted]), order[wanted:][:CALIBRATION_POOL]
    held = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        held.append(members[: round(len(members) * wanted / count)])
    reference = np.sort(np.concatenate(held))
    if len(reference) == 0:
        reference = rng.permutation(count)[:1]
    rest = np.setdiff1d(np.arange(count), reference)
    return reference, rng.permutation(rest)[:CALIBRATION_POOL]


def _probabilities(model, x: np.ndarray) -> tuple:
    """(model, its probabilities on x, whether a Softmax was appended): a model whose outputs
    are not probabilities (logits) gets a Softmax layer, so every artifact outputs them."""
    import keras

    scores = model.predict(x, batch_size=256, verbose=0)
    if np.all(scores >= -PROBABILITY_TOLERANCE) and np.allclose(scores.sum(1), 1.0, atol=PROBABILITY_TOLERANCE):
        return model, scores, False
    wrapped = keras.Sequential([keras.Input(model.inputs[0].shape[1:], name="image"), model, keras.layers.Softmax()],
                               name=model.name)
    return wrapped, wrapped.predict(x, batch_size=256, verbose=0), True


def prepare_user_model(options: UserModelOptions, log=print) -> Manifest:
    """Checks the model, the data and the labels, then writes the models folder."""
    path = Path(options.keras)
    model = load_keras(path)
    image_shape, classes = image_shape_and_classes(model, path)
    try:
        contract = InputContract(image_shape=image_shape, pixel_scale=options.input_scale, mean=tuple(options.mean),
                                 std=tuple(options.std), preprocessing=options.preprocessing, resize=options.resize)
    except ValueError as err:
        raise UserModelError(f"{path}: {err}") from err
    _warn_about_rescaling(model, options, log)
    models = Path(options.models)
    _check_folder_is_free(models, path.stem)

    x, y, names = load_data(options.data, contract, log)
    if options.labels:
        names = read_labels_file(options.labels)
    names = names or [str(k) for k in range(classes)]
    source = options.labels or options.data
    names = check_class_names(names, str(source))
    if len(names) != classes:
        raise UserModelError(f"{source}: {len(names)} class names, but {path.name} outputs {classes} classes")
    if y is not None and len(y) and (y.min() < 0 or y.max() >= classes):
        raise DataError(f"{options.data}: labels span {y.min()}..{y.max()}, expected 0..{classes - 1} for {classes} classes")
    reference, calibration = split(len(x), y)
    x_ref = contract.model_input(x[reference])
    model, probs, appended = _probabilities(model, x_ref)
    if appended:
        log(f"Note: {path.name} outputs scores that are not probabilities; a Softmax layer is appended, so every "
            "artifact outputs probabilities.")
    accuracy = None if y is None else float(np.mean(probs.argmax(1) == y[reference]))
    log(f"Data: {options.data}: {len(x)} images, {classes} classes ({', '.join(names[:8])}"
        f"{', ...' if len(names) > 8 else ''}); {len(reference)} held out for parity, {len(calibration)} for calibration"
        + ("" if y is not None else "; no labels, so agreement only"))
    if accuracy is not None:
        log(f"Keras accuracy on the {len(reference)} held-out images: {accuracy:.4f}")
    outputs = ModelOutputs(
        name=path.stem, contract=contract, labels=names,
        dataset={"name": str(options.data), "train": len(calibration), "test": len(reference)},
        reference_images=x[reference], reference_labels=None if y is None else y[reference].astype(np.int64),
        reference_probs=np.asarray(probs, np.float32), calibration_images=x[calibration],
        architecture=describe_architecture(model), accuracy=accuracy,
    )
    return write_outputs(models, outputs, model=model if appended else None, keras_file=None if appended else path, log=log)


def _warn_about_rescaling(model, options: UserModelOptions, log) -> None:
    first = next((layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"), None)
    if first is not None and first.__class__.__name__ == "Rescaling" and options.input_scale != 1:
        log(f"Warning: {Path(options.keras).name} starts with a Rescaling layer (scale {first.get_config().get('scale')}), "
            f"so it probably takes raw pixels; its input here is pixel / {options.input_scale:g}. "
            "Pass --input-scale 1 if it rescales by itself.")


def _check_folder_is_free(models: Path, stem: str) -> None:
    """A models folder holds one model: refuse to replace another model's manifest."""
    if not (models / MANIFEST_NAME).is_file():
        return
    try:
        current = read_manifest(models).model
    except ToolkitError:
        return  # unreadable: nothing to keep, write_outputs replaces it
    if current != stem:
        raise UserModelError(f"{models} holds the model {current!r}: convert {stem!r} into a folder of its own "
                             f"(--models {models / stem}), or remove {models / MANIFEST_NAME} first")
