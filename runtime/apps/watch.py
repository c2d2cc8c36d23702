"""`python -m runtime watch SOURCE`: classify a stream of frames (a video, a folder of images, a
camera) and time each stage; one line per change (or one JSON object per frame with --json)
and the summary at the end.

Every frame goes through the model's input contract exactly as an image file does in
`predict` (the MNIST digit normalisation, or the contract's resize), then the model. The
loop keeps nothing per frame: latencies go into fixed histograms (`StageTimes`) and
results are handed to a callback, so memory stays flat however long it runs.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..errors import ImageError
from ..prediction import Prediction
from ..preprocess.images import pixel_mode, prepare_pixels
from ..tables import plural
from ..untrusted import for_terminal
from .frames import Frame, FrameSourceError, SourceOptions, StreamBrokenError
from .sources import open_source
from .start import SETUP_ERRORS, fail, model_summary, open_model

STAGES = ("read", "prepare", "infer")
FPS_WINDOW = 10
"""The text output's frames/s is averaged over this many frames (as TensorFlow's Pi example does)."""
HISTOGRAM_RANGE = (1e-6, 100.0)
"""Latencies, in seconds, that the histograms resolve; outside, they count in the end bins."""
HISTOGRAM_BINS = 1000
"""Log-spaced bins: each 1.9% wide, which is the precision of the p50/p95 reported."""


class StageTimes:
    """Latencies of one stage in a fixed log-spaced histogram: p50/p95 to within 2%, in
    constant memory however many frames are timed."""

    def __init__(self):
        self.counts = np.zeros(HISTOGRAM_BINS, np.int64)
        self.count = 0
        self.total = 0.0
        low, high = HISTOGRAM_RANGE
        self._log_low = math.log(low)
        self._per_bin = HISTOGRAM_BINS / (math.log(high) - self._log_low)

    def add(self, seconds: float) -> None:
        k = int((math.log(max(seconds, 1e-12)) - self._log_low) * self._per_bin)
        self.counts[min(max(k, 0), HISTOGRAM_BINS - 1)] += 1
        self.count += 1
        self.total += seconds

    def percentile(self, q: float) -> Optional[float]:
        """The q-quantile (0..1) in seconds, the geometric centre of its bin; None before any sample."""
        if not self.count:
            return None
        k = int(np.searchsorted(np.cumsum(self.counts), q * self.count, side="left"))
        return math.exp(self._log_low + (k + 0.5) / self._per_bin)


@dataclass(frozen=True)
class WatchOptions:
    """What `watch` does with each frame."""

    min_confidence: float = 0.7
    """Answers below this probability are marked low_confidence (as predict marks them)."""
    limit: Optional[int] = None
    """Stop after this many processed frames (None: at the end of the stream)."""


@dataclass
class WatchSummary:
    """What a run did: frames, speed, each stage's latency, and why it stopped."""

    frames: int = 0
    """Frames processed (read, prepared and classified, or refused with a reason)."""
    labelled: int = 0
    """Frames that got a label."""
    unsure: int = 0
    """Labelled frames below min_confidence."""
    seconds: float = 0.0
    """Wall time from the first read to the last result."""
    stopped: str = "end of the stream"
    """"end of the stream", "frame limit", "interrupted", "output closed" or "error"."""
    error: Optional[str] = None
    """The one line that says why the stream broke, when it did."""
    stages: dict = field(default_factory=lambda: {stage: StageTimes() for stage in STAGES})

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        def ms(value):
            return None if value is None else round(1000 * value, 3)

        return {
            "frames": self.frames, "labelled": self.labelled, "unsure": self.unsure,
            "seconds": round(self.seconds, 3), "fps": round(self.fps, 2), "stopped": self.stopped, "error": self.error,
            "latency_ms": {stage: {"p50": ms(t.percentile(0.5)), "p95": ms(t.percentile(0.95)),
                                   "mean": ms(t.total / t.count) if t.count else None}
                           for stage, t in self.stages.items()},
        }

    def format(self, source: str) -> str:
        """The summary printed at the end: frames, FPS, p50/p95 of each stage."""
        lines = [f"{source}: {self.frames} {plural(self.frames, 'frame')} in {self.seconds:.1f} s, {self.fps:.1f} frames/s "
                 f"({self.labelled} labelled, {self.unsure} of them unsure, {self.frames - self.labelled} without one); "
                 f"stopped: {self.stopped}",
                 f"  {'stage':8} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}"]
        for stage, times in self.stages.items():
            if times.count:
                p50, p95, mean = times.percentile(0.5), times.percentile(0.95), times.total / times.count
                lines.append(f"  {stage:8} {1000 * p50:8.2f} {1000 * p95:8.2f} {1000 * mean:8.2f}")
        return "\n".join(lines)


def frame_mode(contract) -> str:
    """The colour mode a frame source should deliver for this contract (as files are read)."""
    return pixel_mode(contract)


def prepare_frame(pixels: np.ndarray, contract, name: str) -> np.ndarray:
    """A frame's pixels as one uint8 input of `contract`, exactly as `predict` prepares an image
    file (runtime.preprocess.images.prepare_pixels): ImageError when a digit model finds no single digit."""
    return prepare_pixels(np.asarray(pixels, dtype=np.float32), contract, name)


