"""Convert, verify, then list: each artifact is exported to a temporary file with the input
contract and labels embedded, and handed to convert/verify.py, which loads it back through the
runtime, judges it against the Keras outputs on the reference bundle, and only then renames it
into place and lists it in the manifest (or records why not)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

import runtime
from runtime.errors import ManifestError, ToolkitError, one_line
from runtime.store.bundles import Reference
from runtime.store.embedded import read_embedded
from runtime.store.files import atomic_path
from runtime.store.folder import ModelsFolder
from runtime.store.layout import artifact_name
from runtime.store.manifest import Calibration, Manifest, tool_versions
from runtime.verdict import Limits, reference_problems

from .embed import tflite_with_metadata
from .golden import GOLDEN_IMAGES, golden_sealer
from .keras_file import load_keras
from .onnx_export import FloatOnnx, finish_onnx, quantize_onnx
from .pixel_input import PIXEL_PRECISIONS, keras_with_pixel_input
from .tflite_export import ARTIFACT_INT8_OUTPUT, tflite_bytes
from .user_model import CALIBRATION_IMAGES
from .verify import Candidate, verify

TOOLS = ("tensorflow", "keras", "onnx", "tf2onnx", "flatbuffers", "ai-edge-litert", "onnxruntime", "numpy")
"""The packages whose versions an exported file's entry records."""


class ConversionError(ToolkitError, ValueError):
    """Conversion cannot start (missing or changed training outputs, bad options)."""


@dataclass(frozen=True)
class Target:
    """One artifact to produce."""

    format: str
    """tflite or onnx."""
    precision: str

    def filename(self, stem: str) -> str:
        return artifact_name(stem, self.precision, self.format)


@dataclass
class ConvertOptions:
    """What `python -m convert` was asked to do."""

    targets: list
    models: str = "models"
    calibration_samples: Optional[int] = None
    """How many training images calibrate int8 activations; None: CALIBRATION_IMAGES (200), or
    all the calibration bundle holds when fewer."""
    per_channel: bool = True
    """int8 weights with one scale per output channel (False: one per tensor)."""
    diagnose: bool = False
    """Print the layer-by-layer int8 diagnosis even when int8 TFLite passes (it is printed
    whenever int8 TFLite fails its check)."""
    metadata: bool = True
    """Embed the input contract and labels in every file (TFLite metadata, ONNX metadata_props)."""
    verbose: bool = False
    """Let the converters and interpreters print their own status lines."""
    limits: Limits = field(default_factory=Limits)
    """What each file must meet: the accuracy budget of lossy files, the tolerance of float ones."""
    fallback: bool = True
    """When an int8 file is not verified, try the measured fixes (convert/fixes.py); False
    (--plain-int8): write plain int8 as judged, verified or unproven, or refuse it."""
    golden_images: int = GOLDEN_IMAGES
    """The most images of the golden set each file carries (convert/golden.py; 0: none, as without metadata)."""


@dataclass
class ConvertReport:
    """Parity of every artifact produced by one run, passed or not."""

    reference: Reference
    results: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


@dataclass
class Inputs:
    """What every conversion starts from, checked against the manifest: the Keras model's file,
    the reference bundle and the calibration images."""

    keras_path: Path
    reference: Reference
    pool: np.ndarray
    """The calibration bundle's uint8 images."""

    def calibration(self, contract, samples: int) -> np.ndarray:
        """The first `samples` calibration images as the model's float input."""
        return contract.model_input(self.pool[:samples])


def check_inputs(folder: ModelsFolder, calibration_samples: Optional[int], needs_calibration: bool) -> tuple:
    """(Inputs, the number of calibration images to use: CALIBRATION_IMAGES when None, or all
    the bundle holds when fewer): the
    Keras model and both bundles unchanged since the manifest listed them, and a reference bundle
    on which the Keras model is better than chance; ConversionError saying what is wrong."""
    manifest = folder.manifest
    if manifest.keras is None:
        raise ConversionError(f"{folder.manifest_path} lists no Keras model: run `python -m train` first")
    try:
        keras_path = folder.unchanged(manifest.keras)
        folder.unchanged(manifest.reference)
        calibration_path = folder.unchanged(manifest.calibration)
        reference = folder.reference()
    except ManifestError as err:
        raise ConversionError(str(err)) from err
    problem, _ = reference_problems(reference.probs, reference.labels)
    if problem:
        raise ConversionError(f"{folder.reference_path}: {problem}; nothing is converted, as no file could be "
                              "judged against it (the data's labels, their order, or the input contract is not the "
                              "model's)")
    pool = folder.calibration_images()
    samples = min(len(pool), CALIBRATION_IMAGES) if calibration_samples is None else calibration_samples
    if needs_calibration and not 1 <= samples <= len(pool):
        raise ConversionError(
            f"--calibration-samples: got {samples}, expected 1..{len(pool)} "
            f"(the training images kept in {calibration_path})"
        )
    return Inputs(keras_path, reference, pool), samples


def convert(options: ConvertOptions, log=print) -> ConvertReport:
    """Produces every target; returns the parity of each. Failed artifacts are not kept.

    Holds the models folder's lock throughout; the manifest is rewritten after each artifact
    is in place, so a run killed at any point leaves files and manifest consistent."""
    try:
        with ModelsFolder.writing(options.models) as folder:
            return _convert(folder, options, log)
    except ManifestError as err:
        raise ConversionError(str(err)) from err


