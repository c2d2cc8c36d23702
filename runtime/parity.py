"""Parity of an artifact with the float Keras model, on the reference bundle that training
saved (test images, labels and the Keras probabilities), so it can run on a device."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import ManifestError

REFERENCE_NAME = "reference.npz"


@dataclass(frozen=True)
class Reference:
    """The test split and what the float Keras model said about it."""

    images: np.ndarray
    """uint8 (N, 28, 28), as MNIST stores them."""
    labels: np.ndarray
    """int (N,), the true digits."""
    probs: np.ndarray
    """float32 (N, classes), the Keras model's output."""

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.probs.argmax(1) == self.labels))


def load_reference(models_dir) -> Reference:
    path = Path(models_dir) / REFERENCE_NAME
    if not path.is_file():
        raise ManifestError(f"{path} not found: run `python -m train` first")
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels, probs = data["images"], data["labels"], data["probs"]
    except (OSError, ValueError, KeyError) as err:
        raise ManifestError(f"{path} is not a valid reference bundle: {err}") from err
    n = len(images)
    if images.dtype != np.uint8 or images.ndim != 3 or labels.shape != (n,) or probs.ndim != 2 or len(probs) != n:
        raise ManifestError(
            f"{path}: expected images uint8 (N, H, W), labels (N,), probs (N, classes); got "
            f"{images.dtype} {images.shape}, {labels.shape}, {probs.shape}"
        )
    return Reference(images, labels.astype(np.int64), probs.astype(np.float32))


@dataclass(frozen=True)
class Thresholds:
    """What an artifact must meet to pass; None means not checked."""

    max_abs_dp: Optional[float] = None
    """Largest allowed |p_artifact - p_keras| over every image and class."""
    min_agreement: Optional[float] = None
    """Smallest allowed share of images where both models give the same top-1 class."""
    max_abs_delta_accuracy: Optional[float] = None
    """Largest allowed |accuracy_artifact - accuracy_keras|, as a fraction (0.005 = 0.5 pp)."""


DEFAULT_THRESHOLDS = {
    "float32": Thresholds(max_abs_dp=1e-5, min_agreement=1.0),
    "float16": Thresholds(min_agreement=0.995),
    "dynamic": Thresholds(min_agreement=0.995),
    "int8": Thresholds(min_agreement=0.99, max_abs_delta_accuracy=0.005),
}


@dataclass
class ParityResult:
    """One artifact measured against the reference."""

    artifact: str
    precision: str
    bytes: int
    accuracy: Optional[float] = None
    """None when the artifact could not be run (see failures)."""
    delta_accuracy: Optional[float] = None
    """accuracy - Keras accuracy, as a fraction."""
    agreement: Optional[float] = None
    """Share of images with the same top-1 class as Keras."""
    max_abs_dp: Optional[float] = None
    mean_abs_dp: Optional[float] = None
    failures: list = field(default_factory=list)
    """One sentence per missed threshold or problem, with the measured value; empty when passed."""
    backend: str = ""
    """The interpreter package and version that ran it."""
    calibration: str = ""
    """For int8: how it was calibrated, e.g. "500 images, per-channel"."""
    notes: list = field(default_factory=list)
    """One sentence per extra check that passed, e.g. TFLite Micro's outputs against LiteRT's."""

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict:
        return dict(asdict(self), passed=self.passed)


