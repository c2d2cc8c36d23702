"""Parity of an artifact with the float Keras model, on the reference bundle that `train` or
`convert --keras` saved (held-out images, their labels when known, the Keras
probabilities), so it can run on a device."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ManifestError
from ..store.bundles import Reference
from ..store.folder import ModelsFolder
from ..store.manifest import Parity
from ..verdict import REFUSED, UNPROVEN, VERIFIED, Limits, PairedChange, judge, reference_problems


@dataclass
class ParityResult(Parity):
    """One artifact measured against the reference: the five numbers (Parity; None when
    the artifact could not be run, see failures) and the verdict on them."""

    artifact: str = ""
    precision: str = ""
    bytes: int = 0
    failures: list = field(default_factory=list)
    """One sentence per missed threshold or problem, with the measured value; empty when passed."""
    backend: str = ""
    """The interpreter package and version that ran it."""
    calibration: str = ""
    """For int8: how it was calibrated, e.g. "500 images, per-channel"."""
    notes: list = field(default_factory=list)
    """One sentence per thing worth knowing that is not a failure: what the images cannot show,
    TFLite Micro's outputs against LiteRT's."""
    summary: str = ""
    """The verdict in one sentence that starts with its outcome: the change, its 95% bound, the
    number of images."""
    verdict: dict = field(default_factory=dict)
    """The numbers the verdict rests on (runtime.verdict.Verdict.to_json), as the manifest records them."""

    @property
    def passed(self) -> bool:
        """May be listed: nothing failed (the verdict is verified or unproven)."""
        return not self.failures

    @property
    def status(self) -> str:
        """"verified", "unproven" or "refused" (runtime.verdict): refused whenever anything
        failed, the verdict or a check beside it (the embedded metadata, TFLite Micro's)."""
        return REFUSED if self.failures else self.verdict.get("status", VERIFIED)

    def __post_init__(self):
        if not self.artifact:
            raise TypeError(f"artifact: got {self.artifact!r}, expected the artifact's file name")

    def to_json(self) -> dict:
        data = asdict(self)
        named = {key: data.pop(key) for key in ("artifact", "precision", "bytes")}  # what it is about, first
        return dict(named, **data, passed=self.passed, status=self.status)


def limits_from_options(max_drop_pp: Optional[float], float_max_dp: Optional[float]) -> Optional[Limits]:
    """The limits that --max-drop (in percentage points) and --float-max-dp ask for, with the
    default where one is not given; None when neither is."""
    if max_drop_pp is None and float_max_dp is None:
        return None
    default = Limits()
    return Limits(max_drop=default.max_drop if max_drop_pp is None else max_drop_pp / 100,
                  float_max_dp=default.float_max_dp if float_max_dp is None else float_max_dp)


def compare(
    artifact: str, precision: str, size: int, probs: np.ndarray, reference: Reference, limits: Optional[Limits] = None,
) -> ParityResult:
    """Measures `probs` (from the artifact, on reference.images) against the Keras ones and
    judges them (runtime.verdict.judge) with `limits` (default: the defaults). A shape that
    differs, or NaN, is a failure of the artifact, not an exception."""
    result = ParityResult(artifact=artifact, precision=precision, bytes=int(size))
    verdict = judge(precision, probs, reference.probs, reference.labels, limits or Limits())
    result.failures += verdict.failures
    result.notes += verdict.notes
    result.summary, result.verdict = verdict.summary, verdict.to_json()
    if verdict.rule == "sanity" and probs.shape != reference.probs.shape:
        return result
    top1 = probs.argmax(1)
    diff = np.abs(probs.astype(np.float64) - reference.probs)
    result.agreement = float(np.mean(top1 == reference.probs.argmax(1)))
    result.max_abs_dp = float(diff.max()) if diff.size else 0.0
    result.mean_abs_dp = float(diff.mean()) if diff.size else 0.0
    if reference.has_labels:
        change = PairedChange.measure(reference.probs.argmax(1), top1, reference.labels)
        result.accuracy = change.artifact_right / change.images
        result.delta_accuracy = change.delta
    return result


@dataclass
class ParityReport:
    """`python -m runtime parity`: every artifact of a manifest against the reference."""

    models: str
    reference: Reference
    folder: Optional[ModelsFolder] = None
    """The folder checked, its manifest as this run read it."""
    results: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    """(artifact, precision, reason) for artifacts no installed backend can run."""
    platform: dict = field(default_factory=dict)
    """Where it ran: machine, Python, numpy and interpreter versions."""
    outputs: dict = field(default_factory=dict)
    """Artifact -> its probabilities on the reference images (check_models(keep_outputs=True))."""

    @property
    def passed(self) -> bool:
        """Every file that ran may be listed (verified or unproven), and one ran at least."""
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def status(self) -> str:
        """The run's outcome: "refused" when a file failed (or none could run), else "unproven"
        when a file's images could not show it within the budget, else "verified"."""
        if not self.passed:
            return REFUSED
        return UNPROVEN if any(r.status == UNPROVEN for r in self.results) else VERIFIED

    def to_json(self) -> dict:
        return {
            "models": self.models,
            "passed": self.passed,
            "status": self.status,
            "platform": self.platform,
            "reference": {"images": len(self.reference.images), "accuracy": self.reference.accuracy},
            "artifacts": [r.to_json() for r in self.results],
            "skipped": [{"artifact": a, "precision": p, "reason": why} for a, p, why in self.skipped],
        }


def check_models(models_dir, limits: Optional[Limits] = None, backend=None, num_threads=None, verify_checksum=True,
                 keep_outputs=False, quiet=True) -> ParityReport:
    """Checks the sha256 of every artifact in the manifest, runs it on the reference bundle and
    judges it against the Keras probabilities: with `limits` if given, else with the limits
    each artifact was judged with at conversion (the manifest records them), so the device
    repeats the same judgement; with `keep_outputs`, each artifact's probabilities are kept in report.outputs; `quiet`
    drops the interpreters' status lines. Reads the manifest once, and holds the folder's shared
    manifest lock throughout, so a `convert` writing the same folder never shows it a file and
    an entry that disagree."""
    with ModelsFolder.reading(models_dir) as folder:
        return _check_models(folder, limits, backend, num_threads, verify_checksum, keep_outputs, quiet)


def _check_models(folder: ModelsFolder, limits, backend, num_threads, verify_checksum, keep_outputs, quiet) -> ParityReport:
    from ..errors import BackendUnavailableError, ModelFileError
    from ..model import load_listed
    from .platform_info import platform_record

    manifest = folder.manifest
    reference = folder.reference()
    problem, _ = reference_problems(reference.probs, None)
    if problem:
        raise ManifestError(f"{folder.reference_path}: {problem}; nothing can be judged against it")
    report = ParityReport(str(folder.path), reference, folder)
    backends = {}
    for entry in manifest.exported:
        name, precision = entry.path, entry.precision
        path = folder.file(name)
        size = path.stat().st_size if path.is_file() else 0
        micro = entry.format == "tflite-micro"
        try:
            model = load_listed(folder, name, backend=_backend_for(path, backend, micro), num_threads=num_threads,
                                verify_checksum=verify_checksum, quiet=quiet)
            probs = model.predict(reference.images)
        except (BackendUnavailableError, _NotThisBackend) as err:
            report.skipped.append((name, precision, str(err)))
            continue
        except (ModelFileError, ValueError, TypeError) as err:  # a file that cannot run, or not on these images
            failed = ParityResult(artifact=name, precision=precision, bytes=size)
            failed.failures.append(str(err))
            report.results.append(failed)
            continue
        result = compare(name, precision, size, probs, reference, limits or manifest.limits_for(entry))
        result.backend = f"{model.backend.name} {model.backend.version}"
        result.calibration = entry.calibration.describe() if entry.calibration else ""
        if micro:
            from .micro_checks import check_micro_artifact

            check_micro_artifact(folder.path, entry, model, reference.images, result)
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
    nothing else. A C engine (`convert micro`'s .c) runs on the `c` backend, the only one that
    runs it, and `--backend c` runs nothing else."""
    from ..backends import BACKENDS_FOR_FORMAT
    from ..errors import BackendUnavailableError
    from ..backends.interpreters import import_backend

    if backend is None and micro:
        try:
            import_backend("tflite-micro")
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
