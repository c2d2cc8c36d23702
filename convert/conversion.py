"""Convert, verify, then list: each artifact is written to a temporary file with the input
contract and labels embedded, loaded back through the runtime, compared with the Keras
outputs on the reference bundle, and only then renamed into place and listed in the
manifest."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

import runtime
from runtime.errors import ManifestError, ToolkitError, one_line
from runtime.store.files import atomic_path, commit_file, folder_lock, manifest_lock, sha256_file
from runtime.store.layout import MANIFEST_NAME, REFERENCE_NAME, artifact_name
from runtime.store.manifest import Artifact, Calibration, Manifest, Metrics, TensorRecord, read_manifest, write_manifest
from runtime.store.embedded import read_embedded
from runtime.evaluate.parity import ParityResult, Reference, compare, load_reference
from runtime.verdict import Limits, reference_problems
from train.outputs import tool_versions

from .keras_file import load_keras
from .embed import tflite_with_metadata
from .onnx_export import FloatOnnx, finish_onnx, quantize_onnx
from .pixel_input import PIXEL_PRECISIONS, keras_with_pixel_input
from .tflite_export import ARTIFACT_INT8_OUTPUT, tflite_bytes


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
    """How many training images calibrate int8 activations; None: all that train kept."""
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
    """When int8 TFLite misses the budget, try the measured fixes (ops in float, 16x8, granularity)."""


@dataclass
class ConvertReport:
    """Parity of every artifact produced by one run, passed or not."""

    reference: Reference
    results: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def _checked_input(models: Path, record) -> Path:
    """The path of a training output, refused if it changed since the manifest was written."""
    path = models / record.path
    if not path.is_file():
        raise ConversionError(f"{path} not found: run `python -m train` first")
    if sha256_file(path) != record.sha256:
        raise ConversionError(f"{path} changed since training (sha256 differs from the manifest); re-run `python -m train`")
    return path


def load_inputs(options: ConvertOptions):
    models = Path(options.models)
    try:
        manifest = read_manifest(models)
    except ManifestError as err:
        raise ConversionError(str(err)) from err
    if manifest.keras is None:
        raise ConversionError(f"{models / MANIFEST_NAME} lists no Keras model: run `python -m train` first")
    keras_path = _checked_input(models, manifest.keras)
    _checked_input(models, manifest.reference)
    calibration_path = _checked_input(models, manifest.calibration)
    reference = load_reference(models)
    problem, _ = reference_problems(reference.probs, reference.labels)
    if problem:
        raise ConversionError(f"{models / REFERENCE_NAME}: {problem}; nothing is converted, as no file could be "
                              "judged against it (the data's labels, their order, or the input contract is not the "
                              "model's)")
    with np.load(calibration_path, allow_pickle=False) as data:
        pool = data["images"]
    if options.calibration_samples is None:
        options.calibration_samples = len(pool)
    needs_calibration = options.diagnose or any(t.precision == "int8" for t in options.targets)
    if needs_calibration and not 1 <= options.calibration_samples <= len(pool):
        raise ConversionError(
            f"--calibration-samples: got {options.calibration_samples}, expected 1..{len(pool)} "
            f"(the training images kept in {calibration_path})"
        )
    return models, manifest, keras_path, reference, pool


def convert(options: ConvertOptions, log=print) -> ConvertReport:
    """Produces every target; returns the parity of each. Failed artifacts are not kept.

    Holds the models folder's lock throughout; the manifest is rewritten after each artifact
    is in place, so a run killed at any point leaves files and manifest consistent."""
    try:
        with folder_lock(options.models, create=False):
            return _convert(options, log)
    except ManifestError as err:
        raise ConversionError(str(err)) from err


def load_keras_model(path: Path):
    """The training output's model; a damaged file is said to be one (convert/keras_file.py)."""
    return load_keras(path)