def compare(
    artifact: str, precision: str, size: int, probs: np.ndarray, reference: Reference,
    thresholds: Optional[Thresholds] = None,
) -> ParityResult:
    """Measures `probs` (from the artifact, on reference.images) against the Keras ones."""
    if probs.shape != reference.probs.shape:
        raise ValueError(
            f"{artifact}: output shape {probs.shape} differs from the reference's {reference.probs.shape}"
        )
    if thresholds is None:
        thresholds = DEFAULT_THRESHOLDS[precision]
    top1 = probs.argmax(1)
    accuracy = float(np.mean(top1 == reference.labels))
    diff = np.abs(probs.astype(np.float64) - reference.probs)
    result = ParityResult(
        artifact=artifact,
        precision=precision,
        bytes=int(size),
        accuracy=accuracy,
        delta_accuracy=accuracy - reference.accuracy,
        agreement=float(np.mean(top1 == reference.probs.argmax(1))),
        max_abs_dp=float(diff.max()) if diff.size else 0.0,
        mean_abs_dp=float(diff.mean()) if diff.size else 0.0,
    )
    if not np.all(np.isfinite(probs)):
        result.failures.append("output has NaN or infinite values")
    t = thresholds
    if t.max_abs_dp is not None and not result.max_abs_dp <= t.max_abs_dp:
        result.failures.append(f"max |Δp| {result.max_abs_dp:.2e} > {t.max_abs_dp:g}")
    if t.min_agreement is not None and not result.agreement >= t.min_agreement:
        result.failures.append(f"top-1 agreement {result.agreement:.2%} < {t.min_agreement:.2%}")
    if t.max_abs_delta_accuracy is not None and not abs(result.delta_accuracy) <= t.max_abs_delta_accuracy:
        result.failures.append(
            f"|Δ accuracy| {abs(result.delta_accuracy) * 100:.2f} pp > {t.max_abs_delta_accuracy * 100:.2f} pp"
        )
    return result


def format_size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MiB"


def format_percent(value, digits=2) -> str:
    """A share as a percentage; "-" when it was not measured (None or NaN)."""
    return "-" if value is None or value != value else f"{value:.{digits}%}"


def format_sci(value) -> str:
    """A difference in scientific notation; "-" when it was not measured."""
    return "-" if value is None else f"{value:.2e}"


def format_table(results, reference: Reference, reference_name: str = "keras (reference)", skipped=()) -> str:
    """The summary table: one row per artifact, the Keras model first."""
    header = ("artifact", "precision", "calibration", "size", "accuracy", "Δ acc", "agree", "max |Δp|", "mean |Δp|", "check")
    rows = [(reference_name, "float32", "", "", f"{reference.accuracy:.4f}", "", "", "", "", "")]
    for r in results:
        rows.append((
            r.artifact, r.precision, r.calibration, format_size(r.bytes),
            "-" if r.accuracy is None else f"{r.accuracy:.4f}",
            "-" if r.delta_accuracy is None else f"{r.delta_accuracy * 100:+.2f} pp",
            format_percent(r.agreement), format_sci(r.max_abs_dp), format_sci(r.mean_abs_dp), "pass" if r.passed else "FAIL",
        ))
    for artifact, precision, reason in skipped:
        rows.append((artifact, precision, "", "", "", "", "", "", "", "skipped"))
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        for note in r.notes:
            lines.append(f"note {r.artifact}: {note}")
        for failure in r.failures:
            lines.append(f"FAIL {r.artifact}: {failure}")
    for artifact, _, reason in skipped:
        lines.append(f"skipped {artifact}: {reason}")
    return "\n".join(lines)


@dataclass
class ParityReport:
    """`python -m runtime parity`: every artifact of a manifest against the reference."""

    models: str
    reference: Reference
    results: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    """(artifact, precision, reason) for artifacts no installed backend can run."""
    platform: dict = field(default_factory=dict)
    """Where it ran: machine, Python, numpy and interpreter versions."""
    outputs: dict = field(default_factory=dict)
    """Artifact -> its probabilities on the reference images (check_models(keep_outputs=True))."""

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def to_json(self) -> dict:
        return {
            "models": self.models,
            "passed": self.passed,
            "platform": self.platform,
            "reference": {"images": len(self.reference.labels), "accuracy": self.reference.accuracy},
            "artifacts": [r.to_json() for r in self.results],
            "skipped": [{"artifact": a, "precision": p, "reason": why} for a, p, why in self.skipped],
        }