def frame_result(frame: Frame, started: float, probs, labels, min_confidence: float, reason: Optional[str]) -> dict:
    """The JSON object of one frame: its index and times, the label (None with the reason), the
    confidence, whether it is below min_confidence, and every class's probability."""
    result = {"frame": frame.index, "time": round(time.perf_counter() - started, 4), "source_time": frame.source_time}
    if probs is None:
        result.update(label=None, reason=reason, confidence=None, low_confidence=None, probabilities=None)
        return result
    answer = Prediction.of(probs, labels, 1, min_confidence)
    result.update(label=answer.label, reason=None, confidence=answer.confidence, low_confidence=answer.low_confidence,
                  probabilities=answer.probabilities)
    return result


def watch(model, source, options: WatchOptions, emit: Callable[[dict, "WatchSummary"], None]) -> WatchSummary:
    """Reads, prepares and classifies every frame of `source` (runtime.apps.frames), calling
    emit(result, summary) for each; returns the summary. Ctrl-C, the end of the stream, the
    frame limit, a closed output or a broken stream end the loop, never with a traceback."""
    summary = WatchSummary()
    read, prepare, infer = (summary.stages[stage] for stage in STAGES)
    frames = iter(source)
    started = time.perf_counter()
    try:
        while options.limit is None or summary.frames < options.limit:
            t0 = time.perf_counter()
            try:
                frame = next(frames)
            except StopIteration:
                break
            except StreamBrokenError as err:
                summary.stopped, summary.error = "error", str(err)
                break
            t1 = time.perf_counter()
            read.add(t1 - t0)
            probs, reason = None, frame.error
            if frame.pixels is not None:
                try:
                    image = prepare_frame(frame.pixels, model.contract, frame.name)
                except ImageError as err:
                    reason = str(err)
                t2 = time.perf_counter()
                prepare.add(t2 - t1)
                if reason is None:
                    probs = model.predict(image)[0]
                    infer.add(time.perf_counter() - t2)
            result = frame_result(frame, started, probs, model.labels, options.min_confidence, reason)
            summary.frames += 1
            if result["label"] is not None:
                summary.labelled += 1
                summary.unsure += bool(result["low_confidence"])
            summary.seconds = time.perf_counter() - started
            emit(result, summary)
        else:
            summary.stopped = "frame limit"
    except KeyboardInterrupt:
        summary.stopped = "interrupted"
    except BrokenPipeError:
        summary.stopped = "output closed"
    summary.seconds = time.perf_counter() - started
    return summary


class ChangePrinter:
    """The text output: a line when the label, its unsure mark or the reason for no label
    changes, with the label's confidence and the frames/s of the last FPS_WINDOW frames."""

    def __init__(self, min_confidence: float, out):
        self.min_confidence = min_confidence
        self.out = out
        self.shown = None
        self.times = deque(maxlen=FPS_WINDOW + 1)

    def __call__(self, result: dict, summary: WatchSummary) -> None:
        self.times.append(summary.seconds)
        if result["label"] is None:
            text = result["reason"].split(": ", 1)[-1]
            key = (None, text.split(" (")[0])
        else:
            text = f"{result['label']} ({result['confidence']:.1%})"
            if result["low_confidence"]:
                text += f"  [unsure: below {self.min_confidence:.0%}]"
            key = (result["label"], result["low_confidence"])
        if key == self.shown:
            return
        self.shown = key
        span = self.times[-1] - self.times[0]
        fps = (len(self.times) - 1) / span if span > 0 else 0.0
        print(f"frame {result['frame']:>6}  {result['time']:8.2f} s  {fps:5.1f} fps  {for_terminal(text)}", file=self.out,
              flush=True)


def run(args) -> int:
    """0 at the end of the stream, the frame limit or Ctrl-C; 1 when the stream broke; 2 when it
    could not start. The summary is printed in every case that started (with --json: as one JSON object on stderr)."""
    try:
        model, notes = open_model(args)
    except SETUP_ERRORS as err:
        return fail(err)
    for note in notes:
        print(note, file=sys.stderr)
    try:
        source = open_source(args.source, SourceOptions(mode=frame_mode(model.contract), stride=args.stride,
                                                        size=args.size))
    except FrameSourceError as err:
        print(f"error: {for_terminal(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"Interrupted while opening {for_terminal(args.source)}: no frame was read.", file=sys.stderr)
        return 130
    described = source.describe()
    if not args.json:
        print(f"Watching {for_terminal(described)} with {model_summary(model)}; Ctrl+C stops.", flush=True)
    emit = print_json if args.json else ChangePrinter(args.min_confidence, sys.stdout)
    with source:
        summary = watch(model, source, WatchOptions(min_confidence=args.min_confidence, limit=args.limit), emit)
    if summary.stopped == "output closed":  # `watch --json | head`: nothing more can be written there
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if summary.error:
        print(f"error: {for_terminal(summary.error)}", file=sys.stderr)
    if args.json:  # stdout holds only the frames' objects
        print(json.dumps({"summary": summary.to_json(), "model": str(model.path),
                          "model_status": model.entry.status if model.entry else None}), file=sys.stderr, flush=True)
    else:
        out = sys.stderr if summary.stopped == "output closed" else sys.stdout
        print(summary.format(for_terminal(described)), file=out, flush=True)
    return 1 if summary.error else 0


def print_json(result: dict, summary) -> None:
    """One JSON object per frame, on a line of its own (JSON Lines), flushed at once."""
    print(json.dumps(result), flush=True)