def _convert(folder: ModelsFolder, options: ConvertOptions, log) -> ConvertReport:
    needs_calibration = options.diagnose or any(t.precision == "int8" for t in options.targets)
    inputs, options.calibration_samples = check_inputs(folder, options.calibration_samples, needs_calibration)
    manifest = folder.manifest
    model = load_keras(inputs.keras_path)
    contract = manifest.keras.contract
    calibration = inputs.calibration(contract, options.calibration_samples)
    report = ConvertReport(inputs.reference)
    float_onnx = FloatOnnx(model, verbose=options.verbose)  # exported once, for the float32 and the int8 file

    for target in options.targets:
        name = target.filename(manifest.model)
        log(f"Converting {folder.file(name)} ({target.format}, {target.precision}) ...", flush=True)

        def write(tmp: Path, target=target) -> None:
            _export(target, model, manifest, folder, tmp, calibration, options, float_onnx)

        candidate = Candidate(
            name=name, format=target.format, precision=target.precision, write=write,
            open=lambda tmp: runtime.load(tmp, contract=contract, quiet=not options.verbose),
            checks=(embedded_check(manifest),) if options.metadata else (),
            calibration=calibration_record(options.calibration_samples, options.per_channel)
            if target.precision == "int8" else None,
            tools=tool_versions(*TOOLS),
            seal=golden_sealer(target.format, target.precision, inputs.reference, options.golden_images)
            if options.metadata and options.golden_images else None)
        fallback = None
        if options.fallback and target.precision == "int8":
            fallback = int8_fix(target, model, calibration, inputs.reference, manifest, folder, options, candidate,
                                float_onnx, log)
        report.results.append(verify(candidate, folder, options.limits, fallback=fallback, log=log).result)
    int8_failed = any(r.precision == "int8" and r.artifact.endswith(".tflite") and not r.passed for r in report.results)
    if options.diagnose or int8_failed:
        from .diagnose import DiagnosisError, diagnose_tflite, format_diagnosis

        try:
            diagnosis = diagnose_tflite(model, calibration, inputs.reference, contract, options.per_channel,
                                        Target("tflite", "int8").filename(manifest.model))
            log("\n" + format_diagnosis(diagnosis))
        except DiagnosisError as err:
            log(f"\nNo quantization diagnosis: {err}")
    return report


def _export(target: Target, model, manifest: Manifest, folder: ModelsFolder, tmp: Path, calibration, options,
            float_onnx) -> None:
    """Writes the artifact to `tmp`, with the contract and labels embedded unless told not to.
    A converter's own failure (an op it cannot export) becomes a ConversionError."""
    try:
        _write_artifact(target, model, manifest, folder, tmp, calibration, options, float_onnx)
    except ToolkitError:
        raise
    except Exception as err:  # TensorFlow's, tf2onnx's and onnxruntime's converters raise many kinds
        raise ConversionError(f"the {target.format} {target.precision} converter failed: {type(err).__name__}: "
                              f"{one_line(err)[:600]}") from err


def _write_artifact(target: Target, model, manifest: Manifest, folder: ModelsFolder, tmp: Path, calibration, options,
                    float_onnx: FloatOnnx) -> None:
    contract, labels = manifest.keras.contract, manifest.labels
    if target.format == "tflite":
        source = keras_with_pixel_input(model, contract) if target.precision in PIXEL_PRECISIONS else model
        data = tflite_bytes(source, target.precision, calibration, options.per_channel, quiet=not options.verbose,
                            output_type=ARTIFACT_INT8_OUTPUT)
        if options.metadata:
            data = tflite_with_metadata(data, manifest.model, contract, labels)
        tmp.write_bytes(data)
        return
    if target.precision == "int8":
        with atomic_path(folder.file(".float-for-int8.onnx")) as float_path:  # a scratch file, removed below
            float_onnx.write(float_path)
            quantize_onnx(float_path, tmp, calibration, options.per_channel)
            float_path.unlink()
    else:
        float_onnx.write(tmp)
    finish_onnx(tmp, contract, labels if options.metadata else None, manifest.model)


def embedded_check(manifest: Manifest):
    """A check for verify: what the file carries must be what the manifest says, a failure per
    difference."""
    def check(path: Path, model, result) -> None:
        embedded = read_embedded(path)
        if embedded is None:
            result.failures.append("the file carries no input contract or labels")
            return
        if embedded.contract != manifest.keras.contract:
            result.failures.append(f"its embedded contract {embedded.contract} differs from the manifest's")
        if embedded.labels != list(manifest.labels):
            result.failures.append(f"its embedded labels {embedded.labels} differ from the manifest's")

    return check


def calibration_record(samples: int, per_channel: bool) -> Calibration:
    """How int8 artifacts were calibrated, as the manifest records it."""
    return Calibration(samples=samples, split="train", per_channel=per_channel, method="minmax")


def int8_fix(target: Target, model, calibration, reference: Reference, manifest: Manifest, folder: ModelsFolder,
             options: ConvertOptions, plain: Candidate, float_onnx: FloatOnnx, log):
    """verify's fallback for an int8 file (convert/fixes.py): when plain int8 is not verified,
    the cheapest measured fix that is, else the best measured one, as another candidate."""
    from .fixes import onnx_int8_fix, tflite_int8_fix

    contract, labels = manifest.keras.contract, manifest.labels
    if target.format == "tflite":
        embed = (lambda data: tflite_with_metadata(data, manifest.model, contract, labels)) if options.metadata else None
        return tflite_int8_fix(model, calibration, reference, options.limits, plain, log, options.per_channel, embed)

    def finish(path: Path) -> None:
        finish_onnx(path, contract, labels if options.metadata else None, manifest.model)

    return onnx_int8_fix(float_onnx, calibration, reference, options.limits, plain, folder, finish, log,
                         options.per_channel)
