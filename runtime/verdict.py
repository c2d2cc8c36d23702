"""The verdict on one artifact: does it give the trained model's answers, as far as the
reference images can show?

A lossy artifact (int8, float16, dynamic range) is judged on its accuracy change against the
float Keras model, as a paired comparison on the same images: only the images where exactly
one of the two is right carry information, and n images leave an uncertainty that the
verdict states. It fails when the images show a loss (one-sided 95%) whose size is beyond
the user's budget (`max_drop`); a change they cannot tell apart from zero, or a gain, never
fails. Without labels the loss is bounded by the disagreement instead. A float32 artifact
must match the probabilities within a tight tolerance, with top-1 differences allowed only
where Keras's two best classes are within that tolerance of each other (a near-tie).

The interval is Agresti and Min's adjusted Wald interval for paired proportions (half an
image added to each of the four cells), which keeps a sensible width when no image, or one,
differs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from .tables import plural, pp

Z_95 = 1.6448536269514722
"""One-sided 95% normal quantile: the printed bounds and the decision use it."""
DEFAULT_MAX_DROP = 0.01
"""A lossy artifact may lose at most 1 percentage point of accuracy (what the images show)."""
DEFAULT_FLOAT_MAX_DP = 1e-4
"""float32: the largest |p_artifact - p_keras| of any class on any image."""
LOSSY_PRECISIONS = ("int8", "float16", "dynamic")


@dataclass(frozen=True)
class Limits:
    """The user's budget; recorded in the manifest, so `runtime parity` repeats the judgement."""

    max_drop: float = DEFAULT_MAX_DROP
    """Largest accuracy loss of a lossy artifact, as a fraction (0.01 = 1 pp)."""
    float_max_dp: float = DEFAULT_FLOAT_MAX_DP
    """Largest |Δp| of a float32 artifact."""

    def __post_init__(self):
        for name in ("max_drop", "float_max_dp"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: got {value!r}, expected a finite number >= 0")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data) -> "Limits":
        if not isinstance(data, dict):
            return cls()
        return cls(**{k: float(v) for k, v in data.items() if k in ("max_drop", "float_max_dp")})


@dataclass(frozen=True)
class PairedChange:
    """The accuracy change of an artifact against Keras on the same labelled images."""

    images: int
    keras_right: int
    artifact_right: int
    lost: int
    """Images Keras gets right and the artifact wrong."""
    gained: int
    """Images the artifact gets right and Keras wrong."""

    @classmethod
    def measure(cls, keras_top1: np.ndarray, artifact_top1: np.ndarray, labels: np.ndarray) -> "PairedChange":
        k, a = keras_top1 == labels, artifact_top1 == labels
        return cls(int(len(labels)), int(k.sum()), int(a.sum()), int(np.sum(k & ~a)), int(np.sum(a & ~k)))

    @property
    def delta(self) -> float:
        """artifact accuracy - Keras accuracy, from counts (5 of 1,000 is exactly 0.005)."""
        return (self.gained - self.lost) / self.images if self.images else 0.0

    def _adjusted(self) -> tuple:
        n = self.images + 2
        b, c = self.lost + 0.5, self.gained + 0.5
        centre = (c - b) / n
        spread = math.sqrt(max((b + c) / n - centre**2, 0.0) / n)
        return centre, spread

    @property
    def lower(self) -> float:
        """The 95% bound below the change: the artifact is no worse than this."""
        centre, spread = self._adjusted()
        return max(-1.0, centre - Z_95 * spread)

    @property
    def upper(self) -> float:
        """The 95% bound above the change; below 0, the images show a loss."""
        centre, spread = self._adjusted()
        return min(1.0, centre + Z_95 * spread)

    def images_for(self, max_drop: float) -> Optional[int]:
        """About how many images, at this rate of disagreement in being right, would show a
        loss no larger than max_drop (None: no number would, the loss itself is larger)."""
        rate = max((self.lost + self.gained + 1) / (self.images + 2), 1e-6)
        margin = max_drop + min(self.delta, 0.0)
        if margin <= 0:
            return None
        return int(math.ceil(Z_95**2 * rate / margin**2))


def wilson_bounds(k: int, n: int) -> tuple:
    """One-sided 95% Wilson bounds (lower, upper) of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p, z2 = k / n, Z_95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    spread = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - spread), min(1.0, centre + spread)


@dataclass
class Verdict:
    """Passed or not, the sentence that says why, and the numbers it rests on."""

    passed: bool
    rule: str
    """"float": probabilities within a tolerance; "accuracy": the paired accuracy change;
    "agreement": no labels, the disagreement bounds the loss; "sanity": not comparable at all."""
    summary: str
    """One sentence with the measured change, its bound and the number of images."""
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    """What the images cannot show, e.g. too few for the budget."""
    numbers: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"passed": self.passed, "rule": self.rule, "summary": self.summary, **self.numbers}


def non_finite_rows(probs: np.ndarray) -> int:
    return int(np.count_nonzero(~np.all(np.isfinite(probs.reshape(len(probs), -1)), axis=1))) if len(probs) else 0


def judge(precision: str, probs: np.ndarray, keras_probs: np.ndarray, labels: Optional[np.ndarray],
          limits: Limits = Limits()) -> Verdict:
    """The verdict on an artifact's outputs `probs` against Keras's on the same images."""
    n = len(keras_probs)
    base = {"images": n, "limits": limits.to_json()}
    if probs.shape != keras_probs.shape:
        why = f"output shape {probs.shape} differs from the reference's {keras_probs.shape}"
        return Verdict(False, "sanity", why, [why], numbers=base)
    bad = non_finite_rows(probs)
    if bad:
        why = f"output has NaN or infinite values on {bad} of {n} {plural(n, 'image')}"
        return Verdict(False, "sanity", why, [why], numbers=dict(base, non_finite_images=bad))
    if precision not in LOSSY_PRECISIONS:
        return _judge_float(probs, keras_probs, limits, base)
    if labels is not None:
        return _judge_accuracy(probs, keras_probs, labels, limits, base)
    return _judge_agreement(probs, keras_probs, limits, base)


def _judge_float(probs, keras_probs, limits: Limits, base: dict) -> Verdict:
    tolerance = limits.float_max_dp
    diff = np.abs(probs.astype(np.float64) - keras_probs)
    ordered = np.sort(keras_probs, axis=1)
    margin = ordered[:, -1] - ordered[:, -2] if keras_probs.shape[1] > 1 else np.ones(len(keras_probs))
    differ = probs.argmax(1) != keras_probs.argmax(1)
    ties = int(np.count_nonzero(differ & (margin <= 2 * tolerance)))
    numbers = dict(base, max_abs_dp=float(diff.max()) if diff.size else 0.0, top1_differ=int(differ.sum()),
                   near_ties=ties)
    return _decide_float(numbers, limits)


def _decide_float(numbers: dict, limits: Limits) -> Verdict:
    n, tolerance, max_dp = numbers["images"], limits.float_max_dp, numbers["max_abs_dp"]
    ties = numbers["near_ties"]
    real = numbers["top1_differ"] - ties
    failures = []
    if not max_dp <= tolerance:
        failures.append(f"max |Δp| {max_dp:.2e} > {tolerance:g}")
    if real:
        failures.append(f"top-1 differs from Keras on {real} of {n} {plural(n, 'image')} that are not near-ties")
    summary = f"max |Δp| {max_dp:.2e} (limit {tolerance:g}) on {n} {plural(n, 'image')}"
    summary += f", top-1 as Keras except {ties} {plural(ties, 'near-tie')}" if ties else ", top-1 as Keras on every image"
    return Verdict(not failures, "float", summary, failures, numbers=numbers)


def _judge_accuracy(probs, keras_probs, labels, limits: Limits, base: dict) -> Verdict:
    change = PairedChange.measure(keras_probs.argmax(1), probs.argmax(1), labels)
    numbers = dict(base, keras_right=change.keras_right, artifact_right=change.artifact_right, lost=change.lost,
                   gained=change.gained, delta=change.delta, lower=change.lower, upper=change.upper)
    return _decide_accuracy(change, numbers, limits)


def _decide_accuracy(change: PairedChange, numbers: dict, limits: Limits) -> Verdict:
    n, budget = change.images, limits.max_drop
    summary = f"{pp(change.delta)} (95%: no worse than {pp(change.lower)}), {n} {plural(n, 'image')}"
    detail = f"Keras right and this wrong on {change.lost}, the reverse on {change.gained}"
    if change.upper < 0 and -change.delta > budget:
        why = (f"accuracy {pp(change.delta)} on {n} {plural(n, 'image')} ({detail}): a loss these images show (95%: at least "
               f"{-change.upper * 100:.2f} pp), beyond the {budget * 100:.2f} pp budget (--max-drop)")
        return Verdict(False, "accuracy", summary, [why], numbers=numbers)
    notes = []
    if change.lower < -budget:
        needed = change.images_for(budget)
        more = f"; about {needed:,} would at this rate of disagreement" if needed else ""
        notes.append(f"{n} {plural(n, 'image')} cannot show that the loss is within the {budget * 100:.2f} pp budget "
                     f"(95%: no worse than {pp(change.lower)}){more}; not failed, as they show no loss beyond it")
    return Verdict(True, "accuracy", summary, notes=notes, numbers=numbers)


def _judge_agreement(probs, keras_probs, limits: Limits, base: dict) -> Verdict:
    differ = int(np.count_nonzero(probs.argmax(1) != keras_probs.argmax(1)))
    low, high = wilson_bounds(differ, len(keras_probs))
    return _decide_agreement(dict(base, top1_differ=differ, disagreement_lower=low, disagreement_upper=high), limits)


def _decide_agreement(numbers: dict, limits: Limits) -> Verdict:
    n, budget, differ = numbers["images"], limits.max_drop, numbers["top1_differ"]
    low, high = numbers["disagreement_lower"], numbers["disagreement_upper"]
    summary = (f"top-1 differs from Keras on {differ} of {n} {plural(n, 'image')} (95%: at most {high:.2%}); no labels, so the "
               "accuracy change is not measured and the disagreement bounds the loss")
    if low > budget:
        why = (f"top-1 differs from Keras on {differ} of {n} {plural(n, 'image')} (95%: at least {low:.2%}), more than the "
               f"{budget * 100:.2f} pp budget allows in the worst case; labelled data would measure the loss itself")
        return Verdict(False, "agreement", summary, [why], numbers=numbers)
    return Verdict(True, "agreement", summary, numbers=numbers)


def rejudge(recorded: Optional[dict], limits: Limits) -> Optional[Verdict]:
    """The recorded verdict (Verdict.to_json, as the manifest holds it) judged again with other
    limits, from its counts; None when nothing usable was recorded."""
    if not isinstance(recorded, dict):
        return None
    numbers = {k: v for k, v in recorded.items() if k not in ("passed", "rule", "summary")}
    numbers["limits"] = limits.to_json()
    try:
        if recorded.get("rule") == "float":
            return _decide_float(numbers, limits)
        if recorded.get("rule") == "accuracy":
            change = PairedChange(*(int(numbers[k]) for k in ("images", "keras_right", "artifact_right", "lost", "gained")))
            return _decide_accuracy(change, numbers, limits)
        if recorded.get("rule") == "agreement":
            return _decide_agreement(numbers, limits)
    except (KeyError, TypeError, ValueError):
        return None
    return None


def chance_level(labels: np.ndarray, classes: int) -> float:
    """Accuracy of always answering the commonest class (1/classes on balanced data)."""
    if len(labels) == 0:
        return 1.0 / classes
    return max(float(np.bincount(labels, minlength=classes).max()) / len(labels), 1.0 / classes)


def reference_problems(keras_probs: np.ndarray, labels: Optional[np.ndarray]) -> tuple:
    """(problem, kind) about the Keras model's own outputs on the reference images, or (None, None).
    kind is "non-finite", "below-chance" or "at-chance"."""
    n = len(keras_probs)
    bad = non_finite_rows(keras_probs)
    if bad:
        return f"the Keras model outputs NaN or infinite values on {bad} of {n} held-out {plural(n, 'image')}", "non-finite"
    if labels is None or n == 0:
        return None, None
    classes = keras_probs.shape[1]
    right = int(np.count_nonzero(keras_probs.argmax(1) == labels))
    chance = chance_level(labels, classes)
    low, high = wilson_bounds(right, n)
    scored = f"the Keras model scores {right / n:.3f} on its own {n} held-out {plural(n, 'image')}"
    if high < chance:
        return f"{scored}, below chance ({chance:.2f} for {classes} {plural(classes, 'class', 'classes')})", "below-chance"
    if low <= chance:
        return f"{scored}, at or near chance ({chance:.2f} for {classes} {plural(classes, 'class', 'classes')})", "at-chance"
    return None, None
