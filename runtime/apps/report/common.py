"""What the report's parts share: its options, file names, and the matplotlib check."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

HTML_NAME = "index.html"
CARD_NAME = "model_card.md"
FIGURE_PREFIX = "fig_"
"""Every PNG the report writes starts with this; those an earlier report wrote and this one does
not are removed (report/output.py: only those)."""
GENERATOR = '<meta name="generator" content="python -m runtime parity --report">'
"""The page's generator tag, by which a report written before report/output.py's record is known."""
GALLERY_CAP = 24
"""Most disagreement images shown per artifact, the largest |Δp| first."""
GALLERY_SIZE = 112
"""Each test image in the gallery is enlarged, pixel for pixel, to about this many pixels."""
LATENCY_RUNS = 300
"""Single-image `Model.predict` calls timed per artifact for the card, after bench's warm-up."""
INSTALL_HINT = 'pip install matplotlib (or pip install "edge-mnist[report]")'


class ReportDependencyError(ImportError):
    """matplotlib, which only the report needs, is not installed."""


def require_matplotlib():
    """The matplotlib module, or ReportDependencyError saying what to install."""
    try:
        import matplotlib
    except ImportError as err:
        raise ReportDependencyError(f"the parity report draws its figures with matplotlib, which is not installed: {INSTALL_HINT}") from err
    return matplotlib


@dataclass(frozen=True)
class ReportOptions:
    """How `write_report` measures and how much it shows."""

    limits: Optional[object] = None
    """The runtime.verdict.Limits the run used (float32's |Δp| limit is drawn on the histograms); the defaults otherwise."""
    gallery_cap: int = GALLERY_CAP
    """Most disagreement images shown per artifact."""
    latency_runs: int = LATENCY_RUNS
    """Timed single-image calls per artifact for the card's p50 latency."""
    num_threads: Optional[int] = None
    """Interpreter threads for the latency measurement (None: the interpreter's default)."""
    verify_checksum: bool = True
    """Check each artifact's sha256 against the manifest when loading it for the latency."""

    def max_abs_dp_for(self, precision: str) -> Optional[float]:
        """The |Δp| limit an artifact of `precision` is held to (None: judged on accuracy instead)."""
        from ...verdict import LOSSY_PRECISIONS, Limits

        return None if precision in LOSSY_PRECISIONS else (self.limits or Limits()).float_max_dp


def slug(name: str) -> str:
    """A name as an HTML id or a file name part."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
