"""What a model's answer for one image is: the best class, the `top` best, whether the answer is
unsure (below a confidence threshold), and whether the outputs are probabilities at all or raw
scores (logits), which are shown as they are. `python -m runtime predict`, `watch` and the web
page's model.json all take it from here, so a notebook gets the command's answer in two lines:

    model = runtime.load("models/mnist_mlp_int8.tflite")
    print(runtime.classify(model, "digit.png", top=3).format())   # 7 (93.1%), 1 (4.0%), 9 (1.2%)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:  # numpy is imported by what makes the outputs; `python -m runtime doctor` runs without it
    import numpy as np

DEFAULT_MIN_CONFIDENCE = 0.7
"""Chosen on photo-like digits (benchmarks/photo_accuracy.py --confidence, the seed model); see
docs/photos.md, "How sure is an answer"."""
PROBABILITY_SUM_TOLERANCE = 0.02
"""A row of outputs is shown as probabilities when its values lie in 0..1 and sum to 1 within
this plus one int8 step (1/256) per class."""


def are_probabilities(probs) -> bool:
    """Whether one row of model outputs reads as class probabilities (not logits or scores)."""
    values = [float(v) for v in probs]
    slack = PROBABILITY_SUM_TOLERANCE + len(values) / 256
    return all(-1e-6 <= v <= 1 + 1e-6 for v in values) and abs(sum(values) - 1) <= slack


@dataclass(frozen=True)
class Prediction:
    """A model's answer for one image, as `python -m runtime predict` prints it (`format`) and
    reports it (`to_json`)."""

    label: str
    """The best class's label."""
    confidence: Optional[float]
    """The best class's probability; None when the outputs are not probabilities."""
    low_confidence: Optional[bool]
    """The best class's probability is below min_confidence; None for raw scores."""
    probabilities_shown: bool
    """The outputs read as probabilities (are_probabilities); False: raw scores, kept in order."""
    top: tuple
    """(label, value) of the best classes, best first: a probability, or a raw score."""
    values: dict
    """Every class's label -> its probability, or its raw score."""
    min_confidence: float
    """Answers whose probability is below this are unsure."""

    @classmethod
    def of(cls, probs, labels, top: int = 1, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> "Prediction":
        """The answer that one row of a model's outputs (`probs`, one value per label) gives."""
        if not 1 <= top <= len(labels):
            raise ValueError(f"top: got {top}, expected 1..{len(labels)} (the model's classes)")
        order = sorted(range(len(probs)), key=lambda k: -float(probs[k]))
        best, shown = order[0], are_probabilities(probs)
        return cls(label=labels[best], confidence=float(probs[best]) if shown else None,
                   low_confidence=bool(probs[best] < min_confidence) if shown else None, probabilities_shown=shown,
                   top=tuple((labels[k], float(probs[k])) for k in order[:top]),
                   values={labels[k]: float(probs[k]) for k in range(len(probs))}, min_confidence=min_confidence)

    @property
    def probabilities(self) -> Optional[dict]:
        """Every class's probability; None when the outputs are raw scores."""
        return self.values if self.probabilities_shown else None

    def to_json(self) -> dict:
        """The best class, its probability, the top classes, every class's probability, and
        whether the best is unsure; raw scores as `score` and `scores`, with confidence None."""
        if not self.probabilities_shown:
            return {
                "label": self.label, "confidence": None, "low_confidence": None, "probabilities_shown": False,
                "score": self.top[0][1],
                "top": [{"label": label, "confidence": None, "score": value} for label, value in self.top],
                "scores": dict(self.values),
            }
        return {
            "label": self.label,
            "confidence": self.confidence,
            "low_confidence": self.low_confidence,
            "probabilities_shown": True,
            "top": [{"label": label, "confidence": value} for label, value in self.top],
            "probabilities": dict(self.values),
        }

    def format(self) -> str:
        """`7 (93.1%)`, with top 3 `7 (93.1%), 1 (4.0%), 9 (1.2%)`, and `  [unsure: below 60%]` when
        low; outputs that are not probabilities: `7 (score 35.67)`."""
        if not self.probabilities_shown:
            return ", ".join(f"{label} (score {value:.4g})" for label, value in self.top)
        text = ", ".join(f"{label} ({value:.1%})" for label, value in self.top)
        if self.low_confidence:
            text += f"  [unsure: below {self.min_confidence:.0%}]"
        return text


def classify(model, image: Union[str, os.PathLike, np.ndarray], top: int = 1,
             min_confidence: float = DEFAULT_MIN_CONFIDENCE, notes: Optional[list] = None) -> Prediction:
    """`model`'s answer (a runtime.Model) for one image file or uint8 array, prepared as
    runtime.prepare_image prepares it: what `python -m runtime predict` prints for it. What
    reading a file noticed is appended to `notes` when given."""
    from .preprocess.images import prepare_image

    probs = model.predict(prepare_image(image, model, notes))[0]
    return Prediction.of(probs, model.labels, top, min_confidence)
