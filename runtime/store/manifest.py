"""models/manifest.json, typed: the model, its labels and data, the reference and calibration
bundles, every artifact with its checksum, input contract, tensors and measured parity, and
every file a conversion rejected, with its reason.

Read and written here only (runtime.store.folder.ModelsFolder is what the rest of the toolkit
asks). It is written atomically, and last, so a reader never sees an
entry whose file is not in place. Keys this version does not know are kept as they are
(`extra`), so rewriting a manifest loses nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional

from ..contract import InputContract
from ..errors import ManifestError, ToolkitError
from ..tables import plural
from ..untrusted import check_labels
from ..verdict import UNPROVEN, VERIFIED, Limits, rejudge
from .files import missing_models_hint, write_bytes_atomic
from .layout import MANIFEST_NAME, check_listed_path, check_model_name

SCHEMA_VERSION = 2
"""2: user models (contract with preprocessing, architecture, `converted_from`); 1 is still read."""


def _from_json(cls, data: dict):
    """A dataclass from a JSON object, its unknown keys set aside in `extra` if it has one."""
    names = {f.name for f in fields(cls)}
    known = {k: v for k, v in data.items() if k in names and k != "extra"}
    if "extra" in names:
        known["extra"] = {k: v for k, v in data.items() if k not in names}
    return cls(**known)


def _to_json(record) -> dict:
    """A dataclass as a JSON object: None fields left out, `extra` merged back in."""
    data = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if f.name == "extra" or value is None:
            continue
        data[f.name] = value.to_json() if hasattr(value, "to_json") else value
    data.update(getattr(record, "extra", {}))
    return data


@dataclass
class FileRecord:
    """A file the manifest vouches for: the reference or calibration bundle."""

    path: str
    sha256: str
    images: Optional[int] = None

    def to_json(self) -> dict:
        return _to_json(self)


@dataclass
class TensorRecord:
    """An input or output tensor as the interpreter reported it at conversion."""

    name: str
    dtype: str
    shape: list
    scale: float = 0.0
    """Quantization scale; 0 for a float tensor."""
    zero_point: int = 0

    @classmethod
    def of(cls, info) -> "TensorRecord":
        """The record of a tensor as a backend describes it (runtime.backends.tensors.TensorInfo)."""
        return cls(info.name, info.dtype.name, list(info.shape), info.scale, info.zero_point)

    def to_json(self) -> dict:
        return _to_json(self)


@dataclass
class Calibration:
    """How an int8 artifact was calibrated."""

    samples: int
    split: str = "train"
    """Where the images came from: never the reference (test) images."""
    per_channel: bool = True
    """Weights with one scale per output channel (False: one per tensor)."""
    method: str = "minmax"

    def describe(self) -> str:
        """"500 images, per-channel", as the calibration column shows it."""
        return f"{self.samples} {plural(self.samples, 'image')}, {'per-channel' if self.per_channel else 'per-tensor'}"

    def to_json(self) -> dict:
        return _to_json(self)


@dataclass
class Parity:
    """How close an artifact's outputs are to the float Keras model's on the reference images,
    in five numbers, defined once: parity measures them (runtime.evaluate.parity.ParityResult)
    and the manifest records them at conversion (ParityRecord). None: not measured (accuracy
    without labels, or an artifact that could not run)."""

    accuracy: Optional[float] = None
    """Top-1 accuracy on the labelled reference images, as a fraction."""
    delta_accuracy: Optional[float] = None
    """accuracy - Keras accuracy, as a fraction."""
    agreement: Optional[float] = None
    """Share of images with the same top-1 class as Keras."""
    max_abs_dp: Optional[float] = None
    """Largest |p - p_keras| over every image and class."""
    mean_abs_dp: Optional[float] = None
    """Mean |p - p_keras| over every image and class."""

    def parity(self) -> dict:
        """These five numbers alone, by name (for a record that holds them beside others)."""
        return {f.name: getattr(self, f.name) for f in fields(Parity)}


@dataclass
class ParityRecord(Parity):
    """An artifact's parity as the manifest records it (its "metrics"), measured when it was
    converted: the five numbers (Parity) and how they were measured."""

    reference_images: Optional[int] = None
    verified_with: Optional[str] = None
    """The interpreter package and version that ran the check."""
    litert_comparison: Optional[dict] = None
    """tflite-micro: TFLite Micro's outputs against LiteRT's with like kernels, image by image
    (information, not a condition: kernel libraries round int8 differently)."""
    verdict: Optional[dict] = None
    """The judgement it passed: rule, summary, limits and the counts it rests on (runtime.verdict)."""

    def to_json(self) -> dict:
        return _to_json(self)


@dataclass
class MicroRecord:
    """A "tflite-micro" artifact's firmware files and measured needs (`python -m convert
    micro`); its fields sit in the artifact's entry beside the common ones."""

    model: str
    """The batch-1 .tflite (the same file as the artifact's path)."""
    source: str
    """micro/<name>_model_data.cc: the model as a 16-byte-aligned C array."""
    header: str
    """micro/<name>_model_data.h: the array's declaration, its length and the arena size."""
    ops_header: str
    """micro/<name>_ops.h: registers exactly the model's ops with a MicroMutableOpResolver."""
    arena_bytes: int
    """The tensor arena to reserve: measured minimum plus the stated margin."""
    ops: list
    flash_bytes: int
    batch_size: int = 1
    arena: dict = field(default_factory=dict)
    """How arena_bytes was found: measured bytes, margin, where, probes."""

    def to_json(self) -> dict:
        return _to_json(self)


@dataclass
class Artifact:
    """One model file: the Keras reference (format "keras") or an exported artifact."""

    path: str
    """Relative to the models folder."""
    format: str
    """keras, tflite or onnx (or a format-specific one, with its fields in `extra`)."""
    precision: str
    sha256: str
    bytes: int
    contract: InputContract
    labels: list
    dataset: str = ""
    input_tensor: Optional[TensorRecord] = None
    output_tensor: Optional[TensorRecord] = None
    converted_from: Optional[dict] = None
    """{"path", "sha256"} of the Keras model this file was exported from."""
    metrics: ParityRecord = field(default_factory=ParityRecord)
    calibration: Optional[Calibration] = None
    """int8 artifacts only."""
    tools: dict = field(default_factory=dict)
    """Package versions that made the file."""
    micro: Optional[MicroRecord] = None
    """For format "tflite-micro": the firmware files and the arena."""
    extra: dict = field(default_factory=dict)
    """Format-specific fields and keys from newer versions, kept as they are."""

    @property
    def status(self) -> Optional[str]:
        """"verified" or "unproven", as conversion judged it (metrics.verdict.status; a verdict
        recorded before there were three outcomes is judged again from its counts and limits);
        None for the Keras model and for an entry whose verdict says neither."""
        verdict = self.metrics.verdict if self.metrics else None
        if not isinstance(verdict, dict):
            return None
        status = verdict.get("status")
        if status is None:
            try:
                again = rejudge(verdict, Limits.from_json(verdict.get("limits")))
            except (TypeError, ValueError):  # limits that are not numbers: nothing usable was recorded
                again = None
            status = again.status if again is not None else None
        return status if status in (VERIFIED, UNPROVEN) else None

    @property
    def verdict_summary(self) -> str:
        """The recorded verdict's sentence ("" when none was recorded)."""
        verdict = self.metrics.verdict if self.metrics else None
        return str(verdict.get("summary") or "") if isinstance(verdict, dict) else ""

    def to_json(self) -> dict:
        data = {"path": self.path, "format": self.format, "precision": self.precision, "sha256": self.sha256,
                "bytes": self.bytes, "input": self.contract.to_json()}
        if self.input_tensor:
            data["input"]["tensor"] = self.input_tensor.to_json()
        if self.output_tensor:
            data["output"] = {"tensor": self.output_tensor.to_json()}
        data["labels"] = list(self.labels)
        data["dataset"] = self.dataset
        for name in ("converted_from", "metrics", "calibration", "tools"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value.to_json() if hasattr(value, "to_json") else value
        if self.micro is not None:
            data.update(self.micro.to_json())
        data.update(self.extra)
        return data

    @classmethod
    def from_json(cls, data: dict, schema: int = SCHEMA_VERSION) -> "Artifact":
        data = dict(data)
        contract = dict(data.pop("input"))
        tensor = contract.pop("tensor", None)
        output = data.pop("output", None) or {}
        if schema < 2 and data.get("format") in ("tflite", "onnx") and "source" in data:
            data["converted_from"] = data.pop("source")
        metrics, calibration = data.pop("metrics", None), data.pop("calibration", None)
        path = check_listed_path(data.get("path"), "an artifact's \"path\"")
        data["labels"] = check_labels(data.get("labels", ()), f"the \"labels\" of {path}")
        micro = None
        if data.get("format") == "tflite-micro":
            names = [f.name for f in fields(MicroRecord)]
            micro = MicroRecord(**{k: data.pop(k) for k in names if k in data})
            for key in ("model", "source", "header", "ops_header"):
                check_listed_path(getattr(micro, key), f"the \"{key}\" of {path}")
        artifact = _from_json(cls, dict(data, contract=InputContract.from_json(contract), micro=micro))
        artifact.input_tensor = TensorRecord(**tensor) if tensor else None
        artifact.output_tensor = TensorRecord(**output["tensor"]) if output.get("tensor") else None
        artifact.metrics = _from_json(ParityRecord, metrics or {})
        artifact.calibration = _from_json(Calibration, calibration) if calibration else None
        return artifact


@dataclass(frozen=True)
class Rejection:
    """One file a conversion refused to write, and why."""

    path: str
    precision: str
    reason: str

    def to_json(self) -> dict:
        return {"path": self.path, "precision": self.precision, "reason": self.reason}


def rejections_in(data) -> list:
    """The Rejections of a manifest's "rejected" list, read tolerantly: entries that are not an
    object with a path are left out, a missing precision or reason is said to be missing."""
    entries = data.get("rejected") if isinstance(data, dict) else None
    return [Rejection(entry["path"], str(entry.get("precision") or "?"), str(entry.get("reason") or "no reason recorded"))
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict) and isinstance(entry.get("path"), str)]


@dataclass
class Manifest:
    """Everything `train` or `convert --keras` set up, and every artifact `convert` verified."""

    model: str
    """The model's name, and the stem of every artifact's file name."""
    labels: list
    """Class names, in the order of the model's outputs."""
    dataset: dict
    """{"name", "train", "test"}: what the model was trained or checked on."""
    reference: FileRecord
    """Held-out images, their labels (if known) and the Keras probabilities."""
    calibration: FileRecord
    """Images for int8 calibration, never the reference images."""
    artifacts: list = field(default_factory=list)
    """Artifact records, the Keras model first."""
    architecture: Optional[dict] = None
    """{"summary", "parameters"}: the Keras model as recorded when it was made or converted."""
    training: Optional[dict] = None
    """How `python -m train` fitted it (absent for a user's own model)."""
    limits: Optional[dict] = None
    """The limits (runtime.verdict.Limits) of the last conversion into this folder."""
    rejected: list = field(default_factory=list)
    """A Rejection for every file the last conversion of that path refused to write."""
    schema: int = SCHEMA_VERSION
    extra: dict = field(default_factory=dict)

    def limits_for(self, artifact: Artifact):
        """The limits `artifact` was judged with at conversion (else the folder's, else the defaults)."""
        recorded = (artifact.metrics.verdict or {}).get("limits") if artifact.metrics else None
        return Limits.from_json(recorded or self.limits)

    def reject(self, path: str, precision: str, reason: str) -> None:
        """Records that a conversion refused to write `path`, replacing an older record of it."""
        self.rejected = [r for r in self.rejected if r.path != path]
        self.rejected.append(Rejection(path, precision, reason))

    def rejection(self, path: str) -> Optional[Rejection]:
        """Why the last conversion of `path` refused to write it; None when it did not."""
        return next((r for r in reversed(self.rejected) if r.path == path), None)

    @property
    def keras(self) -> Optional[Artifact]:
        return next((a for a in self.artifacts if a.format == "keras"), None)

    @property
    def exported(self) -> list:
        """Every artifact but the Keras model."""
        return [a for a in self.artifacts if a.format != "keras"]

    def find(self, path: str) -> Optional[Artifact]:
        return next((a for a in self.artifacts if a.path == path), None)

    def put(self, artifact: Artifact) -> None:
        """Replaces the artifact with the same path, or appends it (a record of its rejection goes)."""
        self.rejected = [r for r in self.rejected if r.path != artifact.path]
        for i, old in enumerate(self.artifacts):
            if old.path == artifact.path:
                self.artifacts[i] = artifact
                return
        self.artifacts.append(artifact)

    def to_json(self) -> dict:
        data = {"schema": SCHEMA_VERSION, "model": self.model, "labels": list(self.labels), "dataset": self.dataset}
        for name in ("architecture", "training", "limits"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        data["reference"] = self.reference.to_json()
        data["calibration"] = self.calibration.to_json()
        data["artifacts"] = [a.to_json() for a in self.artifacts]
        if self.rejected:
            data["rejected"] = [r.to_json() for r in self.rejected]
        data.update(self.extra)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        data = dict(data)
        schema = int(data.get("schema", 1))
        check_model_name(data.get("model"), '"model"')
        data["labels"] = check_labels(data.get("labels", ()), '"labels"')
        artifacts = [Artifact.from_json(a, schema) for a in data.pop("artifacts")]
        reference, calibration = FileRecord(**data.pop("reference")), FileRecord(**data.pop("calibration"))
        for name, record in (("reference", reference), ("calibration", calibration)):
            check_listed_path(record.path, f'the "{name}" bundle\'s "path"')
        data["rejected"] = rejections_in(data)
        manifest = _from_json(cls, dict(data, reference=reference, calibration=calibration, artifacts=artifacts))
        manifest.schema = SCHEMA_VERSION
        return manifest


def read_manifest_data(models_dir):
    """manifest.json's JSON value, as it is: the one place the file is read."""
    path = Path(models_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path} not found: {missing_models_hint(models_dir)}")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"{path} is not readable JSON: {err}") from err


def read_manifest(models_dir) -> Manifest:
    path = Path(models_dir) / MANIFEST_NAME
    data = read_manifest_data(models_dir)
    if not isinstance(data, dict) or not isinstance(data.get("artifacts"), list):
        raise ManifestError(f"{path} has no 'artifacts' list")
    try:
        return Manifest.from_json(data)
    except ToolkitError as err:  # a name or label that cannot be used, said as it is
        raise ManifestError(f"{path}: {err}") from err
    except (KeyError, TypeError, ValueError) as err:
        raise ManifestError(f"{path} is malformed: {type(err).__name__} {err}") from err


def write_manifest(models_dir, manifest: Manifest) -> Path:
    path = Path(models_dir) / MANIFEST_NAME
    write_bytes_atomic(path, (json.dumps(manifest.to_json(), indent=2) + "\n").encode())
    return path


_DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu")}
"""Packages published under more than one distribution name."""


def tool_versions(*packages) -> dict:
    """Python's and each installed package's version, as an artifact's `tools` records them."""
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in packages:
        for distribution in _DISTRIBUTIONS.get(name, (name,)):
            try:
                versions[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions
