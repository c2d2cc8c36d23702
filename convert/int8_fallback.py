"""Quantization that meets the user's budget: when plain int8 is not verified, the measured
fixes, cheapest first, until the caller's judge verifies one.

The order is by what a fix costs on the device. The other weight granularity costs nothing
at run time. Each op kept in float costs its weights at 4 bytes instead of 1 and a float
kernel, so the worst op (by the error it adds, convert/diagnose.py) is kept in float, then
it and its consumers, then the 4, 8 ... worst. int16 activations (16x8) come last: every activation tensor
doubles (TFLite Micro's arena too), and LiteRT's int16 kernels ran MobileNetV2 ~50x slower
than int8 here. The first variant the judge verifies is chosen. When none is, the one with the
best measured change is (the cheaper on a tie), for the caller to write as unproven; the search
stops early when the judge says no other variant can do better (`Judgement.enough`). Every
variant's numbers and time are kept."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from runtime.store.bundles import Reference
from runtime.tables import plural
from runtime.verdict import REFUSED, UNPROVEN, VERIFIED

from .diagnose import DIAGNOSIS_IMAGES, HARMFUL, DiagnosisError, compare_ops, consumers
from .int8_variants import Measured, Quantizer, Variant, build_and_measure
from .tflite_export import ARTIFACT_INT8_OUTPUT, tflite_bytes

MAX_FLOAT_SHARE = 0.25
"""At most this share of the graph's compared ops is kept in float before int16 is tried..."""
MIN_FLOAT_OPS = 2
"""...but at least two: an op's stretched output range is also its consumer's input range,
so keeping the producer alone in float often does not help."""


@dataclass(frozen=True)
class Judgement:
    """What the caller's judge says of one variant's outputs on the reference images."""

    status: str
    """"verified", "unproven" or "refused" (runtime.verdict)."""
    summary: str
    change: float = 0.0
    """The measured change against Keras, larger is better (the accuracy change; without labels,
    minus the top-1 disagreement): how unproven variants are ranked."""
    enough: bool = False
    """No other variant can do better on these images: it is verified, or even a file that
    matches Keras on every image could not be verified here and this one's measured change is
    within the budget. The search stops."""

    @classmethod
    def of(cls, answer) -> "Judgement":
        """A Judgement as it is, or one from a judge's (passed, summary): passed is verified."""
        if isinstance(answer, Judgement):
            return answer
        passed, summary = answer
        return cls(VERIFIED if passed else REFUSED, str(summary), 1.0 if passed else 0.0, bool(passed))


Judge = Callable[[np.ndarray], object]
"""judge(probs on the reference images) -> a Judgement, or (passed: bool, summary: str) where
passed means verified."""

STATUS_RANK = {REFUSED: 0, UNPROVEN: 1, VERIFIED: 2}


@dataclass
class Candidate:
    """One variant tried, with the judge's verdict and its cost against plain int8."""

    measured: Measured
    judgement: Judgement
    """The judge's words, or (refused) why the variant could not be built or run."""
    size_ratio: float = float("nan")
    """Its bytes over plain int8's."""
    speed_ratio: float = float("nan")
    """Its LiteRT time per image over plain int8's (this machine, one measurement)."""
    seconds: float = 0.0
    """What trying it took here: building, running the reference images, judging."""

    @property
    def variant(self) -> Variant:
        return self.measured.variant

    @property
    def status(self) -> str:
        return self.judgement.status

    @property
    def passed(self) -> bool:
        """Verified by the judge."""
        return self.judgement.status == VERIFIED

    @property
    def summary(self) -> str:
        return self.judgement.summary

    def to_json(self) -> dict:
        """What a manifest can record: what was kept in float and what it costs."""
        v, m = self.variant, self.measured
        return {"variant": v.describe(), "per_channel": v.per_channel, "activations": v.activations,
                "float_ops": list(v.float_ops), "float_layers": list(v.float_layers), "status": self.status,
                "passed": self.passed, "summary": self.summary, "bytes": m.size, "size_ratio": self.size_ratio,
                "ms_per_image": m.ms_per_image, "speed_ratio": self.speed_ratio, "seconds": round(self.seconds, 2),
                "failure": m.failure, **({"reduce_range": True} if getattr(v, "reduce_range", False) else {})}

    def describe(self) -> str:
        m = self.measured
        if m.failure:
            return f"{m.variant.describe()}: could not be built or run ({m.failure}); {self.seconds:.1f} s"
        return (f"{m.variant.describe()}: {self.summary}; {m.size:,} bytes ({self.size_ratio:.2f}x int8's), "
                f"{m.ms_per_image:.3f} ms/image ({self.speed_ratio:.1f}x); {self.seconds:.1f} s")


