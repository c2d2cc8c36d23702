"""Convert, verify, then list: each artifact is written to a temporary file, loaded back
through the runtime, compared with the Keras outputs on the reference bundle, and only
then renamed into place and listed in the manifest."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import runtime
from runtime.contract import InputContract
from runtime.errors import ManifestError, one_line
from runtime.manifest import (
    atomic_path, find_artifact, folder_lock, put_artifact, read_manifest, sha256_file, write_manifest,
)
from runtime.parity import ParityResult, Reference, compare, describe_calibration, load_reference

from .onnx_export import export_onnx, quantize_onnx
from .tflite_export import tflite_bytes

MODEL_STEM = "mnist_mlp"


class ConversionError(ValueError):
    """Conversion cannot start (missing or changed training outputs, bad options)."""


@dataclass(frozen=True)
class Target:
    """One artifact to produce."""

    format: str
    """tflite or onnx."""
    precision: str

    @property
    def filename(self) -> str:
        return f"{MODEL_STEM}_{self.precision}.{self.format}"


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


@dataclass
class ConvertReport:
    """Parity of every artifact produced by one run, passed or not."""

    reference: Reference
    results: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


_DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu")}
"""Packages published under more than one distribution name."""


def _versions(*packages) -> dict:
    versions = {"python": platform.python_version()}
    for name in packages:
        for distribution in _DISTRIBUTIONS.get(name, (name,)):
            try:
                versions[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def _checked_input(models: Path, manifest: dict, entry: dict) -> Path:
    """The path of a training output, refused if it changed since the manifest was written."""
    path = models / entry["path"]
    if not path.is_file():
        raise ConversionError(f"{path} not found: run `python -m train` first")
    if sha256_file(path) != entry.get("sha256"):
        raise ConversionError(f"{path} changed since training (sha256 differs from the manifest); re-run `python -m train`")
    return path


def _load_inputs(options: ConvertOptions):
    models = Path(options.models)
    try:
        manifest = read_manifest(models)
    except ManifestError as err:
        raise ConversionError(str(err)) from err
    keras_entry = next((a for a in manifest["artifacts"] if a.get("format") == "keras"), None)
    if keras_entry is None or "reference" not in manifest or "calibration" not in manifest:
        raise ConversionError(f"{models / 'manifest.json'} lists no Keras model: run `python -m train` first")
    keras_path = _checked_input(models, manifest, keras_entry)
    _checked_input(models, manifest, manifest["reference"])
    calibration_path = _checked_input(models, manifest, manifest["calibration"])
    reference = load_reference(models)
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
    return models, manifest, keras_entry, keras_path, reference, pool


def convert(options: ConvertOptions, log=print) -> ConvertReport:
    """Produces every target; returns the parity of each. Failed artifacts are not kept.

    Holds the models folder's lock throughout; the manifest is rewritten after each artifact
    is in place, so a run killed at any point leaves files and manifest consistent."""
    try:
        with folder_lock(options.models):
            return _convert(options, log)
    except ManifestError as err:
        raise ConversionError(str(err)) from err


def _load_keras(path: Path):
    """Keras's safe mode: a model file never executes code (no Lambda layers)."""
    import keras

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # Keras raises ValueError, TypeError, OSError ... for bad files
        raise ConversionError(f"{path}: cannot load the Keras model in safe mode: {one_line(err)}") from err


