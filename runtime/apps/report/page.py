"""The report's HTML page: the Platform line and parity table, then the Keras model and each
artifact with its figures, per-class table and disagreement gallery. No JavaScript, no
network: the PNGs lie beside it."""

from __future__ import annotations

import numpy as np

from ...store.manifest import Manifest
from ...evaluate.parity import ParityReport
from ...evaluate.platform_info import describe_platform
from ...tables import check_word, format_percent, format_sci, format_size, outcome_line, plural, pp
from ...untrusted import for_html
from .analysis import Analysis
from .common import CARD_NAME, GENERATOR, now, slug
from .figures import Figures

STATUS_CLASS = {"verified": "pass", "unproven": "skipped", "refused": "fail"}
"""The CSS class that colours each outcome: green, amber, red."""


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
.verdict.pass { background: #e3f5e8; } .verdict.fail { background: #fde8e8; } .verdict.skipped { background: #fdf5e0; }
.row { display: flex; flex-wrap: wrap; gap: 20px 28px; align-items: flex-start; }
.row img { max-width: 100%; }
.note { color: #555; font-size: 13.5px; }
.per-class-box { flex: 0 0 auto; }
.per-class-box .note { max-width: 470px; }
table.per-class th { white-space: normal; max-width: 110px; vertical-align: bottom; }
.gallery-box { flex: 1 1 420px; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px 10px; }
figure.disagreement { margin: 0; width: 128px; font-size: 12px; line-height: 1.35; }
figure.disagreement img { display: block; width: 112px; height: auto; image-rendering: pixelated; border: 1px solid #888; margin-bottom: 3px; }
.right { color: #0a7a2f; } .wrong { color: #b3001e; }
nav a { margin-right: 14px; }
"""


def _e(value) -> str:
    return for_html(value)


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


def _img(name, alt: str, css_class: str) -> str:
    """The figure `name`; a note instead when it was not drawn (None: too many classes)."""
    if name is None:
        return f'<p class="note {css_class}">No {_e(alt)}: too many classes to draw one (the table has each class).</p>'
    return f'<img class="{css_class}" src="{_e(name)}" alt="{_e(alt)}">'


def render_html(report: ParityReport, manifest: Manifest, keras: Analysis, analyses: dict, figures: Figures,
                labels: list) -> str:
    """The page: the Platform line and parity table, then the Keras model and each artifact."""

    reference = report.reference
    n = len(reference.images)
    model_name = manifest.model
    body = [
        f"<h1>Parity report: {_e(model_name)}</h1>",
        f'<p class="mono">Platform: {_e(describe_platform(report.platform))}</p>',
        f"<p>Reference: {n:,} test images in <code>{_e(report.folder.reference_path)}</code>; "
        f"{_keras_accuracy(reference)}. Generated {_e(now())} by <code>python -m runtime parity --report</code>.</p>",
        f'<p class="verdict {STATUS_CLASS[report.status]}">{_e(outcome_line(report.results))}</p>',
        f'<p>Model card: <a href="{CARD_NAME}">{CARD_NAME}</a></p>',
        "<nav>" + "".join(f'<a href="#{_e(slug(name))}">{_e(name)}</a>' for name in ["keras", *analyses]) + "</nav>",
        "<h2>Parity table</h2>",
        _parity_table(report),
        '<p class="note"><b>agree</b>: share of images with the same top-1 class as the Keras model; '
        "<b>max / mean |Δp|</b>: over every image and class probability; <b>Δ acc</b> in percentage points.</p>",
    ]
    if keras.class_accuracy is not None:
        body += [
            '<section id="keras" class="reference"><h2>Keras model (float reference)</h2>',
            '<div class="row">',
            _img(figures.files.get(("confusion", "keras")), "confusion matrix of the Keras model", "confusion"),
            _table(["class", "images", "accuracy"],
                   [(labels[c], f"{keras.class_images[c]:,}", format_percent(keras.class_accuracy[c], 1)) for c in range(len(labels))]
                   + [("all", f"{n:,}", format_percent(reference.accuracy, 1))],
                   "per-class", [""] * len(labels) + ["total"]),
            "</div></section>",
        ]
    else:
        body.append('<section id="keras" class="reference"><h2>Keras model (float reference)</h2>'
                    "<p>The reference images came without labels: every figure below compares with the Keras "
                    "model's answers, not with true classes.</p></section>")
    for result in report.results:
        if result.artifact in analyses:
            body.append(_artifact_section(result, analyses[result.artifact], keras, figures, labels))
        else:
            body.append(f'<section id="{_e(slug(result.artifact))}"><h2>{_e(result.artifact)} '
                        f'<span class="fail">FAIL</span></h2><p>Could not be run: {_e("; ".join(result.failures))}</p></section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        + GENERATOR
        + f"<title>Parity report: {_e(model_name)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body) + "\n</body></html>\n"
    )


def _parity_table(report: ParityReport) -> str:
    header = ["artifact", "precision", "calibration", "backend", "size", "accuracy", "Δ acc", "agree",
              "max |Δp|", "mean |Δp|", "check"]
    accuracy = report.reference.accuracy
    rows = [("keras (reference)", "float32", "", "", "", "-" if accuracy is None else f"{accuracy:.4f}", "", "", "", "", "")]
    for r in report.results:
        rows.append((r.artifact, r.precision, r.calibration, r.backend, format_size(r.bytes),
                     "-" if r.accuracy is None else f"{r.accuracy:.4f}", pp(r.delta_accuracy), format_percent(r.agreement),
                     format_sci(r.max_abs_dp), format_sci(r.mean_abs_dp), (check_word(r.status), STATUS_CLASS[r.status])))
    for artifact, precision, _ in report.skipped:
        rows.append((artifact, precision, "", "", "", "", "", "", "", "", ("skipped", "skipped")))
    notes = [f'<li class="fail">FAIL {_e(r.artifact)}: {_e(f)}</li>' for r in report.results for f in r.failures]
    notes += [f'<li class="skipped">skipped {_e(a)}: {_e(why)}</li>' for a, _, why in report.skipped]
    return _table(header, rows, "parity") + (f"<ul>{''.join(notes)}</ul>" if notes else "")


def _artifact_section(result, a: Analysis, keras: Analysis, figures: Figures, labels: list) -> str:
    name = result.artifact
    n = len(a.rows)
    status = f'<span class="{STATUS_CLASS[result.status]}">{check_word(result.status)}</span>'
    rows = []
    for c in range(len(labels)):
        accuracy_changed = "changed" if a.class_right[c] != keras.class_right[c] else ""
        agreement_changed = "changed" if a.class_agreement[c] < 1 else ""
        rows.append((labels[c], f"{a.class_images[c]:,}", _share(keras.class_accuracy, c),
                     (_share(a.class_accuracy, c), accuracy_changed), (format_percent(a.class_agreement[c], 1), agreement_changed)))
    rows.append(("all", f"{n:,}", format_percent(keras.accuracy, 1), format_percent(a.accuracy, 1), format_percent(a.agreement, 1)))
    row_name = "true class" if a.truth is not None else "Keras's class"
    shown = figures.files["gallery", name]
    heading = f"Disagreements with Keras: {len(a.disagreements)} of {n:,} images"
    if len(shown) < len(a.disagreements):
        heading += f" (showing {len(shown)}, the largest |Δp| first)"
    parts = [
        f'<section id="{_e(slug(name))}" class="artifact">',
        f'<h2>{_e(name)} <span class="note">{_e(result.precision)}, {_e(result.backend)}</span> {status}</h2>',
        '<div class="row">',
        _img(figures.files.get(("confusion", name)), f"confusion matrix of {name}", "confusion"),
        _img(figures.files["histogram", name], f"histogram of |Δp| of {name}", "dp-histogram"),
        "</div>",
        '<div class="row">',
        '<div class="per-class-box"><h3>Per class: accuracy, and top-1 agreement with Keras</h3>',
        _table([row_name, "images", "Keras accuracy", "artifact accuracy", "agreement with Keras"], rows, "per-class",
               [""] * len(labels) + ["total"]),
        '<p class="note">Shaded: differs from Keras. Agreement: share of that class\'s images on which both '
        "models give the same top-1 class.</p></div>",
        f'<div class="gallery-box"><h3 class="gallery-heading">{_e(heading)}</h3>',
        '<div class="gallery">',
    ]
    for index, file in shown:
        truth = None if a.truth is None else int(a.truth[index])
        parts.append(_gallery_item(index, file, truth, keras.probs[index], a.probs[index], labels))
    parts.append("</div>")
    if not len(a.disagreements):
        parts.append(f"<p>None: {_e(name)} gives the Keras model's top-1 class on every image.</p>")
    parts.append("</div></div></section>")
    return "\n".join(parts)


def _gallery_item(index: int, file: str, truth, keras_probs: np.ndarray, probs: np.ndarray, labels: list) -> str:
    def line(who: str, p: np.ndarray) -> str:
        best = int(p.argmax())
        cls = "" if truth is None else ("right" if best == truth else "wrong")
        return f'<span class="{cls}">{who}: <b>{_e(labels[best])}</b> ({p[best]:.1%})</span>'

    return (
        f'<figure class="disagreement">{_img(file, f"test image {index}", "digit")}<figcaption>'
        f"image #{index}, true <b>{'?' if truth is None else _e(labels[truth])}</b><br>{line('Keras', keras_probs)}<br>{line('artifact', probs)}"
        "</figcaption></figure>"
    )




def _share(values, c: int) -> str:
    return "-" if values is None else format_percent(values[c], 1)


def _keras_accuracy(reference) -> str:
    return "no labels, agreement only" if reference.accuracy is None else f"Keras accuracy {reference.accuracy:.4f}"
