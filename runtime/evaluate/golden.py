"""A model file checked on a device with nothing but itself: its golden set (runtime/store/golden.py)
run through this device's interpreter, the outputs compared with the workstation's recorded
ones and with Keras's (`python -m runtime parity FILE`; convert runs the same check on every
file it seals, so the file committed is the file judged).

What a few dozen images can show, and what they cannot:
- they show whether this device computes what the workstation computed: identical outputs, or
  how far apart (in quantization steps and |Δp|);
- they cannot prove the accuracy budget of a lossy file: that verdict rests on the conversion's
  reference bundle (1,000 images), and the set records it. When the device's outputs are the
  workstation's, that verdict holds here as far as these images can tell; when they differ,
  the check is unproven: `runtime parity` with the models folder measures the difference.

Refused: a set that is missing a part, damaged or altered (its sha256 is not the one recorded
beside it, or its numbers contradict each other), recorded for other model bytes, or not shaped
like the file's tensors; and outputs no rounding difference explains. A float32 file must stay
within its tolerance (--float-max-dp) of the recorded outputs and of Keras, with top-1 changes
only at near-ties. A lossy file's top-1 may change only where a difference between kernel
libraries of up to KERNEL_REACH times the file's own largest |Δp| against Keras at conversion
(E, how far its precision moved any probability on the reference images) can change it: where
the two best classes are within 2 x KERNEL_REACH x E of each other in the workstation's outputs,
or within 2 x (1 + KERNEL_REACH) x E in Keras's (the workstation's are at most E from them).
Kernel libraries round differently, by a step here and there (the seed MLP: one step, on 1 to 3
of 1,000 outputs), more in deep int8 graphs, where the quantization error itself is larger too;
a difference of more than twice that whole error is not rounding. The sha256 beside the set catches
damage and edits that did not recompute it; it is not a signature: whoever can rewrite the
file can rewrite the set and its sha256 together, as they could rewrite the model."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ModelFileError, ToolkitError
from ..store.embedded import read_golden
from ..store.golden import GoldenSet, GoldenSetError
from ..tables import format_size, plural
from ..verdict import LOSSY_PRECISIONS, REFUSED, STATUSES, UNPROVEN, Limits, budget_pp, judge, non_finite_rows, rejudge

KERNEL_REACH = 2.0
"""How far, in units of the file's own largest |Δp| against Keras at conversion, two kernel
libraries' outputs may differ before a top-1 change they make counts as more than rounding."""
AGREEMENT_SLACK = 1e-6
"""The recorded outputs may exceed the recorded largest |Δp| by this much (relative) from
rounding the two numbers were written with."""


class NoGoldenSetError(ToolkitError):
    """The file carries no golden set: there is nothing here to check it against."""


@dataclass
class GoldenCheck:
    """The verdict of a file's golden set on this device."""

    artifact: str
    status: str
    """"verified", "unproven" or "refused" (runtime.verdict)."""
    summary: str
    """One sentence that starts with the outcome."""
    precision: str = ""
    bytes: int = 0
    backend: str = ""
    """The interpreter that ran it here."""
    failures: list = field(default_factory=list)
    details: list = field(default_factory=list)
    """The lines behind the verdict: the set, against the workstation, against Keras, at conversion,
    and what these images can and cannot show."""
    numbers: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status != REFUSED

    def to_json(self) -> dict:
        return dict(asdict(self), passed=self.passed)


def describe_carried(golden: GoldenSet, size: int, file_bytes: int, where: str) -> str:
    """"32 images (TFLite metadata, 11.2 KiB: 17.9% of the file): 2 where ..., recorded on litert 2.3.0, x86_64"."""
    ws = golden.workstation
    return (f"{golden.images} {plural(golden.images, 'image')} ({where}, {format_size(size)}: {size / file_bytes:.1%} of "
            f"the file): {golden.describe_reasons()}; recorded with {ws.get('backend', '?')} on {ws.get('machine', '?')}")


def open_golden(path) -> tuple:
    """(GoldenSet, its size as stored, where) of the file at `path`, its integrity checked;
    NoGoldenSetError when it carries none, GoldenSetError when it is damaged, altered or not this
    file's, ModelFileError when it is too large to read (runtime.store.embedded.read_golden)."""
    carried = read_golden(path)
    if carried is None:
        raise NoGoldenSetError(f"{path}: carries no golden set, so nothing here can check it: convert it again with "
                               "this version of the toolkit, or copy its models folder and run `python -m runtime parity --models DIR`")
    if not carried.recorded_sha256:
        raise GoldenSetError("has no sha256 recorded beside it")
    if not carried.intact:
        actual = hashlib.sha256(carried.data).hexdigest()
        raise GoldenSetError(f"has sha256 {actual[:12]}…, not the {carried.recorded_sha256[:12]}… recorded beside it: "
                             "it was altered or damaged after conversion")
    golden = GoldenSet.from_bytes(carried.data)
    if golden.graph_sha256 != carried.graph_sha256:
        raise GoldenSetError(f"was recorded for model bytes with sha256 {golden.graph_sha256[:12]}…, and this file's are "
                             f"{carried.graph_sha256[:12]}…: the model changed after conversion, or the set came from another file")
    _check_recorded(golden)
    return golden, len(carried.data), carried.where


def _check_recorded(golden: GoldenSet) -> None:
    """The set's numbers agree with each other: the workstation's outputs are no further from
    Keras's than the largest |Δp| it recorded (these images are among those it was measured on)."""
    dp = float(np.abs(golden.outputs.astype(np.float64) - golden.keras).max())
    if dp > golden.max_abs_dp * (1 + AGREEMENT_SLACK) + 1e-12:
        raise GoldenSetError(f"records outputs {dp:.3g} from Keras's, beyond the largest |Δp| it records for the file "
                             f"({golden.max_abs_dp:.3g}): its outputs or its Keras probabilities were altered")


def check_file(path, *, backend: Optional[str] = None, num_threads: Optional[int] = None, limits: Optional[Limits] = None,
               quiet: bool = True, model=None) -> GoldenCheck:
    """Runs the file's golden set on this device and judges it (see the module's docstring).
    `limits`: instead of those the conversion recorded; `model`: the file already loaded.
    NoGoldenSetError when it carries none; the file's own load errors (ModelFileError,
    BackendUnavailableError) propagate, and a set that cannot be read is refused."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder; give one .tflite or .onnx file, or check a models folder with "
                             f"`python -m runtime parity --models {path}`")
    if path.suffix.lower() not in (".tflite", ".onnx") or not path.is_file():
        raise ModelFileError(f"{path}: {'not a .tflite or .onnx file' if path.is_file() else 'no such file'}; the golden "
                             "set travels in the .tflite and .onnx files `python -m convert` writes")
    size = path.stat().st_size
    try:
        golden, stored, where = open_golden(path)
    except GoldenSetError as err:
        return _refused(path, size, f"its golden set {err}")
    except ModelFileError as err:  # read_golden: a set too large to read, or not base64
        return _refused(path, size, str(err).replace(f"{path}: ", "", 1))
    if model is None:
        from ..model import load

        model = load(path, backend=backend, num_threads=num_threads, quiet=quiet)
    backend_name = f"{model.backend.name} {model.backend.version}"
    problem = _shape_problem(golden, model)
    if problem:
        return _refused(path, size, f"its golden set {problem}", golden.precision, backend_name)
    probs = model.predict(golden.inputs)
    limits = limits or Limits.from_json(golden.limits)
    step = model.output.scale if model.output.quantized else golden.output_step
    check = judge_golden(golden, probs, step, limits)
    check.artifact, check.bytes, check.backend = path.name, size, backend_name
    check.details.insert(0, f"golden set: {describe_carried(golden, stored, size, where)}")
    return check


def _refused(path: Path, size: int, why: str, precision: str = "", backend: str = "") -> GoldenCheck:
    return GoldenCheck(path.name, REFUSED, f"{REFUSED}: {why}", precision, size, backend, failures=[why])


def _shape_problem(golden: GoldenSet, model) -> Optional[str]:
    image_shape = tuple(model.contract.image_shape)
    if golden.inputs.shape[1:] != image_shape:
        return f"holds images of shape {golden.inputs.shape[1:]}, and the file takes {image_shape}"
    if golden.keras.shape[1] != len(model.labels):
        return f"holds outputs of {golden.keras.shape[1]} classes, and the file has {len(model.labels)}"
    return None


def _margins(probs: np.ndarray) -> np.ndarray:
    """Each row's best probability minus its second best."""
    if probs.shape[1] < 2:
        return np.ones(len(probs))
    top = np.sort(probs.astype(np.float64), axis=1)
    return top[:, -1] - top[:, -2]


def judge_golden(golden: GoldenSet, probs: np.ndarray, step: Optional[float], limits: Limits) -> GoldenCheck:
    """The verdict on this device's outputs `probs` on the set's images; `step`: the quantization
    step of the file's probabilities, when they have one."""
    n, ws, keras = golden.images, golden.outputs, golden.keras
    images = f"{n} {plural(n, 'image')}"
    bad = non_finite_rows(probs)
    if bad:
        why = f"its outputs here are NaN or infinite on {bad} of {images}"
        return GoldenCheck("", REFUSED, f"{REFUSED}: {why}", golden.precision, failures=[why])
    diff = np.abs(probs.astype(np.float64) - ws)
    identical = bool(np.array_equal(probs, ws))
    max_ws = float(diff.max())
    differ = int(np.count_nonzero(diff.max(axis=1) > 0))
    top, top_ws, top_keras = probs.argmax(1), ws.argmax(1), keras.argmax(1)
    dp_keras = float(np.abs(probs.astype(np.float64) - keras).max())
    numbers = {"images": n, "identical": identical, "differ_images": differ, "max_abs_dp_workstation": max_ws,
               "steps": None if not step else int(round(max_ws / step)), "top1_as_workstation": int(np.sum(top == top_ws)),
               "top1_as_keras": int(np.sum(top == top_keras)), "workstation_top1_as_keras": int(np.sum(top_ws == top_keras)),
               "max_abs_dp_keras": dp_keras, "workstation_max_abs_dp_keras": float(np.abs(ws.astype(np.float64) - keras).max()),
               "conversion_max_abs_dp": golden.max_abs_dp, "limits": limits.to_json()}
    lossy = golden.precision in LOSSY_PRECISIONS
    failures = _float_failures(golden, probs, max_ws, limits) if not lossy else _lossy_failures(golden, probs)
    details = [f"against the workstation ({golden.workstation.get('backend', '?')} on {golden.workstation.get('machine', '?')}): "
               + _against_workstation(numbers, n),
               f"against Keras: top-1 as Keras on {numbers['top1_as_keras']} of {images} (the workstation: "
               f"{numbers['workstation_top1_as_keras']}), max |Δp| {dp_keras:.2e} (the workstation: "
               f"{numbers['workstation_max_abs_dp_keras']:.2e})"]
    recorded = rejudge(golden.verdict, limits) if golden.verdict else None
    converted = recorded.summary if recorded else "no verdict recorded"
    reference = golden.verdict.get("images")
    details.append(f"at conversion, on {reference:,} reference images: {converted}" if isinstance(reference, int)
                   else f"at conversion: {converted}")
    details.append(_what_it_shows(golden, lossy, limits, reference))
    if failures:
        return GoldenCheck("", REFUSED, f"{REFUSED}: {failures[0]}", golden.precision, failures=failures, details=details,
                           numbers=numbers)
    same = identical or not lossy
    status = (recorded.status if recorded and recorded.status in STATUSES else UNPROVEN) if same else UNPROVEN
    holds = (f"so the conversion's verdict on {reference:,} images holds here as far as these can show ({converted})"
             if isinstance(reference, int) else f"so the conversion's verdict holds here as far as these can show ({converted})")
    if identical:
        summary = f"{status}: this device gives the workstation's outputs on all {images}, bit for bit, {holds}"
    elif not lossy:
        summary = (f"{status}: this device's outputs are within {limits.float_max_dp:g} of the workstation's (max |Δp| "
                   f"{max_ws:.2e}) and of Keras's on {images}, {holds}")
    else:
        summary = (f"{UNPROVEN}: {_against_workstation(numbers, n)}; top-1 as Keras on {numbers['top1_as_keras']} "
                   f"(the workstation: {numbers['workstation_top1_as_keras']}); {images} cannot show whether that costs "
                   f"accuracy against the {budget_pp(limits.max_drop)} budget: `python -m runtime parity --models DIR` "
                   "with the models folder measures it")
    return GoldenCheck("", status, summary, golden.precision, failures=[], details=details, numbers=numbers)


def _against_workstation(numbers: dict, n: int) -> str:
    if numbers["identical"]:
        return f"identical outputs on all {n} {plural(n, 'image')}"
    steps = numbers["steps"]
    by = (f"by at most {steps} quantization {plural(steps, 'step')} (max |Δp| {numbers['max_abs_dp_workstation']:.2e})"
          if steps is not None else f"by max |Δp| {numbers['max_abs_dp_workstation']:.2e}")
    same = numbers["top1_as_workstation"]
    top1 = "top-1 as the workstation's on every image" if same == n else f"top-1 as the workstation's on {same} of {n}"
    return f"outputs differ on {numbers['differ_images']} of {n} {plural(n, 'image')}, {by}; {top1}"


def _float_failures(golden: GoldenSet, probs: np.ndarray, max_ws: float, limits: Limits) -> list:
    """A float32 file: the float rule against Keras on these images, and the same tolerance against the workstation."""
    failures = [f"against Keras on these {golden.images} images: {why}"
                for why in judge(golden.precision, probs, golden.keras, None, limits).failures]
    if not max_ws <= limits.float_max_dp:
        failures.append(f"its outputs differ from the workstation's recorded ones by max |Δp| {max_ws:.2e}, more than "
                        f"the {limits.float_max_dp:g} a float32 file allows (--float-max-dp)")
    return failures


def _lossy_failures(golden: GoldenSet, probs: np.ndarray) -> list:
    """A lossy file: top-1 changes only where a kernel difference of up to KERNEL_REACH x E
    (E: the file's largest |Δp| against Keras at conversion) can make them (the module's docstring)."""
    e = golden.max_abs_dp
    reach = KERNEL_REACH * e
    failures = []
    for whose, outputs, margin in (("the workstation's recorded outputs", golden.outputs, 2 * reach),
                                   ("Keras's", golden.keras, 2 * (e + reach))):
        beyond = (probs.argmax(1) != outputs.argmax(1)) & (_margins(outputs) > margin)
        count = int(beyond.sum())
        if count:
            failures.append(
                f"top-1 differs from {whose} on {count} of {golden.images} {plural(golden.images, 'image')} whose two best "
                f"classes there are more than {margin:.3g} apart: a difference of more than {KERNEL_REACH:g} times the "
                f"file's largest |Δp| against Keras at conversion ({e:.3g}), more than kernel libraries' rounding explains")
    return failures


def _what_it_shows(golden: GoldenSet, lossy: bool, limits: Limits, reference) -> str:
    n = golden.images
    on = f"the conversion's {reference:,} reference images" if isinstance(reference, int) else "the conversion's reference images"
    if lossy:
        return (f"what {n} {plural(n, 'image')} can show: whether this device computes what the workstation computed; "
                f"not the {budget_pp(limits.max_drop)} accuracy budget, which rests on {on}")
    return (f"what {n} {plural(n, 'image')} can show: whether this device computes what the workstation computed, "
            f"within {limits.float_max_dp:g}; not that every other image stays within it, which rests on {on}")
