"""One model's answers on the reference images, tallied as the report shows them: confusion,
per-class accuracy and agreement with Keras, |Δp|, and the images they disagree on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

MAX_CONFUSION_CLASSES = 100
"""A confusion matrix is kept (and drawn) for at most this many classes: 10,000 classes would
make a 10^8-cell matrix (800 MB, and no figure anyone could read). Beyond, only the cells that
hold images are counted, and the per-class table says the rest."""


@dataclass(frozen=True)
class Analysis:
    """One model's answers on the reference images. Rows are the true classes when the
    reference has labels, else the Keras model's classes (agreement only)."""

    name: str
    probs: np.ndarray
    """float (N, classes) probabilities."""
    truth: Optional[np.ndarray]
    """int (N,) true classes of the reference images; None without labels."""
    rows: np.ndarray
    """int (N,) the class each image is counted under: the true one, else Keras's top-1."""
    confusion: Optional[np.ndarray]
    """int (classes, classes) counts: row = `rows` class, column = predicted class; None beyond
    MAX_CONFUSION_CLASSES classes."""
    cells: dict
    """The confusion's cells that hold images, however many classes: row * classes + column -> count."""
    class_right: np.ndarray
    """Per row class: images predicted as that class (the confusion's diagonal)."""
    class_images: np.ndarray
    """Per row class: how many reference images."""
    class_accuracy: Optional[np.ndarray]
    """Per true class: share predicted right (NaN when it has no images); None without labels."""
    class_agreement: np.ndarray
    """Per row class: share with the same top-1 class as the Keras model."""
    abs_dp: np.ndarray
    """|p - p_keras| for every image and class (float32: a histogram's precision)."""
    disagreements: np.ndarray
    """Indices of images whose top-1 class differs from Keras's, the largest max |Δp| first."""

    @property
    def accuracy(self) -> Optional[float]:
        return None if self.truth is None else float(np.mean(self.probs.argmax(1) == self.truth))

    @property
    def agreement(self) -> float:
        return 1.0 - len(self.disagreements) / len(self.rows) if len(self.rows) else 1.0


def analyse(name: str, probs: np.ndarray, reference) -> Analysis:
    """Confusion matrix, per-class figures and disagreements of `probs` against the reference."""
    classes = reference.probs.shape[1]
    truth = reference.labels
    top1, keras_top1 = probs.argmax(1), reference.probs.argmax(1)
    rows = keras_top1 if truth is None else truth
    codes, counts = np.unique(rows.astype(np.int64) * classes + top1, return_counts=True)
    cells = dict(zip(codes.tolist(), counts.tolist()))
    confusion = None
    if classes <= MAX_CONFUSION_CLASSES:
        confusion = np.zeros((classes, classes), dtype=np.int64)
        np.add.at(confusion, (rows, top1), 1)
    right = np.bincount(rows, weights=top1 == rows, minlength=classes).astype(np.int64)
    images = np.bincount(rows, minlength=classes)
    agree = np.bincount(rows, weights=top1 == keras_top1, minlength=classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = agree / images
        accuracy = None if truth is None else np.bincount(truth, weights=top1 == truth, minlength=classes) / images
    abs_dp = np.abs(probs.astype(np.float64) - reference.probs).astype(np.float32)
    differ = np.flatnonzero(top1 != keras_top1)
    largest_first = np.argsort(-abs_dp[differ].max(1, initial=0.0), kind="stable")
    return Analysis(name, probs, truth, rows, confusion, cells, right, images, accuracy, agreement, abs_dp,
                    differ[largest_first])


def changed_cells(a: Analysis, b: Analysis) -> int:
    """How many cells of the confusion hold a different count in `a` than in `b`."""
    return sum(a.cells.get(code, 0) != b.cells.get(code, 0) for code in a.cells.keys() | b.cells.keys())
