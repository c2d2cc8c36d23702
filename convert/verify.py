"""The one way a file is verified before it is listed: `verify` writes a candidate to a
temporary file beside its place (export), loads it back through the device runtime (load),
runs it on the reference images and judges its outputs against the Keras model's, with the
user's limits and any checks of the caller (judge), then renames it into place with its
manifest entry, its companion files beside it (commit), or removes it and records why in the
manifest (reject). Conversion calls it for every file, micro for its batch-1 model and its C
engine (convert/micro_engine.py); a candidate that misses the budget may be replaced once by
its fallback (the int8 fixes), verified here the same way. `meets` judges a listed file again
with other limits (the web page's file), from the counts its verdict recorded. `withdraw`
removes what an earlier run made from a file this run replaced (micro's C engine and Vela's
model), recording why when this run could not make it.

The outcome is a status: "verified" and "unproven" files are committed (an unproven file's
images could not show it within the budget, nor beyond it: runtime.verdict), "rejected" ones
are not."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from runtime.errors import ToolkitError
from runtime.evaluate.parity import ParityResult, compare
from runtime.store.files import atomic_path, sha256_file
from runtime.store.folder import ModelsFolder
from runtime.store.manifest import Artifact, Calibration, ParityRecord, TensorRecord
from runtime.verdict import REFUSED, UNPROVEN, VERIFIED, Limits, rejudge

REJECTED = "rejected"
COMMITTED = (VERIFIED, UNPROVEN)
"""The statuses whose files are renamed into place and listed."""


@dataclass
class Candidate:
    """A file to verify: its name in the models folder, how it is written and loaded back, and
    what its manifest entry records beside the common fields."""

    name: str
    format: str
    """tflite, onnx or tflite-micro (the manifest's format)."""
    precision: str
    write: Callable[[Path], None]
    """Writes the file at the (temporary) path given."""
    open: Callable[[Path], object]
    """Loads the written file back through the runtime: a runtime.Model."""
    checks: tuple = ()
    """check(path, model, result) for each: adds failures or notes to the ParityResult."""
    calibration: Optional[Calibration] = None
    """How an int8 file was calibrated."""
    tools: dict = field(default_factory=dict)
    """Package versions that made the file."""
    extra: dict = field(default_factory=dict)
    """Fields the entry records beside the common ones (what an int8 fix kept in float)."""
    notes: tuple = ()
    """Sentences added to the result's notes."""
    companions: Optional[Callable[[object, ParityResult], dict]] = None
    """companions(model, result) -> {name in the folder: text or bytes}: files written beside it
    when it passes, renamed into place with it (micro's C++ files, Vela's compiled model)."""
    describe: Optional[Callable[[Artifact, object, ParityResult], None]] = None
    """describe(entry, model, result): adds format-specific fields to its manifest entry."""
    errors_reject: bool = True
    """A ToolkitError while it is written or loaded rejects it (recorded; the run goes on).
    False: the error stops the command, and nothing is recorded."""
    seal: Optional[Callable[[Path, object, object, ParityResult], tuple]] = None
    """seal(path, model, probs, result) -> (record, note): once the file has passed, embeds its
    golden set (convert/golden.py) in the file at `path`, from its outputs on the reference images;
    `record` goes into its manifest entry as "golden_set" ({}: none was embedded). The sealed file
    is then loaded again and must give the same outputs, bit for bit, and pass the device's own
    check of its golden set (runtime.evaluate.golden), so the file committed is the file judged."""


@dataclass
class Verified:
    """What verify did with a candidate."""

    result: ParityResult
    """Its parity and verdict (the fallback's, when that was judged last)."""
    status: str
    """VERIFIED or UNPROVEN (committed), or REJECTED (not written; the manifest says why)."""
    model: Optional[object] = None
    """The runtime Model that judged it (None when it did not load)."""
    entry: Optional[Artifact] = None
    """Its manifest entry, when committed."""
    probs: Optional[object] = None
    """Its probabilities on the reference images, as judged (None when it did not load): micro's
    C engine must give TFLite Micro's to the bit."""

    @property
    def committed(self) -> bool:
        return self.status in COMMITTED


@dataclass
class Judged:
    """One candidate written and judged in the temporary file, not yet committed or rejected."""

    candidate: Candidate
    result: ParityResult
    model: Optional[object] = None
    error: Optional[str] = None
    """Why it could not be written or loaded (then result holds it as its failure)."""
    probs: Optional[object] = None
    """Its probabilities on the reference images (None when it could not be run)."""
    ms_per_image: float = float("nan")
    """The interpreter's time per reference image after the first (this machine, one run)."""
    path: Optional[Path] = None
    """The temporary file it was written to (its bytes, while verify runs)."""


Fallback = Callable[[Judged], Optional[Candidate]]
"""fallback(judged) -> another candidate for the same file, or None: asked once when a
candidate is not verified (refused or unproven); the fix replaces it when `better`."""


def verify(candidate: Candidate, folder: ModelsFolder, limits: Limits, fallback: Optional[Fallback] = None,
           log=print, started: Optional[float] = None) -> Verified:
    """Export, load, judge, then commit or reject `candidate` in `folder` (whose writer's lock
    the caller holds); see the module's docstring. `started`: when the work on it began
    (perf_counter), for the time the log gives."""
    started = time.perf_counter() if started is None else started
    path = folder.file(candidate.name)
    with atomic_path(path) as tmp:
        judged = _judge(candidate, folder, tmp, path, limits)
        if judged.result.status != VERIFIED and judged.error is None and fallback is not None:
            retry = fallback(judged)
            if retry is not None:
                first = tmp.read_bytes()
                again = _judge(retry, folder, tmp, path, limits)
                if again.error is None and better(again.result, judged.result):
                    judged = again
                else:
                    why = (f"does not load back through the runtime: {again.error}" if again.error is not None else
                           f"is no better through {again.result.backend.split()[0]} ({again.result.summary})")
                    log(f"  the fix {why}; {candidate.name} stays as first made")
                    tmp.write_bytes(first)
        sealed = None
        if judged.result.passed and judged.candidate.seal is not None:
            judged, sealed = _sealed(judged, folder, tmp, path)
        result = judged.result
        if not result.passed:  # atomic_path leaves an earlier file at `path` as it was
            reason = "; ".join(result.failures)
            written = "no file was written" if candidate.companions else "the file was not written"
            log(f"  REJECTED {candidate.name}: {reason}; {written}")
            tmp.unlink()
            folder.reject(candidate.name, candidate.precision, reason)
            return Verified(result, REJECTED, judged.model, probs=judged.probs)
        chosen = judged.candidate
        entry = artifact_record(chosen, folder, tmp, judged.model, result)
        texts = chosen.companions(judged.model, result) if chosen.companions else {}
        with _written(folder, texts) as companions:
            folder.manifest.limits = limits.to_json()
            folder.commit(entry, {tmp: candidate.name, **companions})
    log(f"  checked with {result.backend.split()[0]}: {result.summary} ({time.perf_counter() - started:.1f} s)", flush=True)
    if sealed:
        log(f"  {sealed}")
    for note in result.notes:
        log(f"  note: {note}")
    return Verified(result, result.status, judged.model, entry, judged.probs)


STATUS_RANK = {REFUSED: 0, UNPROVEN: 1, VERIFIED: 2}


def better(fix: ParityResult, first: ParityResult) -> bool:
    """Whether a fix's result beats the first candidate's: a better outcome (verified over
    unproven over refused), or the same outcome with a better measured change."""
    if STATUS_RANK[fix.status] != STATUS_RANK[first.status]:
        return STATUS_RANK[fix.status] > STATUS_RANK[first.status]
    return measured_change(fix) > measured_change(first)


def measured_change(result: ParityResult) -> float:
    """The change against Keras a result measured, larger is better: the accuracy change, or
    without labels minus the top-1 disagreement (-inf when it did not run)."""
    if result.delta_accuracy is not None:
        return result.delta_accuracy
    return result.agreement - 1 if result.agreement is not None else float("-inf")


def _judge(candidate: Candidate, folder: ModelsFolder, tmp: Path, path: Path, limits: Limits) -> Judged:
    """Writes the candidate to `tmp`, loads it back and judges it on the reference images (the
    interpreter's first image is run apart, so `ms_per_image` is its time per image after)."""
    reference = folder.reference()
    try:
        candidate.write(tmp)
        model = candidate.open(tmp)
        first = model.predict(reference.images[:1])
        timed = time.perf_counter()
        rest = model.predict(reference.images[1:])
        ms_per_image = 1000 * (time.perf_counter() - timed) / max(1, len(reference.images) - 1)
        probs = np.concatenate([first, rest]) if len(rest) else first
    except ToolkitError as err:
        if not candidate.errors_reject:
            raise
        message = str(err).replace(str(tmp), str(path))  # the file it is about, not its temporary name
        result = ParityResult(artifact=candidate.name, precision=candidate.precision, bytes=0, failures=[message])
        return Judged(candidate, result, error=message)
    result = compare(candidate.name, candidate.precision, tmp.stat().st_size, probs, reference, limits)
    result.backend = f"{model.backend.name} {model.backend.version}"
    if candidate.calibration is not None:
        result.calibration = candidate.calibration.describe()
    for check in candidate.checks:
        check(tmp, model, result)
    result.notes += list(candidate.notes)
    return Judged(candidate, result, model, probs=probs, ms_per_image=ms_per_image, path=tmp)


def _sealed(judged: Judged, folder: ModelsFolder, tmp: Path, path: Path) -> tuple:
    """(the judged file with its golden set embedded, loaded again and checked, the line to log
    about the set or None): the same outputs on every reference image as judged, and its golden
    set passing the device's check here with the outputs it recorded; a failure when either is
    not so. Why no set was embedded is a note of the result."""
    from runtime.evaluate.golden import check_file

    candidate, result = judged.candidate, judged.result
    try:
        record, note = candidate.seal(tmp, judged.model, judged.probs, result)
        if not record:
            result.notes += [note] if note else []
            return judged, None
        model = candidate.open(tmp)
        probs = model.predict(folder.reference().images)
        check = check_file(tmp, model=model)
    except ToolkitError as err:
        result.failures.append(f"its golden set could not be embedded: {str(err).replace(str(tmp), str(path))}")
        return judged, None
    if probs.dtype != judged.probs.dtype or probs.shape != judged.probs.shape or probs.tobytes() != judged.probs.tobytes():
        result.failures.append("embedding its golden set changed what it computes on the reference images")
    elif check.status == REFUSED or not check.numbers.get("identical"):
        result.failures.append(f"its golden set does not check on the workstation that made it: {check.summary}")
    result.bytes = tmp.stat().st_size
    sealed = with_candidate(candidate, extra={**candidate.extra, "golden_set": record})
    return Judged(sealed, result, model, probs=probs, ms_per_image=judged.ms_per_image, path=judged.path), note


def artifact_record(candidate: Candidate, folder: ModelsFolder, tmp: Path, model, result: ParityResult) -> Artifact:
    """The manifest entry of a verified file: what it is, its checksum, contract, labels and
    tensors, the Keras model it came from, its parity and verdict, and how it was made."""
    keras, manifest = folder.manifest.keras, folder.manifest
    entry = Artifact(
        path=candidate.name, format=candidate.format, precision=candidate.precision, sha256=sha256_file(tmp),
        bytes=tmp.stat().st_size, contract=keras.contract, labels=list(manifest.labels), dataset=keras.dataset,
        input_tensor=TensorRecord.of(model.input), output_tensor=TensorRecord.of(model.output),
        converted_from={"path": keras.path, "sha256": keras.sha256},
        metrics=ParityRecord(**result.parity(), reference_images=manifest.reference.images,
                             verified_with=result.backend, verdict=result.verdict),
        calibration=candidate.calibration, tools=dict(candidate.tools), extra=dict(candidate.extra),
    )
    if candidate.describe is not None:
        candidate.describe(entry, model, result)
    return entry


@contextlib.contextmanager
def _written(folder: ModelsFolder, texts: dict) -> Iterator[dict]:
    """Companion files, each written to a temporary file beside its place: yields {temporary
    path: name} for ModelsFolder.commit; what was not committed is removed."""
    with contextlib.ExitStack() as stack:
        paths = {}
        for name, text in texts.items():
            tmp = stack.enter_context(atomic_path(folder.file(name)))
            if isinstance(text, bytes):
                tmp.write_bytes(text)
            else:
                tmp.write_text(text)
            paths[tmp] = name
        yield paths


def withdraw(folder: ModelsFolder, name: Optional[str], files, precision: str = "", reason: str = "") -> list:
    """Withdraws what an earlier run wrote from a file this run replaced (the C engine and Vela's
    model of the TFLite Micro model `convert micro` just rewrote): the entry `name` (None: no
    entry of its own) and `files` go; with `reason`, the manifest records why this run did not
    write `name` (an engine refused for an op it lacks), as a rejection. Returns the names of the
    files that were there."""
    removed = folder.withdraw(name, files)
    if reason:
        folder.reject(name, precision, reason)
    return removed


def with_candidate(candidate: Candidate, **changes) -> Candidate:
    """`candidate` with some fields changed (a fallback: other bytes for the same file)."""
    return dataclasses.replace(candidate, **changes)


def meets(entry: Artifact, limits: Limits) -> list:
    """The failures of a listed file's recorded verdict judged again with `limits` (its counts
    are in the manifest); [] when it meets them, or when nothing usable was recorded."""
    verdict = rejudge(entry.metrics.verdict, limits) if entry.metrics else None
    return [] if verdict is None or verdict.passed else list(verdict.failures)
