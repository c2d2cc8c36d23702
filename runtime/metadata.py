"""What a model file carries about itself, so an app that receives only the file knows its
input contract and labels (`convert` writes them; see convert/metadata.py).

- .tflite: TFLite metadata (the schema Android's LiteRT support library reads), whose
  associated files are packed as a zip archive appended to the flatbuffer: `labels.txt`
  (one label per line, attached to the output tensor) and `input_contract.json`. Python's
  zipfile reads that archive, so the device needs no flatbuffers package.
- .onnx: the model's `metadata_props`, keys `labels` and `input_contract` (JSON values),
  read from the protobuf wire format without the onnx package.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .contract import InputContract
from .errors import ModelFileError

LABELS_FILE = "labels.txt"
CONTRACT_FILE = "input_contract.json"
LABELS_KEY = "labels"
CONTRACT_KEY = "input_contract"
MODEL_KEY = "model"
_ONNX_METADATA_PROPS = 14
"""ModelProto.metadata_props: repeated StringStringEntryProto {key = 1, value = 2}."""


@dataclass(frozen=True)
class Embedded:
    """The contract and labels found inside a model file (either may be missing)."""

    contract: Optional[InputContract]
    labels: Optional[list]
    model: str = ""
    """The model's name as recorded at conversion."""
    where: str = ""
    """How it is stored: "TFLite metadata" or "ONNX metadata_props"."""

    def to_json(self) -> dict:
        return {"where": self.where, "model": self.model, "labels": self.labels,
                "contract": None if self.contract is None else self.contract.to_json()}


def read_embedded(path) -> Optional[Embedded]:
    """The file's own contract and labels; None when it carries neither. A file whose
    metadata is present but malformed raises ModelFileError."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".tflite":
            values = _tflite_values(path)
            where = "TFLite metadata"
        elif suffix == ".onnx":
            values = _onnx_values(path)
            where = "ONNX metadata_props"
        else:
            return None
    except OSError as err:
        raise ModelFileError(f"{path}: cannot read: {err}") from err
    if not values:
        return None
    try:
        contract = InputContract.from_json(json.loads(values[CONTRACT_KEY])) if CONTRACT_KEY in values else None
        labels = _labels(values[LABELS_KEY]) if LABELS_KEY in values else None
    except (ValueError, TypeError) as err:
        raise ModelFileError(f"{path}: its embedded input contract or labels are malformed ({err})") from err
    return Embedded(contract, labels, values.get(MODEL_KEY, ""), where)


def _labels(text: str) -> list:
    """A JSON list (ONNX) or one label per line (TFLite's labels.txt)."""
    if text.lstrip().startswith("["):
        labels = json.loads(text)
        if not isinstance(labels, list):
            raise ValueError("labels: expected a list")
        return [str(label) for label in labels]
    return [line for line in text.splitlines() if line.strip()]


def _tflite_values(path: Path) -> dict:
    """labels.txt and input_contract.json from the zip archive appended to a .tflite file."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            found = {}
            for key, name in ((LABELS_KEY, LABELS_FILE), (CONTRACT_KEY, CONTRACT_FILE)):
                if name in names:
                    found[key] = archive.read(name).decode("utf-8")
            return found
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, EOFError, NotImplementedError):
        return {}  # no metadata archive (or a damaged one): the file carries nothing


def _onnx_values(path: Path) -> dict:
    from .onnx_external import message_fields

    data = path.read_bytes()
    found = {}
    try:
        for number, wire, value in message_fields(data):
            if number != _ONNX_METADATA_PROPS or wire != 2:
                continue
            entry = {n: v for n, w, v in message_fields(value) if w == 2}
            key = entry.get(1, b"").decode("utf-8", "replace")
            if key in (LABELS_KEY, CONTRACT_KEY, MODEL_KEY):
                found[key] = entry.get(2, b"").decode("utf-8", "replace")
    except ValueError:
        return {}  # not a readable protobuf: loading the file says why
    return found
