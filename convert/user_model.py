"""A user's own Keras image classifier, made ready for conversion (`python -m convert ...
--keras MODEL.keras --data DATA`): the model is inspected and its input contract set, the
data read and split into a few calibration images and a held-out reference bundle of every
other image (never the same images), and a fresh models folder written as `python -m train` writes one (through
runtime.store.folder.ModelsFolder.create). Everything is checked before anything is written."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from runtime.contract import InputContract
from runtime.errors import ToolkitError
from runtime.store.arrays import ArrayFileError
from runtime.store.bundles import Reference
from runtime.store.folder import FolderContents, ModelsFolder
from runtime.store.layout import UnusableNameError, check_model_name
from runtime.store.manifest import Manifest
from runtime.tables import plural
from runtime.verdict import reference_problems
from runtime.workstation.architecture import describe_architecture
from train.data import DataError, check_class_names, open_npz, read_class_names, read_labels_file

from .keras_file import load_keras

CALIBRATION_IMAGES = 200
"""int8 calibration takes at most this many images, and `convert` calibrates on this many of
the calibration bundle by default: benchmarks/calibration_count.py measured int8 accuracy and
agreement against the count (25 to 2,000) on the seed MLP, the CNN and tests/zoo.py's models,
and no row improved with the count beyond the spread between draws (docs/conversion.md)."""
MIN_CALIBRATION_IMAGES = 25
"""...and at least this many (the fewest measured), when the data has twice as many."""
CALIBRATION_SHARE = 10
"""A user's data gives one image in this many to calibration (between the two bounds above),
every other image to the verdict, whose bound narrows with the square root of its images."""
MAX_REFERENCE = 10_000
"""At most this many reference images (MNIST's test set): each file is run on all of them at
conversion and by `runtime parity` on the device; the bound they give is about ±0.2 pp."""
MAX_REFERENCE_BYTES = 256 * 2**20
"""...and at most this many bytes of pixels (1,700 images of 224x224 RGB), for the device's memory."""
SPLIT_SEED = 0
"""The reference/calibration split is fixed: the same data gives the same split."""
PROBABILITY_TOLERANCE = 1e-3
"""Outputs whose rows sum to 1 within this are taken as probabilities; others as logits."""
MAX_LABEL_ARRAY_BYTES = 256 << 20
"""The largest y read (32 million int64 labels); one that declares more is refused unread."""
MAX_IMAGES_BYTES = 1 << 30
"""The images conversion uses (at most MAX_REFERENCE held out, and the calibration images) may take this
much; the data's other images are read a slice at a time and never kept."""
RAW_PIXEL_MEAN = 1.5
"""A leading Normalization layer whose mean exceeds this was adapted on raw pixels 0..255."""


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
    input_scale: Optional[float] = None
    """The model's input is pixel / input_scale (1: the model has its own Rescaling layer);
    None: from the model, 1 if it begins with its own Rescaling or raw-pixel Normalization, else 255."""
    mean: tuple = ()
    std: tuple = ()
    preprocessing: str = "resize"
    """How predict prepares image files: resize, or mnist-digit for a 28x28 digit model."""
    resize: str = "crop"
    """crop, pad or stretch (see runtime.contract.RESIZE_MODES)."""


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


def load_data(path, contract: InputContract, log=print, order: Optional[list] = None) -> tuple:
    """(uint8 images (N, *image_shape), int labels (N,) or None, class names or None) from an
    .npz (x, optionally y and class_names) or a folder of class subfolders. `order`: class
    names in the model's output order (--labels); a folder's subfolders of those names are
    numbered in that order."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path, contract, log, order)
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder (expected an .npz with x [and y], or a folder with one "
                        "subfolder of images per class)")
    try:
        with open_npz(path) as data:
            if "x" not in data.files:
                raise DataError(f"{path}: no array 'x'; expected x (uint8 images) and optionally y (labels) "
                                f"and class_names; found {', '.join(data.files) or 'nothing'}")
            info = data.info("x")
            y = data.read("y", MAX_LABEL_ARRAY_BYTES) if "y" in data.files else None
            names = read_class_names(data) if "class_names" in data.files else None
    except ArrayFileError as err:
        raise DataError(str(err)) from err
    if info.dtype.kind not in "iu":
        raise DataError(f"{path}: x has dtype {info.dtype}, expected uint8 pixels 0..255")
    x = NpzImages(path, info, contract)
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
            raise DataError(f"{path}: y has shape {y.shape} and dtype {y.dtype}; expected {len(x)} integer labels")
    return x, y, names


class NpzImages:
    """The images `x` of an .npz, as many as its header declares (len), read when indexed:
    x[indices] reads the array a slice at a time and keeps only those images, so the data may
    hold millions while conversion uses the few thousand it holds out and calibrates with."""

    def __init__(self, path: Path, info, contract: InputContract):
        self.path, self.info, self.contract = path, info, contract
        shape = info.shape
        if shape == tuple(contract.image_shape):  # one image, given without its batch axis
            shape = (1, *shape)
        expected = f"(N, {', '.join(map(str, contract.image_shape))})"
        try:
            contract.check_shape(np.empty((0, *shape[1:]), np.uint8))
        except (ValueError, IndexError) as err:
            raise DataError(f"{path}: x has shape {info.shape}, but the model takes images shaped {contract.image_shape} "
                            f"(expected x shaped {expected})") from err
        self.count = shape[0] if shape else 0

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, indices) -> np.ndarray:
        indices = np.asarray(indices, np.int64)
        try:
            with open_npz(self.path) as data:
                if self.info.shape == tuple(self.contract.image_shape):
                    x = data.read("x", MAX_IMAGES_BYTES)[np.newaxis][indices]
                else:
                    x = data.rows("x", indices, MAX_IMAGES_BYTES)
        except ArrayFileError as err:
            raise DataError(str(err)) from err
        if x.dtype != np.uint8:
            if x.size and (x.min() < 0 or x.max() > 255):
                raise DataError(f"{self.path}: x has dtype {x.dtype}, expected uint8 pixels 0..255")
            x = x.astype(np.uint8)
        return self.contract.check_shape(x)


def _load_folder(folder: Path, contract: InputContract, log, order: Optional[list] = None) -> tuple:
    """Keras's image_dataset_from_directory layout: folder/<class>/<image>; the subfolder
    names are the class names, numbered in sorted order (as Keras does), or in `order` when
    it names exactly those subfolders."""
    from runtime.errors import ImageError
    from runtime.preprocess.images import IMAGE_SUFFIXES, prepare_image

    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{folder}: no class subfolders; expected {folder}/<class name>/<images>")
    if order and sorted(order) == sorted(p.name for p in classes):
        classes = [folder / name for name in order]
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
    log(f"Read {len(images)} {plural(len(images), 'image')} in {len(classes)} {plural(len(classes), 'class', 'classes')} from {folder} ({contract.describe_preprocessing()})")
    return np.stack(images), np.asarray(labels, np.int64), [p.name for p in classes]


def calibration_count(count: int) -> int:
    """How many of `count` labelled images calibrate int8: one in CALIBRATION_SHARE, at least
    MIN_CALIBRATION_IMAGES and at most CALIBRATION_IMAGES, and never more than half."""
    return min(CALIBRATION_IMAGES, max(MIN_CALIBRATION_IMAGES, count // CALIBRATION_SHARE), count // 2)


def split(count: int, image_bytes: int = 1, labels: Optional[np.ndarray] = None, seed: int = SPLIT_SEED) -> tuple:
    """(reference indices, calibration indices), disjoint, drawn at random with a fixed seed
    (stratified_order when there are labels: any prefix holds each class's share):
    calibration_count(count) images calibrate int8, every other one is held out as the reference
    bundle the verdicts rest on (at most MAX_REFERENCE, and MAX_REFERENCE_BYTES of pixels at
    `image_bytes` each)."""
    if count < 2:
        raise DataError(f"the data has {count} {plural(count, 'image')}; at least 2 are needed (one to check, one to calibrate)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(count) if labels is None else stratified_order(np.asarray(labels), rng)
    calibration = order[:calibration_count(count)]
    most = min(MAX_REFERENCE, max(1, MAX_REFERENCE_BYTES // max(1, image_bytes)))
    return np.sort(order[len(calibration):][:most]), calibration


def stratified_order(labels: np.ndarray, rng) -> np.ndarray:
    """Every image's index, ordered so that any first k hold each class in proportion to its
    images (within one): the images of a class of n come at the fractions (i + u) / n of the
    way, i = 0..n-1 in random order and u one random offset per class, all classes merged by
    that fraction. Rounding each class's share separately would hold out nothing of 10,000
    classes of 2 images."""
    classes, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    grouped = np.lexsort((rng.random(len(labels)), inverse))  # by class, in random order within each
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(len(labels), np.int64)
    rank[grouped] = np.arange(len(labels)) - np.repeat(starts, sizes)
    fraction = (rank + rng.random(len(classes))[inverse]) / sizes[inverse]
    return np.lexsort((rng.random(len(labels)), fraction))


def output_kind(scores: np.ndarray) -> str:
    """"probabilities" (rows of non-negative values summing to 1), "sigmoid" (every value in
    0..1, rows not summing to 1: independent per-class scores, as multi-label models give) or
    "scores" (values outside 0..1: logits, or not a classifier's output at all)."""
    if np.all(scores >= -PROBABILITY_TOLERANCE) and np.allclose(scores.sum(1), 1.0, atol=PROBABILITY_TOLERANCE):
        return "probabilities"
    if np.all((scores >= -PROBABILITY_TOLERANCE) & (scores <= 1 + PROBABILITY_TOLERANCE)):
        return "sigmoid"
    return "scores"


def _probabilities(model, x: np.ndarray, path: Path, log) -> tuple:
    """(model, its probabilities on x, whether a Softmax was appended). Logits get a Softmax
    layer, so every artifact outputs probabilities (the top-1 class is unchanged); independent
    sigmoid scores are refused, since no class probability can honestly be shown for them."""
    import keras

    scores = model.predict(x, batch_size=256, verbose=0)
    problem, _ = reference_problems(scores, None)
    if problem:
        raise UserModelError(f"{path}: {problem.replace('the Keras model', 'it')}; nothing was written "
                             "(check the model's weights and its input contract)")
    kind = output_kind(scores)
    if kind == "probabilities":
        return model, scores, False
    if kind == "sigmoid":
        raise UserModelError(
            f"{path}: its outputs are independent scores in 0..1 whose rows do not sum to 1 (e.g. {_row(scores)}): "
            "a sigmoid (multi-label) output, not one probability per class. This toolkit checks single-label "
            "classifiers; end the model with a softmax layer if each image has one class")
    log(f"Note: {path.name} outputs logits, not probabilities (values from {scores.min():.3g} to {scores.max():.3g}; "
        "rows do not sum to 1): a Softmax layer is appended, so every artifact outputs class probabilities and the "
        "top-1 class is unchanged. If these outputs are not class scores (a regression), this toolkit does not apply.")
    wrapped = keras.Sequential([keras.Input(model.inputs[0].shape[1:], name="image"), model, keras.layers.Softmax()],
                               name=model.name)
    return wrapped, wrapped.predict(x, batch_size=256, verbose=0), True


def _row(scores: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in scores[0][:6]) + (", ..." if scores.shape[1] > 6 else "") + "]"


def first_layer(model):
    """The first layer that computes something, looking inside nested models (a backbone used
    as a layer) and past input layers."""
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        if hasattr(layer, "layers") and layer.layers:
            return first_layer(layer)
        return layer
    return None


def own_scaling(model) -> Optional[str]:
    """How the model scales raw pixels itself, described ("Rescaling(scale 0.00392)"), or None."""
    layer = first_layer(model)
    name = layer.__class__.__name__ if layer is not None else ""
    config = layer.get_config() if layer is not None else {}
    if name == "Rescaling":
        scale = config.get("scale")
        if isinstance(scale, (int, float)) and abs(scale) >= 0.5:
            return None  # scales up: the model expects floats already
        return f"a Rescaling layer (scale {scale:.4g})" if isinstance(scale, (int, float)) else "a Rescaling layer"
    if name == "Normalization":
        mean = getattr(layer, "mean", None)
        mean = np.asarray(config.get("mean") if mean is None else mean, dtype=np.float64)
        if mean.size and float(np.max(mean)) > RAW_PIXEL_MEAN:
            return f"a Normalization layer adapted on raw pixels (mean {float(np.mean(mean)):.4g})"
    return None


def input_scale_for(model, options: "UserModelOptions", path: Path, log) -> float:
    """The contract's pixel scale: the user's, else what the model's first layer implies.
    A user's scale that contradicts the model's own rescaling is refused with the fix."""
    scaling = own_scaling(model)
    if options.input_scale is None:
        if scaling:
            log(f"{path.name} begins with {scaling}, so it takes raw pixels 0..255: input scale 1 "
                "(pass --input-scale to say otherwise)")
            return 1.0
        return 255.0
    if scaling and options.input_scale != 1:
        raise UserModelError(
            f"{path}: it begins with {scaling}, so it takes raw pixels 0..255, but --input-scale "
            f"{options.input_scale:g} would feed it pixel / {options.input_scale:g}, scaled twice; leave "
            "--input-scale out (or pass 1)")
    if scaling and (options.mean or options.std) and "Normalization" in scaling:
        raise UserModelError(f"{path}: it begins with {scaling}; --mean/--std would normalise twice; leave them out")
    return float(options.input_scale)


def check_held_out_accuracy(probs: np.ndarray, labels: Optional[np.ndarray], options: "UserModelOptions",
                            contract: InputContract, names: list, path: Path) -> None:
    """Refuses a model that scores at, near or below chance on its own held-out images: the
    comparison of any file with it would mean nothing. Names the likely cause."""
    problem, kind = reference_problems(probs, labels)
    if problem is None:
        return
    if Path(options.data).is_dir():
        order = (f"the class folders were read in {'the order of ' + str(options.labels) if options.labels else 'sorted order'}"
                 f" ({', '.join(names[:10])}{', ...' if len(names) > 10 else ''}); if the model's outputs are in "
                 "another order, pass --labels FILE with the folder names in the model's output order, one per line")
    else:
        order = "check that y uses the model's class numbering (0 = its first output)"
    scale = (f"the model's input here is {contract.formula()}; a model that rescales by itself takes --input-scale 1, "
             "one trained on 0..1 floats --input-scale 255")
    cause = (f"the labels are probably in another order than the model's outputs: {order}" if kind == "below-chance"
             else f"the input contract is probably not the model's ({scale}), or the class order differs ({order})")
    raise UserModelError(f"{path}: {problem}; nothing was written. Likely cause: {cause}")


def prepare_user_model(options: UserModelOptions, log=print) -> Manifest:
    """Checks the model, the data and the labels, then writes the models folder."""
    path = Path(options.keras)
    try:
        check_model_name(path.stem, f"{path}: its file name")
    except UnusableNameError as err:
        raise UserModelError(f"{err}; rename the file") from err
    order = read_labels_file(options.labels) if options.labels else None
    model = load_keras(path)
    image_shape, classes = image_shape_and_classes(model, path)
    if order is not None and len(order) != classes:
        raise UserModelError(f"{options.labels}: {len(order):,} class {plural(len(order), 'name')}, but {path.name} outputs "
                             f"{classes} {plural(classes, 'class', 'classes')}")
    scale = input_scale_for(model, options, path, log)
    try:
        contract = InputContract(image_shape=image_shape, pixel_scale=scale, mean=tuple(options.mean),
                                 std=tuple(options.std), preprocessing=options.preprocessing, resize=options.resize)
    except ValueError as err:
        raise UserModelError(f"{path}: {err}") from err
    models = Path(options.models)
    _check_folder_is_free(models, path.stem)

    x, y, names = load_data(options.data, contract, log, order)
    if order:
        names = order
    names = names or [str(k) for k in range(classes)]
    source = options.labels or options.data
    names = check_class_names(names, str(source))
    if len(names) != classes:
        raise UserModelError(f"{source}: {len(names)} class {plural(len(names), 'name')}, but {path.name} outputs {classes} {plural(classes, 'class', 'classes')}")
    if y is not None and len(y) and (y.min() < 0 or y.max() >= classes):
        raise DataError(f"{options.data}: labels span {y.min()}..{y.max()}, expected 0..{classes - 1} for {classes} {plural(classes, 'class', 'classes')}")
    reference, calibration = split(len(x), int(np.prod(contract.image_shape)), y)  # uint8 pixels: a byte each
    held_out = x[reference]
    x_ref = contract.model_input(held_out)
    model, probs, appended = _probabilities(model, x_ref, path, log)
    check_held_out_accuracy(probs, None if y is None else y[reference], options, contract, names, path)
    accuracy = None if y is None else float(np.mean(probs.argmax(1) == y[reference]))
    unused = len(x) - len(reference) - len(calibration)
    log(f"Data: {options.data}: {len(x)} {plural(len(x), 'image')}, {classes} {plural(classes, 'class', 'classes')} ({', '.join(names[:8])}"
        f"{', ...' if len(names) > 8 else ''}); {len(reference)} held out for parity, {len(calibration)} for calibration"
        + (f", {unused} unused (a reference bundle holds at most {len(reference):,} images of this size)" if unused else "")
        + ("" if y is not None else "; no labels, so agreement only"))
    if accuracy is not None:
        log(f"Keras accuracy on the {len(reference)} held-out images: {accuracy:.4f}")
    contents = FolderContents(
        name=path.stem, contract=contract, labels=names,
        dataset={"name": str(options.data), "train": len(calibration), "test": len(reference)},
        reference=Reference(held_out, None if y is None else y[reference].astype(np.int64),
                            np.asarray(probs, np.float32)),
        calibration_images=x[calibration], architecture=describe_architecture(model), accuracy=accuracy,
    )

    def write_keras(tmp: Path) -> None:
        if appended:
            model.save(tmp)  # with the Softmax appended
        else:
            shutil.copyfile(path, tmp)  # the user's file, byte for byte

    return ModelsFolder.create(models, contents, write_keras, log=log).manifest


def _check_folder_is_free(models: Path, stem: str) -> None:
    """A models folder holds one model: refuse to replace another model's manifest."""
    if not ModelsFolder.holds_manifest(models):
        return
    try:
        folder = ModelsFolder.open(models)
    except ToolkitError:
        return  # unreadable: nothing to keep, ModelsFolder.create replaces it
    if folder.manifest.model != stem:
        raise UserModelError(f"{models} holds the model {folder.manifest.model!r}: convert {stem!r} into a folder of its "
                             f"own (--models {models / stem}), or remove {folder.manifest_path} first")
