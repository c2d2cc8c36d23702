"""Quantization that meets the user's budget: when plain int8 misses it, the measured fixes,
cheapest first, until one passes the caller's judge.

The order is by what a fix costs on the device. The other weight granularity costs nothing
at run time. Each op kept in float costs its weights at 4 bytes instead of 1 and a float
kernel, so the worst op (by the error it adds, convert/diagnose.py) is kept in float, then
it and its consumers, then the 4, 8 ... worst. int16 activations (16x8) come last: every activation tensor
doubles (TFLite Micro's arena too), and LiteRT's int16 kernels ran MobileNetV2 ~50x slower
than int8 here. The first variant the judge passes is returned, with what it keeps in float
and what it costs against plain int8; when none passes, nothing is, and every number is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from runtime.store.bundles import Reference

from .diagnose import DIAGNOSIS_IMAGES, HARMFUL, DiagnosisError, compare_ops, consumers
from .int8_variants import Measured, Quantizer, Variant, build_and_measure
from .tflite_export import tflite_bytes

MAX_FLOAT_SHARE = 0.25
"""At most this share of the graph's compared ops is kept in float before int16 is tried..."""
MIN_FLOAT_OPS = 2
"""...but at least two: an op's stretched output range is also its consumer's input range,
so keeping the producer alone in float often does not help."""

Judge = Callable[[np.ndarray], tuple]
"""judge(probs on the reference images) -> (passed: bool, summary: str)."""


@dataclass
class Candidate:
    """One variant tried, with the judge's verdict and its cost against plain int8."""

    measured: Measured
    passed: bool
    summary: str
    """The judge's words, or why the variant could not be built or run."""
    size_ratio: float = float("nan")
    """Its bytes over plain int8's."""
    speed_ratio: float = float("nan")
    """Its LiteRT time per image over plain int8's (this machine, one measurement)."""

    @property
    def variant(self) -> Variant:
        return self.measured.variant

    def to_json(self) -> dict:
        """What a manifest can record: what was kept in float and what it costs."""
        v, m = self.variant, self.measured
        return {"variant": v.describe(), "per_channel": v.per_channel, "activations": v.activations,
                "float_ops": list(v.float_ops), "float_layers": list(v.float_layers), "passed": self.passed,
                "summary": self.summary, "bytes": m.size, "size_ratio": self.size_ratio,
                "ms_per_image": m.ms_per_image, "speed_ratio": self.speed_ratio, "failure": m.failure}

    def describe(self) -> str:
        m = self.measured
        if m.failure:
            return f"{m.variant.describe()}: could not be built or run ({m.failure})"
        return (f"{m.variant.describe()}: {'passed' if self.passed else 'failed'} ({self.summary}); "
                f"{m.size} bytes ({self.size_ratio:.2f}x int8's), {m.ms_per_image:.3f} ms/image ({self.speed_ratio:.1f}x)")


@dataclass
class Int8Search:
    """What best_int8 tried, in order, and what it chose."""

    tried: list = field(default_factory=list)
    """Candidate, in the order tried (plain int8 first)."""
    chosen: Optional[Candidate] = None
    """The first that passed the judge; None when none did."""

    @property
    def data(self) -> Optional[bytes]:
        return self.chosen.measured.data if self.chosen else None

    def attempt(self, measured: Measured, judge: Judge, log=None) -> bool:
        """Judges a measured variant and records it, with its size and time per image against
        plain int8's (the first tried); it becomes `chosen` when the judge passes it."""
        if measured.failure:
            candidate = Candidate(measured, False, measured.failure)
        else:
            passed, summary = judge(measured.probs)
            first = self.tried[0].measured if self.tried else measured
            plain = measured if first.failure else first
            speed = measured.ms_per_image / plain.ms_per_image if plain.ms_per_image > 0 else float("nan")
            candidate = Candidate(measured, bool(passed), str(summary), measured.size / plain.size, speed)
        self.tried.append(candidate)
        if log:
            log(f"  tried {candidate.describe()}")
        if candidate.passed:
            self.chosen = candidate
        return candidate.passed

    def summary(self) -> str:
        lines = [f"  {i + 1}. {c.describe()}" for i, c in enumerate(self.tried)]
        head = (f"int8 within budget: {self.chosen.variant.describe()}" if self.chosen else
                f"no int8 variant within budget after {len(self.tried)} tries")
        return "\n".join([head, *lines])


def _variants_after_plain(ranked: list, plain_data: bytes, per_channel: bool, max_float_ops: int) -> list:
    """Cheapest first: the other granularity; the worst op in float; it and the ops that read
    its output; the 4, 8 ... worst, up to max_float_ops; int16 activations. Only ops that add
    more than HARMFUL error are kept in float."""
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
    variants, seen = [Variant(not per_channel)], set()
    for tensors in sets:
        if len(tensors) > max_float_ops or frozenset(tensors) in seen:
            continue
        seen.add(frozenset(tensors))
        variants.append(Variant(per_channel, tuple(tensors), tuple(label[t] for t in tensors)))
    return variants + [Variant(per_channel, activations="int16")]


def best_int8(keras_model, calibration_images: np.ndarray, reference: Reference, judge: Judge, contract,
              per_channel: bool = True, max_float_ops: Optional[int] = None, log=None) -> Int8Search:
    """The cheapest quantization of `keras_model` that `judge` passes on the reference images.

    calibration_images: float32 model inputs (the contract's model_input of training images).
    reference: the images and Keras outputs the judge's probabilities are for.
    judge: judge(probs) -> (passed, summary), probs the runtime's (N, classes) float32.
    contract: the runtime's input contract, to feed the reference images.
    per_channel: the granularity plain int8 uses (the first try).
    max_float_ops: most ops kept in float (default MAX_FLOAT_SHARE of the compared ops).
    log: called with one line per variant tried, if given.
    Returns an Int8Search; its `chosen` is None when no variant passed."""
    if not callable(judge):
        raise TypeError(f"judge: got {type(judge).__name__}, expected a callable judge(probs) -> (passed, summary)")
    if max_float_ops is not None and max_float_ops < 0:
        raise ValueError(f"max_float_ops: got {max_float_ops}, expected >= 0")
    quantizer = Quantizer(keras_model, calibration_images)
    search = Int8Search()

    def attempt(variant: Variant) -> bool:
        return search.attempt(build_and_measure(quantizer, variant, reference, contract), judge, log)

    if attempt(Variant(per_channel)):
        return search
    plain = search.tried[0].measured
    ranked = []
    if not plain.failure:
        try:
            images = np.asarray(calibration_images[:DIAGNOSIS_IMAGES], np.float32)
            ops, _, _ = compare_ops(plain.data, tflite_bytes(keras_model, "float32"), images, keras_model)
            ranked = sorted(ops, key=lambda op: op.added, reverse=True)
        except DiagnosisError:
            ranked = []  # nothing to keep in float: granularity and int16 are still tried
    limit = max(MIN_FLOAT_OPS, int(MAX_FLOAT_SHARE * len(ranked))) if max_float_ops is None else max_float_ops
    for variant in _variants_after_plain(ranked, plain.data, per_channel, limit):
        if attempt(variant):
            break
    return search
