"""The two image bundles of a models folder, which `train` or `convert --keras` save beside the
Keras model: the reference bundle (held-out images, their labels when known, the Keras
probabilities), which every verdict rests on, on the workstation as on a device; and the
calibration bundle (training images, never reference ones), which int8 conversion draws on.
Read and written here only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ManifestError
from .arrays import ArrayFileError, NpzFile
from .files import atomic_path
from .layout import CALIBRATION_NAME, REFERENCE_NAME

CALIBRATION_POOL = 2000
"""Images kept for int8 calibration (convert --calibration-samples draws from these)."""
BUNDLE_MAX_BYTES = 512 << 20
"""The largest array a bundle may hold: 1,000 reference images of 224x224x3 are 150 MB, their
probabilities over 10,000 classes 40 MB; a bundle that declares more is refused unread."""


@dataclass(frozen=True)
class Reference:
    """Held-out images and what the float Keras model said about them."""

    images: np.ndarray
    """uint8 (N, *image_shape), as the input contract takes them."""
    labels: Optional[np.ndarray]
    """int (N,), the true classes; None when the data came without labels (agreement only)."""
    probs: np.ndarray
    """float32 (N, classes), the Keras model's output."""

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def accuracy(self) -> Optional[float]:
        return None if self.labels is None else float(np.mean(self.probs.argmax(1) == self.labels))


def load_reference(models_dir) -> Reference:
    """The folder's reference bundle; ManifestError when it is missing or not one (an array
    larger than BUNDLE_MAX_BYTES is refused before it is allocated)."""
    path = Path(models_dir) / REFERENCE_NAME
    if not path.is_file():
        raise ManifestError(f"{path} not found: run `python -m train` first")
    try:
        with NpzFile(path) as data:
            images, probs = data.read("images", BUNDLE_MAX_BYTES), data.read("probs", BUNDLE_MAX_BYTES)
            labels = data.read("labels", BUNDLE_MAX_BYTES) if "labels" in data else None
    except ArrayFileError as err:
        raise ManifestError(f"{err} (the folder's reference bundle)") from err
    except KeyError as err:
        raise ManifestError(f"{path} is not a valid reference bundle: it has no array {err}") from err
    n = len(images) if images.ndim else 0
    if (images.dtype != np.uint8 or images.ndim not in (3, 4) or probs.ndim != 2 or len(probs) != n
            or (labels is not None and labels.shape != (n,))):
        raise ManifestError(
            f"{path}: expected images uint8 (N, H, W[, C]), labels (N,) if any, probs (N, classes); got "
            f"{images.dtype} {images.shape}, {None if labels is None else labels.shape}, {probs.shape}"
        )
    return Reference(images, None if labels is None else labels.astype(np.int64), probs.astype(np.float32))


def load_calibration(models_dir) -> np.ndarray:
    """The folder's calibration images, uint8 (N, *image_shape); ManifestError when unreadable."""
    path = Path(models_dir) / CALIBRATION_NAME
    try:
        with NpzFile(path) as data:
            return data.read("images", BUNDLE_MAX_BYTES)
    except ArrayFileError as err:
        raise ManifestError(f"{err} (the folder's calibration bundle)") from err
    except KeyError as err:
        raise ManifestError(f"{path} is not a valid calibration bundle: it has no array {err}") from err


def save_bundles(models_dir, reference: Reference, calibration_images: np.ndarray) -> None:
    """Writes both bundles into `models_dir`, each atomically (the caller holds the folder's lock)."""
    arrays = {"images": reference.images, "probs": reference.probs.astype(np.float32)}
    if reference.labels is not None:
        arrays["labels"] = reference.labels
    _save_npz(Path(models_dir) / REFERENCE_NAME, **arrays)
    _save_npz(Path(models_dir) / CALIBRATION_NAME, images=calibration_images)


def _save_npz(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