@dataclass
class Int8Search:
    """What best_int8 tried, in order, and what it chose."""

    tried: list = field(default_factory=list)
    """Candidate, in the order tried (plain int8 first)."""
    chosen: Optional[Candidate] = None
    """The first the judge verified; None when none was."""
    stopped: str = ""
    """Why the search ended before its last variant, when it did."""

    @property
    def best(self) -> Optional[Candidate]:
        """What to write: the chosen (verified) variant, else the unproven one with the best
        measured change (the first tried, so the cheapest, on a tie); None when every one was
        refused or failed."""
        if self.chosen is not None:
            return self.chosen
        unproven = [c for c in self.tried if c.status == UNPROVEN and not c.measured.failure]
        return max(unproven, key=lambda c: c.judgement.change, default=None)

    @property
    def data(self) -> Optional[bytes]:
        return self.chosen.measured.data if self.chosen else None

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.tried)

    def attempt(self, measured: Measured, judge: Judge, log=None, seconds: float = 0.0) -> bool:
        """Judges a measured variant and records it, with its size and time per image against
        plain int8's (the first tried) and `seconds` (building and running it); it becomes
        `chosen` when the judge verifies it. True when the search may stop (Judgement.enough)."""
        started = time.perf_counter()
        if measured.failure:
            candidate = Candidate(measured, Judgement(REFUSED, measured.failure, float("-inf")))
        else:
            judgement = Judgement.of(judge(measured.probs))
            first = self.tried[0].measured if self.tried else measured
            plain = measured if first.failure else first
            speed = measured.ms_per_image / plain.ms_per_image if plain.ms_per_image > 0 else float("nan")
            candidate = Candidate(measured, judgement, measured.size / plain.size, speed)
        candidate.seconds = seconds + time.perf_counter() - started
        self.tried.append(candidate)
        if log:
            log(f"  tried {candidate.describe()}")
        if candidate.passed:
            self.chosen = candidate
        return candidate.passed or candidate.judgement.enough

    def summary(self) -> str:
        lines = [f"  {i + 1}. {c.describe()}" for i, c in enumerate(self.tried)]
        best = self.best
        tries = f"{len(self.tried)} {plural(len(self.tried), 'try', 'tries')} in {self.seconds:.1f} s"
        if self.chosen:
            head = f"int8 within budget: {self.chosen.variant.describe()} ({tries})"
        elif best is not None:
            head = f"no int8 variant verified after {tries}; the best measured change: {best.variant.describe()}"
        else:
            head = f"no int8 variant within budget after {tries}"
        return "\n".join([head, *lines])


def float_op_variants(ranked: list, plain_data: bytes, per_channel: bool, max_float_ops: int) -> list:
    """Cheapest first: the worst op in float; it and the ops that read its output; the 4, 8 ...
    worst, up to max_float_ops. Only ops that add more than HARMFUL error are kept in float."""
    harmful = [op for op in ranked if op.added > HARMFUL]
    label = {op.tensor: op.layers.split("+")[0] for op in ranked}
    sets = []
    if harmful:
        worst = harmful[0].tensor
        sets += [[worst], [worst] + [t for t in consumers(plain_data, worst) if t in label]]
        k = 4
        while k <= len(harmful):
            sets.append([op.tensor for op in harmful[:k]])
            k *= 2
    variants, seen = [], set()
    for tensors in sets:
        if len(tensors) > max_float_ops or frozenset(tensors) in seen:
            continue
        seen.add(frozenset(tensors))
        variants.append(Variant(per_channel, tuple(tensors), tuple(label[t] for t in tensors)))
    return variants