def _convert(options: ConvertOptions, log) -> ConvertReport:
    models, manifest, keras_path, reference, pool = load_inputs(options)
    model = load_keras_model(keras_path)
    contract = manifest.keras.contract
    calibration = contract.model_input(pool[: options.calibration_samples])
    tools = tool_versions("tensorflow", "keras", "onnx", "tf2onnx", "flatbuffers", "ai-edge-litert", "onnxruntime", "numpy")
    report = ConvertReport(reference)
    float_onnx = FloatOnnx(model, verbose=options.verbose)  # exported once, for the float32 and the int8 file

    for target in options.targets:
        started = time.perf_counter()
        name = target.filename(manifest.model)
        path = models / name
        log(f"Converting {path} ({target.format}, {target.precision}) ...", flush=True)
        with atomic_path(path) as tmp:
            try:
                _export(target, model, manifest, models, tmp, calibration, options, float_onnx)
                loaded = runtime.load(tmp, contract=contract, quiet=not options.verbose)
                probs = loaded.predict(reference.images)
            except ToolkitError as err:
                message = str(err).replace(str(tmp), str(path))  # the file it is about, not its temporary name
                report.results.append(ParityResult(artifact=name, precision=target.precision, bytes=0, failures=[message]))
                log(f"  REJECTED {name}: {message}; the file was not written")
                tmp.unlink()
                record_rejection(models, manifest, name, target.precision, message)
                continue
            result = compare(name, target.precision, tmp.stat().st_size, probs, reference, options.limits)
            calibration_record = calibration_record_for(options) if target.precision == "int8" else None
            if calibration_record:
                result.calibration = calibration_record.describe()
            if options.metadata:
                result.failures += _embedded_mismatches(tmp, manifest)
            report.results.append(result)
            fallback = None
            if not result.passed and options.fallback and target == Target("tflite", "int8") and \
                    result.verdict.get("rule") in ("accuracy", "agreement"):
                log(f"  plain int8 misses the budget ({'; '.join(result.failures)}); trying the measured fixes ...")
                fallback = int8_within_budget(model, calibration, reference, manifest, tmp, options, log)
                if fallback is not None:
                    loaded, result, quantization = fallback
                    result.calibration = calibration_record.describe()
                    report.results[-1] = result
            if not result.passed:
                log(f"  REJECTED {name}: {'; '.join(result.failures)}; the file was not written")
                tmp.unlink()  # atomic_path leaves the old file at `path` as it was
                record_rejection(models, manifest, name, target.precision, "; ".join(result.failures))
                continue
            artifact = artifact_record(name, target, tmp, loaded, manifest, result, tools, calibration_record)
            if fallback is not None:
                artifact.extra["quantization"] = quantization
            manifest.limits = options.limits.to_json()
            with manifest_lock(models, shared=False):  # readers see the new file only with its new entry
                commit_file(tmp, path)
                manifest.put(artifact)
                write_manifest(models, manifest)
        log(f"  verified with {loaded.backend.name}: {result.summary} ({time.perf_counter() - started:.1f} s)", flush=True)
        for note in result.notes:
            log(f"  note: {note}")
    int8_failed = any(r.precision == "int8" and r.artifact.endswith(".tflite") and not r.passed for r in report.results)
    if options.diagnose or int8_failed:
        from .diagnose import DiagnosisError, diagnose_tflite, format_diagnosis

        try:
            diagnosis = diagnose_tflite(model, calibration, reference, contract, options.per_channel,
                                        Target("tflite", "int8").filename(manifest.model))
            log("\n" + format_diagnosis(diagnosis))
        except DiagnosisError as err:
            log(f"\nNo quantization diagnosis: {err}")
    return report


def _export(target: Target, model, manifest: Manifest, models: Path, tmp: Path, calibration, options, float_onnx) -> None:
    """Writes the artifact to `tmp`, with the contract and labels embedded unless told not to.
    A converter's own failure (an op it cannot export) becomes a ConversionError."""
    try:
        _write_artifact(target, model, manifest, models, tmp, calibration, options, float_onnx)
    except ToolkitError:
        raise
    except Exception as err:  # TensorFlow's, tf2onnx's and onnxruntime's converters raise many kinds
        raise ConversionError(f"the {target.format} {target.precision} converter failed: {type(err).__name__}: "
                              f"{one_line(err)[:600]}") from err


