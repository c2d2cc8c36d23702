"""How one call is timed: its median and 99th-percentile latency after a warm-up, and its
throughput as the best of a few rounds; and two implementations of the same work timed in
alternation, so that their ratio survives a busy machine (runtime.apps.bench's targets)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

THROUGHPUT_SECONDS = 0.3
"""How long each throughput figure runs for (at least one call per round after a warm-up call) ..."""
THROUGHPUT_ROUNDS = 3
"""... in this many rounds, the fastest reported (as timeit's best of): on a machine shared
with other work, a round slowed by it says nothing about the runtime."""
WARMUP_RUNS = 200
WARMUP_SECONDS = 0.5
"""Warm-up stops after WARMUP_RUNS calls or this long, whichever comes first."""
LATENCY_SECONDS = 2.0
"""Without --runs, single-image latency is sampled for about this long per implementation ..."""
MIN_RUNS, MAX_RUNS = 20, 2000
"""... and at least MIN_RUNS, at most MAX_RUNS times."""


@dataclass
class Timings:
    """One implementation's figures (the runtime's Model, or the bare interpreter)."""

    load_ms: float
    first_ms: float
    """First inference after load, one image."""
    p50_us: float
    """Median single-image latency after warm-up."""
    p99_us: float
    images_per_s: dict
    """Batch size -> images per second."""

    @classmethod
    def of(cls, load_s: float, first_s: float, latencies_us: list, images_per_s: dict) -> "Timings":
        """The figures from the measured times: seconds, and latency samples in µs."""
        return cls(load_ms=load_s * 1000, first_ms=first_s * 1000, p50_us=statistics.median(latencies_us),
                   p99_us=float(np.percentile(latencies_us, 99)), images_per_s=images_per_s)


def warm_up(call) -> float:
    """Calls `call` WARMUP_RUNS times or for WARMUP_SECONDS; returns the seconds a call took."""
    count, start = 0, time.perf_counter()
    while count < WARMUP_RUNS:
        call()
        count += 1
        if time.perf_counter() - start >= WARMUP_SECONDS:
            break
    return (time.perf_counter() - start) / count


def runs_for(seconds_per_call: float) -> int:
    """Latency samples that fit LATENCY_SECONDS, within MIN_RUNS..MAX_RUNS."""
    return int(min(MAX_RUNS, max(MIN_RUNS, LATENCY_SECONDS / max(seconds_per_call, 1e-9))))


def latencies_us(call, runs: Optional[int]) -> list:
    per_call = warm_up(call)
    return _samples_us(call, runs or runs_for(per_call))


def _samples_us(call, runs: int) -> list:
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - start) / 1000)
    return times


def _round_images_per_s(call, batch: int) -> float:
    """Images per second over one round of THROUGHPUT_SECONDS / THROUGHPUT_ROUNDS."""
    count, start = 0, time.perf_counter()
    while True:
        call()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= THROUGHPUT_SECONDS / THROUGHPUT_ROUNDS:
            return count * batch / elapsed


def _images_per_s(call, batch: int) -> float:
    call()
    return max(_round_images_per_s(call, batch) for _ in range(THROUGHPUT_ROUNDS))


def timings(load_s: float, first_s: float, single, batched: dict, runs: Optional[int]) -> Timings:
    """Latency of `single()` over `runs` calls after warm-up (None: as many as fit
    LATENCY_SECONDS), and throughput of each `batched[size]()`, with the load and first-call
    times measured by the caller."""
    return Timings.of(load_s, first_s, latencies_us(single, runs),
                      {b: _images_per_s(call, b) for b, call in batched.items()})


@dataclass
class Measured:
    """One implementation's calls, for paired_timings: its load and first-call times, a
    single-image call and one call per batch size."""

    load_s: float
    first_s: float
    single: Callable
    batched: dict


LATENCY_CHUNKS = 10
"""paired_timings alternates the two implementations' latency samples in this many chunks."""
MIN_BATCH_CALLS = 5
"""paired_timings takes at least this many calls of each implementation per batch size: a batch
of 1,000 images can take half a second, and a median of three such calls moved by 10% between runs."""


def paired_timings(a: Measured, b: Measured, runs: Optional[int]) -> tuple:
    """Timings of `a` and of `b`, measured in alternation: latency samples chunk by chunk,
    and each batch's throughput from the median of calls made turn about (a, b, b, a, a, b ...;
    the chunks too: each goes first as often as second, so neither inherits the other's after-effects more,
    such as onnxruntime's worker threads still spinning on a 2-core machine).
    A busy machine that slows down midway then slows both alike, and their ratio, which the
    targets judge, stays true: measured one after the other, a loaded run here once put an
    unchanged int8 ONNX file at 0.30x its bare interpreter, and rounds of 0.1 s in turn
    still scattered between 0.85x and 1.3x."""
    runs = runs or runs_for(max(warm_up(a.single), warm_up(b.single)))
    latencies = ([], [])
    chunk = max(1, -(-runs // LATENCY_CHUNKS))
    pairs = list(zip((a, b), latencies))
    while len(latencies[0]) < runs:
        n = min(chunk, runs - len(latencies[0]))
        for m, samples in pairs:
            samples += _samples_us(m.single, n)
        pairs.reverse()
    rates = ({}, {})
    for batch in a.batched:
        calls = (a.batched[batch], b.batched[batch])
        durations = ([], [])
        for call in calls + calls:  # the second run of a new shape is onnxruntime's first with its memory pattern
            call()
        start = time.perf_counter()
        turn = 0
        while time.perf_counter() - start < 2 * THROUGHPUT_SECONDS or len(durations[0]) < MIN_BATCH_CALLS:
            order = (0, 1) if turn % 2 == 0 else (1, 0)
            for k in order:
                begin = time.perf_counter()
                calls[k]()
                durations[k].append(time.perf_counter() - begin)
            turn += 1
        for rate, samples in zip(rates, durations):
            rate[batch] = batch / statistics.median(samples)
    return tuple(Timings.of(m.load_s, m.first_s, samples, rate) for m, samples, rate in zip((a, b), latencies, rates))
