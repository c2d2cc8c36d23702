"""The verdict on one artifact: does it give the trained model's answers, as far as the
reference images can show? Three outcomes:

- verified: the images show (one-sided 95%) that the artifact is within the user's budget;
- refused: the images show that it is beyond the budget; it is not listed;
- unproven: they show neither. The file is listed as unproven, with the budget these images
  do prove and about how many images would settle it.

A lossy artifact (int8, float16, dynamic range, TFLite Micro, 16x8) is judged on its accuracy
change Δ against the float Keras model, as a paired comparison on the same images: only the
images where exactly one of the two is right carry information. Both outcomes that claim
something are one-sided score tests of Δ = -max_drop, so each errs at most about 5% of the
time at any number of images: a file whose true loss is beyond the budget is verified, or one
within it refused, at most that often (tests/test_verdict.py enumerates the rates exactly, and
benchmarks/verdict_error_rates.py prints them). A point estimate beyond the budget is never
verified. Without labels the loss is bounded by the top-1 disagreement with Keras, with exact
(Clopper-Pearson) binomial bounds. A float32 artifact must match the probabilities within a
tight tolerance, with top-1 differences allowed only where Keras's two best classes are within
that tolerance of each other (a near-tie); it is verified or refused.

The paired statistic is Tango's score for a difference of paired proportions, with Laud's
skewness correction and small-sample variance factor n/(n-1) (the SCAS method of Laud 2017,
"Equal-tailed confidence intervals for comparison of rates"), and a continuity adjustment of
CONTINUITY images. Agresti and Min's adjusted Wald interval, used before, verified a file that
loses exactly the budget up to 19% of the time when few images differ (e.g. 200 images, all
differences losses); Tango's plain score refused a file at the budget up to 9.5% of the time."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Optional

import numpy as np

from .tables import plural, pp

CONFIDENCE = 0.95
"""One-sided: what "the images show" means, for either outcome that claims something."""
Z_95 = 1.6448536269514722
"""The one-sided 95% normal quantile."""
CONTINUITY = 0.25
"""The paired score's continuity adjustment (Laud's cc, in images: |lost - gained - n*Δ| is
shrunk by 2 * CONTINUITY). With it, the worst exact error rate of either claim over every n
from 10 to 5,000 is 5.03% (budgets 0.25 to 10 pp); without it, SCAS verified a file that loses
exactly the budget up to 11.6% of the time (a few hundred images, none lost)."""
DEFAULT_MAX_DROP = 0.01
"""A lossy artifact may lose at most 1 percentage point of accuracy (what the images show)."""
DEFAULT_FLOAT_MAX_DP = 1e-4
"""float32: the largest |p_artifact - p_keras| of any class on any image."""
LOSSY_PRECISIONS = ("int8", "float16", "dynamic")
VERIFIED, UNPROVEN, REFUSED = "verified", "unproven", "refused"
STATUSES = (VERIFIED, UNPROVEN, REFUSED)
"""A listed file is verified or unproven; a refused one is not written."""
MOST_IMAGES = 10**9
"""images_for() gives up beyond this: the measured change is (nearly) the budget itself."""


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


def paired_score(lost, gained, images, delta0):
    """The skewness-corrected score statistic of H: Δ = delta0, where Δ is the artifact's
    accuracy minus Keras's: positive when the images say the artifact does better than delta0,
    about standard normal at Δ = delta0. `lost`, `gained` (images Keras gets right and the
    artifact wrong, and the reverse) and `images` may be arrays (numpy broadcasting); at least
    2 images. Tango's constrained maximum likelihood: with p_c = p_b + delta0, p_b is the root
    of 2n p^2 - ((b + c) - delta0 (2n + b - c)) p - b delta0 (1 - delta0) = 0."""
    b, c, n = (np.asarray(v, np.float64) for v in (lost, gained, images))
    d0 = float(delta0)
    quad_b = d0 * (2 * n + b - c) - (b + c)
    quad_c = -b * d0 * (1 - d0)
    p_lost = (-quad_b + np.sqrt(np.maximum(quad_b * quad_b - 8 * n * quad_c, 0.0))) / (4 * n)
    p_gained = p_lost + d0
    variance = np.maximum(2 * p_lost + d0 - d0 * d0, 0.0) / (n - 1)  # Var((c - b) / n), times n / (n - 1)
    third = (p_gained * (1 - d0) ** 3 - p_lost * (1 + d0) ** 3 - (1 - p_lost - p_gained) * d0**3) / (n * n)
    excess = (c - b) / n - d0
    excess = np.sign(excess) * np.maximum(np.abs(excess) - 2 * CONTINUITY / n, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plain = np.where(variance > 0, excess / np.sqrt(variance), np.sign(excess) * np.inf)
        skew = np.where(variance > 0, third / (6 * variance**1.5), 0.0)
        root = np.sqrt(np.maximum(1 + 4 * skew * (plain + skew), 0.0))
        corrected = np.where(np.abs(skew) > 1e-12, (root - 1) / (2 * np.where(skew == 0, 1, skew)), plain)
    corrected = np.where(np.isfinite(plain), corrected, plain)
    return np.where(excess == 0, 0.0, corrected)


def paired_status(lost, gained, images, max_drop):
    """"verified", "unproven" or "refused" for these counts and budget (arrays allowed): the
    score test of Δ = -max_drop, one-sided 95% either way; never verified when the measured
    change itself is beyond the budget."""
    score = paired_score(lost, gained, images, -max_drop)
    within = (np.asarray(gained) - np.asarray(lost)) >= -max_drop * np.asarray(images) - 1e-9
    return np.where((score >= Z_95) & within, VERIFIED, np.where(score <= -Z_95, REFUSED, UNPROVEN))


def _decreasing_root(function, target: float, low: float, high: float) -> float:
    """The x in [low, high] where the decreasing `function` crosses `target` (bisection)."""
    for _ in range(64):
        middle = (low + high) / 2
        if function(middle) >= target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


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

    def score(self, delta0: float) -> float:
        """paired_score of these counts (0 with fewer than 2 images: they show nothing)."""
        if self.images < 2:
            return 0.0
        return float(paired_score(self.lost, self.gained, self.images, delta0))

    def status(self, max_drop: float) -> str:
        if self.images < 2:
            return UNPROVEN
        return str(paired_status(self.lost, self.gained, self.images, max_drop))

    @cached_property
    def lower(self) -> float:
        """The 95% bound below the change: the artifact is no worse than this."""
        if self.images < 2 or self.score(-1 + 1e-12) < Z_95:
            return -1.0
        return _decreasing_root(self.score, Z_95, -1 + 1e-12, self.delta)

    @cached_property
    def upper(self) -> float:
        """The 95% bound above the change; below -max_drop, the images show a loss beyond it."""
        if self.images < 2 or self.score(1 - 1e-12) > -Z_95:
            return 1.0
        return _decreasing_root(self.score, -Z_95, self.delta, 1 - 1e-12)

    def proven_budget(self) -> float:
        """The smallest --max-drop (a fraction, rounded up to 0.1 pp) these images verify."""
        return max(0.0, math.ceil(round(-self.lower * 1000, 6)) / 1000)

    def images_for(self, max_drop: float) -> Optional[int]:
        """About how many images, at this rate of losses and gains, would settle the budget
        either way: verify the change or refuse it. None when no number would (the measured
        change is the budget itself, or nothing differs and the budget is 0)."""
        if self.images == 0:
            return None
        rates = self.lost / self.images, self.gained / self.images

        def settled(n: int) -> bool:
            return str(paired_status(rates[0] * n, rates[1] * n, n, max_drop)) != UNPROVEN

        high = max(self.images, 2)
        while not settled(high):
            if high > MOST_IMAGES:
                return None
            high *= 2
        low = high // 2
        while high - low > 1 and high > 2:
            middle = (low + high) // 2
            low, high = (low, middle) if settled(middle) else (middle, high)
        return high


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(K <= k) for K ~ Binomial(n, p), summed in log space (numpy only)."""
    if k < 0 or p >= 1:
        return 0.0 if k < n else 1.0
    if k >= n or p <= 0:
        return 1.0
    j = np.arange(1, k + 1)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log((n - j + 1) / j))])
    terms = log_choose + np.arange(k + 1) * math.log(p) + (n - np.arange(k + 1)) * math.log1p(-p)
    top = terms.max()
    return min(1.0, math.exp(top) * float(np.exp(terms - top).sum()))