def _write_artifact(target: Target, model, manifest: Manifest, models: Path, tmp: Path, calibration, options,
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
        with atomic_path(models / ".float-for-int8.onnx") as float_path:  # a scratch file, removed below
            float_onnx.write(float_path)
            quantize_onnx(float_path, tmp, calibration, options.per_channel)
            float_path.unlink()
    else:
        float_onnx.write(tmp)
    finish_onnx(tmp, contract, labels if options.metadata else None, manifest.model)


def _embedded_mismatches(path: Path, manifest: Manifest) -> list:
    """What the file carries must be what the manifest says: a problem per difference."""
    embedded = read_embedded(path)
    if embedded is None:
        return ["the file carries no input contract or labels"]
    problems = []
    if embedded.contract != manifest.keras.contract:
        problems.append(f"its embedded contract {embedded.contract} differs from the manifest's")
    if embedded.labels != list(manifest.labels):
        problems.append(f"its embedded labels {embedded.labels} differ from the manifest's")
    return problems


def calibration_record_for(options: ConvertOptions) -> Calibration:
    """How int8 artifacts were calibrated, as the manifest records it."""
    return Calibration(samples=options.calibration_samples, split="train", per_channel=options.per_channel, method="minmax")


def int8_within_budget(model, calibration, reference: Reference, manifest: Manifest, tmp: Path, options: ConvertOptions,
                       log) -> Optional[tuple]:
    """When plain int8 misses the budget: the cheapest measured fix that meets it
    (convert/int8_fallback.best_int8: the other weight granularity, the most harmful ops kept in
    float, int16 activations), written to `tmp` with the metadata and judged again through the
    runtime like any file. (loaded model, its ParityResult, what was kept) or None, all tries logged."""
    from .int8_fallback import best_int8

    contract, name = manifest.keras.contract, Target("tflite", "int8").filename(manifest.model)

    def judge(probs):
        verdict = compare(name, "int8", 0, probs, reference, options.limits)
        return verdict.passed, verdict.summary

    try:
        search = best_int8(model, calibration, reference, judge, contract, options.per_channel, log=log)
    except Exception as err:  # the converters and the debugger raise many kinds
        log(f"  no fix could be measured: {type(err).__name__}: {one_line(err)[:300]}")
        return None
    if search.chosen is None:
        log(f"  {search.summary().splitlines()[0]}")
        return None
    data = search.data
    if options.metadata:
        data = tflite_with_metadata(data, manifest.model, contract, manifest.labels)
    tmp.write_bytes(data)
    try:
        loaded = runtime.load(tmp, contract=contract, quiet=not options.verbose)
        probs = loaded.predict(reference.images)
    except ToolkitError as err:
        log(f"  the chosen fix does not load back through the runtime: {err}")
        return None
    result = compare(name, "int8", tmp.stat().st_size, probs, reference, options.limits)
    if options.metadata:
        result.failures += _embedded_mismatches(tmp, manifest)
    chosen = search.chosen.to_json()
    result.notes.append(f"int8 within budget by {chosen['variant']}: {chosen['bytes']} bytes "
                        f"({chosen['size_ratio']:.2f}x plain int8's), {chosen['speed_ratio']:.1f}x its time per image")
    return loaded, result, chosen


def record_rejection(models: Path, manifest: Manifest, name: str, precision: str, reason: str) -> None:
    """Lists a file the check refused in the manifest's `rejected`, so `predict` on it can say why."""
    manifest.reject(name, precision, reason)
    write_manifest(models, manifest)


def artifact_record(name, target, tmp, loaded, manifest: Manifest, result, tools, calibration) -> Artifact:
    def tensor(info):
        return TensorRecord(info.name, info.dtype.name, list(info.shape), info.scale, info.zero_point)

    keras = manifest.keras
    return Artifact(
        path=name, format=target.format, precision=target.precision, sha256=sha256_file(tmp),
        bytes=tmp.stat().st_size, contract=keras.contract, labels=list(manifest.labels), dataset=keras.dataset,
        input_tensor=tensor(loaded.input), output_tensor=tensor(loaded.output),
        converted_from={"path": keras.path, "sha256": keras.sha256},
        metrics=Metrics(
            **result.parity_metrics(), reference_images=manifest.reference.images,
            verified_with=f"{loaded.backend.name} {loaded.backend.version}", verdict=result.verdict,
        ),
        calibration=calibration, tools=tools,
    )