def rank_ops(keras_model, plain_data: bytes, calibration_images: np.ndarray, log=None) -> list:
    """The int8 ops of `plain_data`, worst first by the error they add (convert/diagnose.py),
    on the first DIAGNOSIS_IMAGES calibration images; [] when none can be compared."""
    started = time.perf_counter()
    try:
        images = np.asarray(calibration_images[:DIAGNOSIS_IMAGES], np.float32)
        ops, _, _ = compare_ops(plain_data, tflite_bytes(keras_model, "float32"), images, keras_model)
    except DiagnosisError:
        return []  # nothing to keep in float: granularity and int16 are still tried
    ranked = sorted(ops, key=lambda op: op.added, reverse=True)
    if log:
        log(f"  ranked {len(ranked)} {plural(len(ranked), 'op')} by the error their int8 output adds, on "
            f"{len(images)} calibration {plural(len(images), 'image')} ({time.perf_counter() - started:.1f} s)")
    return ranked


def best_int8(keras_model, calibration_images: np.ndarray, reference: Reference, judge: Judge, contract,
              per_channel: bool = True, max_float_ops: Optional[int] = None, log=None, plain: Optional[Measured] = None,
              float_ops: bool = True, batch_size: Optional[int] = None,
              output_type: str = ARTIFACT_INT8_OUTPUT) -> Int8Search:
    """The cheapest quantization of `keras_model` that `judge` verifies on the reference images.

    calibration_images: float32 model inputs (the contract's model_input of training images).
    reference: the images and Keras outputs the judge's probabilities are for.
    judge: judge(probs) -> Judgement, or (passed, summary); probs the runtime's (N, classes) float32.
    contract: the runtime's input contract, to feed the reference images.
    per_channel: the granularity plain int8 uses (the first try).
    max_float_ops: most ops kept in float (default MAX_FLOAT_SHARE of the compared ops).
    log: called with one line per variant tried, if given.
    plain: plain int8 as the caller already built and ran it (Variant(per_channel)): not built again.
    float_ops: whether keeping ops in float may be tried (a microcontroller's model: not).
    batch_size, output_type: what every variant is built with (tflite_export.tflite_bytes).
    Returns an Int8Search; its `chosen` is None when no variant was verified, and its `best` is
    then the one to write as unproven (or None)."""
    if not callable(judge):
        raise TypeError(f"judge: got {type(judge).__name__}, expected a callable judge(probs) -> (passed, summary)")
    if max_float_ops is not None and max_float_ops < 0:
        raise ValueError(f"max_float_ops: got {max_float_ops}, expected >= 0")
    quantizer = Quantizer(keras_model, calibration_images, output_type, batch_size)
    search = Int8Search()

    def attempt(variant: Variant) -> bool:
        started = time.perf_counter()
        measured = build_and_measure(quantizer, variant, reference, contract)
        return search.attempt(measured, judge, log, time.perf_counter() - started)

    with quantizer:
        if search.attempt(plain, judge, log) if plain is not None else attempt(Variant(per_channel)):
            return search
        plain = search.tried[0].measured
        for variant in _after_plain(quantizer, plain, per_channel, max_float_ops, float_ops, log):
            if attempt(variant):
                break
    return search


def _after_plain(quantizer: Quantizer, plain: Measured, per_channel: bool, max_float_ops, float_ops: bool, log):
    """The variants after plain int8, cheapest first; the ops are ranked only when the float-op
    variants are reached."""
    yield Variant(not per_channel)
    if float_ops and not plain.failure:
        ranked = rank_ops(quantizer.model, plain.data, quantizer.calibration, log)
        limit = max(MIN_FLOAT_OPS, int(MAX_FLOAT_SHARE * len(ranked))) if max_float_ops is None else max_float_ops
        yield from float_op_variants(ranked, plain.data, per_channel, limit)
    yield Variant(per_channel, activations="int16")
