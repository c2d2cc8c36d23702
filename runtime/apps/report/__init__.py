"""`python -m runtime parity --report DIR`: a self-contained HTML page about every
artifact's parity with the float Keras model (confusion matrices, per-class accuracy and
agreement, |Δp| histograms, the images they disagree on) and a Markdown model card, both
made from the manifest and one parity run (`check_models(keep_outputs=True)`).

A workstation tool: the figures need matplotlib, which a device install does not have. It
is imported only by the parts here that draw, never by the parity table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ...evaluate.parity import ParityReport
from .analysis import Analysis, analyse, changed_cells
from .card import measure_latency, model_card
from .common import (
    CARD_NAME, GALLERY_CAP, HTML_NAME, ReportDependencyError, ReportOptions, require_matplotlib,
)
from .figures import Figures
from .output import ReportFolder, ReportFolderError, check_report_folder
from .page import render_html

__all__ = ["GALLERY_CAP", "Analysis", "ReportDependencyError", "ReportFiles", "ReportFolderError", "ReportOptions",
           "analyse", "check_report_folder", "require_matplotlib", "write_report"]


@dataclass
class ReportFiles:
    """What `write_report` wrote."""

    html: Path
    card: Path
    figures: list = field(default_factory=list)
    """Every PNG, all in the same folder as the page."""


def write_report(report: ParityReport, out_dir, options: Optional[ReportOptions] = None) -> ReportFiles:
    """Writes out_dir/index.html (with its PNG figures beside it) and out_dir/model_card.md
    for a parity run made with check_models(..., keep_outputs=True): drawn in a hidden folder
    inside out_dir, then moved into place whole, replacing only what an earlier report wrote
    (report/output.py); ReportFolderError when a file of the user's is in the way."""
    options = options or ReportOptions()
    if options.gallery_cap < 0:
        raise ValueError(f"gallery_cap: got {options.gallery_cap}, expected >= 0")
    if options.latency_runs < 1:
        raise ValueError(f"latency_runs: got {options.latency_runs}, expected >= 1")
    ran = [r for r in report.results if r.agreement is not None]
    missing = [r.artifact for r in ran if r.artifact not in report.outputs]
    if missing:
        raise ValueError(f"report.outputs has no probabilities for {', '.join(missing)}: run check_models(..., keep_outputs=True)")
    require_matplotlib()
    folder = ReportFolder(out_dir)
    folder.check_free([HTML_NAME, CARD_NAME])
    with folder.staging() as staged:
        figures = _draw(report, staged, options)
        names = [path.name for path in figures.written] + [HTML_NAME, CARD_NAME]
        folder.commit(staged, names)
    out = folder.path
    return ReportFiles(out / HTML_NAME, out / CARD_NAME, [out / path.name for path in figures.written])


def _draw(report: ParityReport, staged: Path, options: ReportOptions) -> Figures:
    """Every figure, the page and the card, written into `staged`; the figures drawn."""
    manifest = report.folder.manifest
    ran = [r for r in report.results if r.agreement is not None]
    reference = report.reference
    labels = [str(label) for label in manifest.labels]
    precisions = {r.artifact: r.precision for r in report.results}
    keras = analyse("keras", reference.probs, reference)
    analyses = {r.artifact: analyse(r.artifact, report.outputs[r.artifact], reference) for r in ran}
    figures = Figures(staged, labels, options, _log_range(analyses.values(), precisions, options))
    if reference.has_labels:
        figures.confusion("keras", keras, None, "Keras (float reference): confusion")
    for name, a in analyses.items():
        changed = changed_cells(a, keras)
        figures.confusion(name, a, keras.confusion, f"{name}: confusion, {changed} cells differ from Keras")
        figures.histogram(name, a, options.max_abs_dp_for(precisions[name]))
        figures.gallery(name, a, reference.images)

    page = render_html(report, manifest, keras, analyses, figures, labels)
    latencies = {r.artifact: measure_latency(report, r, options) for r in ran}
    card = model_card(report, manifest, keras, analyses, latencies, options)
    (staged / HTML_NAME).write_bytes(page.encode("utf-8"))
    (staged / CARD_NAME).write_bytes(card.encode("utf-8"))
    return figures


def _log_range(analyses, precisions: dict, options: ReportOptions) -> tuple:
    """One x range, whole decades, for every |Δp| histogram, so they can be compared by eye."""
    lows, highs = [], []
    for a in analyses:
        positive = a.abs_dp[a.abs_dp > 0]
        if positive.size:
            lows.append(positive.min())
            highs.append(positive.max())
        limit = options.max_abs_dp_for(precisions[a.name])
        if limit:
            lows.append(limit)
            highs.append(limit)
    if not lows:
        return 1e-8, 1.0
    low, high = math.floor(math.log10(min(lows))), math.ceil(math.log10(3 * max(highs)))  # the max line off the edge
    return 10.0 ** low, 10.0 ** max(high, low + 1)