def describe_calibration(entry: dict) -> str:
    """"500 images, per-channel" from a manifest entry's calibration record; "" if none."""
    calibration = entry.get("calibration")
    if not calibration:
        return ""
    text = f"{calibration.get('samples', '?')} images"
    if "per_channel" in calibration:
        text += ", per-channel" if calibration["per_channel"] else ", per-tensor"
    return text


def platform_record(backends=()) -> dict:
    """The machine and package versions, so a log proves where the check ran."""
    import platform

    record = {
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for backend in backends:
        record[backend.name] = backend.version
    return record


def describe_platform(record: dict) -> str:
    """'Linux x86_64, Python 3.11.7, numpy 2.4.6, litert 2.3.0' from a platform record."""
    rest = [f"{k} {v}" for k, v in record.items() if k not in ("system", "machine", "python", "numpy")]
    return ", ".join([f"{record['system']} {record['machine']}", f"Python {record['python']}", f"numpy {record['numpy']}"] + rest)


def check_models(models_dir, thresholds=None, backend=None, num_threads=None, verify_checksum=True,
                 keep_outputs=False) -> ParityReport:
    """Checks the sha256 of every artifact in the manifest, runs it on the reference bundle and
    compares it with the Keras probabilities. `thresholds` maps precision to Thresholds;
    with `keep_outputs`, each artifact's probabilities are kept in report.outputs."""
    from .errors import BackendUnavailableError, ModelFileError
    from .manifest import read_manifest
    from .model import load

    thresholds = dict(DEFAULT_THRESHOLDS, **(thresholds or {}))
    manifest = read_manifest(models_dir)
    reference = load_reference(models_dir)
    report = ParityReport(str(models_dir), reference)
    backends = {}
    for entry in manifest["artifacts"]:
        if entry.get("format") == "keras":
            continue
        name, precision = entry["path"], entry.get("precision", "float32")
        path = Path(models_dir) / name
        micro = entry.get("format") == "tflite-micro"
        try:
            model = load(path, backend=_backend_for(path, backend, micro), num_threads=num_threads,
                         verify_checksum=verify_checksum)
        except BackendUnavailableError as err:
            report.skipped.append((name, precision, str(err)))
            continue
        except _NotThisBackend as err:
            report.skipped.append((name, precision, str(err)))
            continue
        except ModelFileError as err:
            failed = ParityResult(name, precision, path.stat().st_size if path.is_file() else 0)
            failed.failures.append(str(err))
            report.results.append(failed)
            continue
        probs = model.predict(reference.images)
        result = compare(name, precision, path.stat().st_size, probs, reference, thresholds.get(precision))
        result.backend = f"{model.backend.name} {model.backend.version}"
        result.calibration = describe_calibration(entry)
        if micro:
            from .tflm import check_micro_artifact

            check_micro_artifact(Path(models_dir), entry, model, reference.images, result)
        report.results.append(result)
        if keep_outputs:
            report.outputs[name] = probs
        backends[model.backend.name] = model.backend
    report.platform = platform_record(backends.values())
    return report


class _NotThisBackend(Exception):
    """The backend the user chose cannot run this file's format."""


def _backend_for(path: Path, backend, micro: bool = False):
    """The backend to load an artifact with. The batch-1 model of a tflite-micro artifact runs
    on TFLite Micro when it is installed (else on the .tflite backends); TFLite Micro runs
    nothing else."""
    from .backends import BACKENDS_FOR_FORMAT, BackendUnavailableError, _import

    if backend is None and micro:
        try:
            _import("tflite-micro")
        except BackendUnavailableError:
            return None
        return "tflite-micro"
    if backend is None:
        return None
    if backend == "tflite-micro" and not micro:
        raise _NotThisBackend("--backend tflite-micro runs only the batch-1 models of `python -m convert micro`")
    if backend != "tflite-micro" and backend not in BACKENDS_FOR_FORMAT[path.suffix.lower()]:
        raise _NotThisBackend(f"--backend {backend} does not run {path.suffix} files")
    return backend