def _convert(options: ConvertOptions, log) -> ConvertReport:
    models, manifest, keras_entry, keras_path, reference, pool = _load_inputs(options)
    model = _load_keras(keras_path)
    contract = InputContract.from_json(keras_entry["input"])
    calibration = contract.to_unit_range(pool[: options.calibration_samples])
    tools = _versions("tensorflow", "keras", "onnx", "tf2onnx", "ai-edge-litert", "onnxruntime", "numpy")
    report = ConvertReport(reference)

    for target in options.targets:
        started = time.perf_counter()
        path = models / target.filename
        log(f"Converting {path} ({target.format}, {target.precision}) ...", flush=True)
        try:
            with atomic_path(path) as tmp:
                if target.format == "tflite":
                    tmp.write_bytes(tflite_bytes(model, target.precision, calibration, options.per_channel))
                elif target.precision == "int8":
                    with _float_onnx(models, manifest, model) as float_path:
                        quantize_onnx(float_path, tmp, calibration, options.per_channel)
                else:
                    export_onnx(model, tmp)
                loaded = runtime.load(tmp, contract=contract)
                probs = loaded.predict(reference.images)
                result = compare(target.filename, target.precision, tmp.stat().st_size, probs, reference)
                if target.precision == "int8":
                    result.calibration = describe_calibration({"calibration": _calibration_record(options)})
                report.results.append(result)
                if not result.passed:
                    raise _Rejected()
                entry = _entry(target, tmp, loaded, contract, manifest, keras_entry, result, tools, options)
        except _Rejected:
            log(f"  REJECTED {target.filename}: {'; '.join(result.failures)}; the file was not written")
            continue
        put_artifact(manifest, entry)
        write_manifest(models, manifest)
        log(f"  verified with {loaded.backend.name}: agreement {result.agreement:.2%}, "
            f"max |Δp| {result.max_abs_dp:.2e} ({time.perf_counter() - started:.1f} s)", flush=True)
    int8_failed = any(r.precision == "int8" and r.artifact.endswith(".tflite") and not r.passed for r in report.results)
    if options.diagnose or int8_failed:
        from .diagnose import diagnose_tflite, format_diagnosis

        log("\n" + format_diagnosis(diagnose_tflite(model, calibration, reference, options.per_channel)))
    return report


@contextlib.contextmanager
def _float_onnx(models: Path, manifest: dict, model):
    """The float ONNX that ONNX int8 quantizes: the verified one in the manifest when it was
    exported from this Keras model, else a fresh export, removed afterwards."""
    keras_sha = next(a for a in manifest["artifacts"] if a.get("format") == "keras")["sha256"]
    listed = find_artifact(manifest, Target("onnx", "float32").filename)
    path = models / Target("onnx", "float32").filename
    if listed and listed.get("source", {}).get("sha256") == keras_sha and path.is_file() and sha256_file(path) == listed["sha256"]:
        yield path
        return
    with atomic_path(models / ".float-for-int8.onnx") as fresh:
        export_onnx(model, fresh)
        yield fresh
        fresh.unlink()


class _Rejected(Exception):
    """Aborts the atomic write of an artifact that failed verification."""


def _calibration_record(options: ConvertOptions) -> dict:
    """How int8 artifacts were calibrated, as the manifest records it."""
    return {"samples": options.calibration_samples, "split": "train", "per_channel": options.per_channel, "method": "minmax"}


def _entry(target, tmp, loaded, contract, manifest, keras_entry, result: ParityResult, tools, options) -> dict:
    def tensor(info):
        return {
            "name": info.name, "dtype": info.dtype.name, "shape": list(info.shape),
            "scale": info.scale, "zero_point": info.zero_point,
        }

    entry = {
        "path": target.filename,
        "format": target.format,
        "precision": target.precision,
        "sha256": sha256_file(tmp),
        "bytes": tmp.stat().st_size,
        "input": dict(contract.to_json(), tensor=tensor(loaded.input)),
        "output": {"tensor": tensor(loaded.output)},
        "labels": manifest["labels"],
        "dataset": keras_entry["dataset"],
        "source": {"path": keras_entry["path"], "sha256": keras_entry["sha256"]},
        "metrics": {
            "reference_images": manifest["reference"].get("images"),
            "accuracy": result.accuracy,
            "delta_accuracy": result.delta_accuracy,
            "agreement": result.agreement,
            "max_abs_dp": result.max_abs_dp,
            "mean_abs_dp": result.mean_abs_dp,
            "verified_with": f"{loaded.backend.name} {loaded.backend.version}",
        },
        "tools": tools,
    }
    if target.precision == "int8":
        entry["calibration"] = _calibration_record(options)
    return entry