def exact_bounds(k: int, n: int) -> tuple:
    """One-sided 95% Clopper-Pearson bounds (lower, upper) of a proportion k/n: each misses
    the true proportion at most 5% of the time, at any n."""
    if n == 0:
        return 0.0, 1.0
    alpha = 1 - CONFIDENCE
    lower = 0.0 if k == 0 else _decreasing_root(lambda p: binomial_cdf(k - 1, n, p), 1 - alpha, 0.0, 1.0)
    upper = 1.0 if k == n else _decreasing_root(lambda p: binomial_cdf(k, n, p), alpha, 0.0, 1.0)
    return lower, upper


def agreement_status(differ: int, n: int, max_drop: float) -> str:
    """No labels: verified when the images show the top-1 disagreement (which bounds the loss)
    within the budget, refused when they show it beyond, else unproven; exact binomial tests."""
    alpha = 1 - CONFIDENCE
    if n and binomial_cdf(differ, n, max_drop) <= alpha and differ / n <= max_drop:
        return VERIFIED
    if n and max_drop < 1 and 1 - binomial_cdf(differ - 1, n, max_drop) <= alpha:
        return REFUSED
    return UNPROVEN


EXACT_COUNTS = 100_000
"""agreement_images_for() tests exactly up to this many disagreements, then approximates."""


def agreement_images_for(differ: int, n: int, max_drop: float) -> Optional[int]:
    """About how many images at this rate of disagreement would settle the budget either way;
    None when no number would (the rate is the budget)."""
    rate = differ / n if n else 0.0
    if rate == max_drop:
        return None

    def settled(m: int) -> bool:
        k = round(rate * m)
        if k > EXACT_COUNTS:  # the normal approximation is close here, and the exact sums grow with k
            return abs(rate - max_drop) * math.sqrt(m) >= Z_95 * math.sqrt(rate * (1 - rate))
        return agreement_status(k, m, max_drop) != UNPROVEN

    high = max(n, 1)
    while not settled(high):
        if high > MOST_IMAGES:
            return None
        high *= 2
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if settled(middle) else (middle, high)
    return high


@dataclass
class Verdict:
    """The outcome, the sentence that says why, and the numbers it rests on."""

    status: str
    """"verified", "unproven" or "refused" (STATUSES); float32 and sanity rules are never unproven."""
    rule: str
    """"float": probabilities within a tolerance; "accuracy": the paired accuracy change;
    "agreement": no labels, the disagreement bounds the loss; "sanity": not comparable at all."""
    summary: str
    """One sentence that starts with the outcome, with the measured change, its bound and the
    number of images; for unproven, the budget these images prove and about how many would settle it."""
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    """What is worth knowing beyond the outcome."""
    numbers: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status: got {self.status!r}, expected one of {', '.join(STATUSES)}")

    @property
    def passed(self) -> bool:
        """May be listed: verified or unproven."""
        return self.status != REFUSED

    def to_json(self) -> dict:
        return {"status": self.status, "passed": self.passed, "rule": self.rule, "summary": self.summary, **self.numbers}


def budget_pp(value: float) -> str:
    """A budget as the user typed it with --max-drop: 0.01 -> "1 pp", 0.005 -> "0.5 pp"."""
    return f"{round(value * 100, 6):g} pp"


def non_finite_rows(probs: np.ndarray) -> int:
    return int(np.count_nonzero(~np.all(np.isfinite(probs.reshape(len(probs), -1)), axis=1))) if len(probs) else 0


def judge(precision: str, probs: np.ndarray, keras_probs: np.ndarray, labels: Optional[np.ndarray],
          limits: Limits = Limits()) -> Verdict:
    """The verdict on an artifact's outputs `probs` against Keras's on the same images."""
    n = len(keras_probs)
    base = {"images": n, "limits": limits.to_json()}
    if probs.shape != keras_probs.shape:
        why = f"output shape {probs.shape} differs from the reference's {keras_probs.shape}"
        return Verdict(REFUSED, "sanity", f"{REFUSED}: {why}", [why], numbers=base)
    bad = non_finite_rows(probs)
    if bad:
        why = f"output has NaN or infinite values on {bad} of {n:,} {plural(n, 'image')}"
        return Verdict(REFUSED, "sanity", f"{REFUSED}: {why}", [why], numbers=dict(base, non_finite_images=bad))
    if precision not in LOSSY_PRECISIONS:
        return _judge_float(probs, keras_probs, limits, base)
    if labels is not None:
        return _decide_accuracy(PairedChange.measure(keras_probs.argmax(1), probs.argmax(1), labels), base, limits)
    differ = int(np.count_nonzero(probs.argmax(1) != keras_probs.argmax(1)))
    return _decide_agreement(dict(base, top1_differ=differ), limits)


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
    """Two outcomes: a float file computes what Keras computes, or it does not."""
    n, tolerance, max_dp = numbers["images"], limits.float_max_dp, numbers["max_abs_dp"]
    ties = numbers["near_ties"]
    real = numbers["top1_differ"] - ties
    failures = []
    if not max_dp <= tolerance:
        failures.append(f"max |Δp| {max_dp:.2e} > {tolerance:g}")
    if real:
        failures.append(f"top-1 differs from Keras on {real} of {n:,} {plural(n, 'image')} that are not near-ties")
    status = REFUSED if failures else VERIFIED
    summary = f"{status}: max |Δp| {max_dp:.2e} (limit {tolerance:g}) on {n:,} {plural(n, 'image')}"
    summary += f", top-1 as Keras except {ties} {plural(ties, 'near-tie')}" if ties else ", top-1 as Keras on every image"
    return Verdict(status, "float", summary, failures, numbers=numbers)


def _decide_accuracy(change: PairedChange, base: dict, limits: Limits) -> Verdict:
    n, budget = change.images, limits.max_drop
    numbers = dict(base, images=n, keras_right=change.keras_right, artifact_right=change.artifact_right,
                   lost=change.lost, gained=change.gained, delta=change.delta, lower=change.lower, upper=change.upper)
    status = change.status(budget)
    images = f"{n:,} {plural(n, 'image')}"
    if status == REFUSED:
        summary = f"{status}: {pp(change.delta)} (95%: no better than {pp(change.upper)}), {images}"
        why = (f"accuracy {pp(change.delta)} on {images} (Keras right and this wrong on {change.lost}, the reverse on "
               f"{change.gained}): a loss these images show beyond the {budget_pp(budget)} budget (--max-drop; 95%: a "
               f"loss of at least {-change.upper * 100:.2f} pp)")
        return Verdict(status, "accuracy", summary, [why], numbers=numbers)
    summary = f"{status}: {pp(change.delta)} (95%: no worse than {pp(change.lower)}), {images}"
    if status == UNPROVEN:
        needed = change.images_for(budget)
        settle = (f"about {needed:,} images would settle the {budget_pp(budget)} budget at this rate of disagreement"
                  if needed else f"no number of images would settle the {budget_pp(budget)} budget at this rate of "
                  "disagreement")
        summary += f": these images prove --max-drop {budget_pp(change.proven_budget())}; {settle}"
    return Verdict(status, "accuracy", summary, numbers=numbers)


def _decide_agreement(numbers: dict, limits: Limits) -> Verdict:
    n, budget, differ = numbers["images"], limits.max_drop, numbers["top1_differ"]
    low, high = exact_bounds(differ, n)
    numbers = dict(numbers, disagreement_lower=low, disagreement_upper=high)
    status = agreement_status(differ, n, budget)
    shown = f"top-1 differs from Keras on {differ:,} of {n:,} {plural(n, 'image')}"
    if status == REFUSED:
        why = (f"{shown} (95%: at least {low:.2%}), more than the {budget_pp(budget)} budget allows in the worst case; "
               "labelled data would measure the loss itself")
        return Verdict(status, "agreement", f"{status}: {shown} (95%: at least {low:.2%}); no labels", [why],
                       numbers=numbers)
    summary = (f"{status}: {shown} (95%: at most {high:.2%}); no labels, so the accuracy change is not measured and "
               "the disagreement bounds the loss")
    if status == UNPROVEN:
        needed = agreement_images_for(differ, n, budget)
        settle = (f"about {needed:,} images would settle the {budget_pp(budget)} budget at this rate of disagreement"
                  if needed else f"no number of images would settle the {budget_pp(budget)} budget at this rate")
        summary += f": these images prove --max-drop {budget_pp(math.ceil(round(high * 1000, 6)) / 1000)}; {settle}"
    return Verdict(status, "agreement", summary, numbers=numbers)


def verifiable(images: int, max_drop: float, labelled: bool = True) -> bool:
    """Whether `images` reference images could verify a lossy file at all: whether one that
    gives Keras's top-1 class on every image would be verified. When not, only more images (or
    a wider budget) can verify any file, whatever it computes."""
    if labelled:
        return images >= 2 and str(paired_status(0, 0, images, max_drop)) == VERIFIED
    return agreement_status(0, images, max_drop) == VERIFIED


def rejudge(recorded: Optional[dict], limits: Limits) -> Optional[Verdict]:
    """The recorded verdict (Verdict.to_json, as the manifest holds it) judged again with other
    limits, from its counts (a verdict recorded before there were three outcomes too); None when
    nothing usable was recorded."""
    if not isinstance(recorded, dict):
        return None
    numbers = {k: v for k, v in recorded.items() if k not in ("status", "passed", "rule", "summary")}
    numbers["limits"] = limits.to_json()
    try:
        if recorded.get("rule") == "float":
            return _decide_float(numbers, limits)
        if recorded.get("rule") == "accuracy":
            change = PairedChange(*(int(numbers[k]) for k in ("images", "keras_right", "artifact_right", "lost", "gained")))
            return _decide_accuracy(change, numbers, limits)
        if recorded.get("rule") == "agreement":
            return _decide_agreement(dict(numbers, images=int(numbers["images"]), top1_differ=int(numbers["top1_differ"])),
                                     limits)
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
    low, high = exact_bounds(right, n)
    scored = f"the Keras model scores {right / n:.3f} on its own {n} held-out {plural(n, 'image')}"
    if high < chance:
        return f"{scored}, below chance ({chance:.2f} for {classes} {plural(classes, 'class', 'classes')})", "below-chance"
    if low <= chance:
        return f"{scored}, at or near chance ({chance:.2f} for {classes} {plural(classes, 'class', 'classes')})", "at-chance"
    return None, None
