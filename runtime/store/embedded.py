"""What a model file carries about itself, so an app that receives only the file knows its
input contract and labels (`convert` writes them; see convert/embed.py).

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

from ..contract import InputContract
from ..errors import ModelFileError
from ..untrusted import LabelError, check_labels

LABELS_FILE = "labels.txt"
CONTRACT_FILE = "input_contract.json"
LABELS_KEY = "labels"
CONTRACT_KEY = "input_contract"
MODEL_KEY = "model"
MAX_ENTRY_BYTES = 1 << 20
"""An embedded labels.txt or input_contract.json larger than this (1 MiB: a hundred thousand
labels) is refused; its size is checked before it is decompressed, and no more than this is
ever read, whatever the archive claims."""
READABLE_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
"""What the metadata writer uses. zipfile bounds the output of deflate by what is asked
for; its bzip2 and LZMA readers do not, so archives using them are refused unread."""
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
        labels = _labels(values[LABELS_KEY], is_json=suffix == ".onnx") if LABELS_KEY in values else None
    except (ValueError, TypeError) as err:
        raise ModelFileError(f"{path}: its embedded input contract or labels are malformed ({err})") from err
    if labels is not None:
        try:
            labels = check_labels(labels, f"{path}: the labels it carries ({where})")
        except LabelError as err:
            raise ModelFileError(str(err)) from err
    return Embedded(contract, labels, values.get(MODEL_KEY, ""), where)


def _labels(text: str, is_json: bool) -> list:
    """A JSON list (ONNX's `labels`), or TFLite's labels.txt: one label per line, lines ended
    by "\n" only (str.splitlines would also split a label at U+2028 or a form feed), a final
    empty line and a "\r" before each "\n" ignored; a label may start with "[" like any other."""
    if is_json:
        labels = json.loads(text)
        if not isinstance(labels, list):
            raise ValueError("labels: expected a list")
        return labels
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _tflite_values(path: Path) -> dict:
    """labels.txt and input_contract.json from the zip archive appended to a .tflite file,
    each read only when its declared size is at most MAX_ENTRY_BYTES, and read no further
    than that (a declared size can lie)."""
    try:
        with zipfile.ZipFile(path) as archive:
            found = {}
            for key, name in ((LABELS_KEY, LABELS_FILE), (CONTRACT_KEY, CONTRACT_FILE)):
                try:
                    info = archive.getinfo(name)
                except KeyError:
                    continue
                found[key] = _bounded_entry(archive, info, path).decode("utf-8")
            return found
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, EOFError, NotImplementedError):
        return {}  # no metadata archive (or a damaged one): the file carries nothing


def _bounded_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    """One entry's bytes, or ModelFileError when it is too large or compressed in a way whose
    decompression zipfile cannot bound."""
    if info.file_size > MAX_ENTRY_BYTES:
        raise ModelFileError(f"{path}: its embedded {info.filename} is {info.file_size:,} bytes, more than the "
                             f"{MAX_ENTRY_BYTES:,} allowed; refusing to read it")
    if info.compress_type not in READABLE_COMPRESSION:
        raise ModelFileError(f"{path}: its embedded {info.filename} uses zip compression method {info.compress_type}; "
                             "expected stored or deflated (as the metadata writer makes them)")
    with archive.open(info) as entry:
        data = entry.read(MAX_ENTRY_BYTES + 1)
    if len(data) > MAX_ENTRY_BYTES:
        raise ModelFileError(f"{path}: its embedded {info.filename} holds more than the {MAX_ENTRY_BYTES:,} bytes allowed")
    return data


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
                value = entry.get(2, b"")
                if len(value) > MAX_ENTRY_BYTES:
                    raise ModelFileError(f"{path}: its metadata_props {key!r} is {len(value):,} bytes, more than the "
                                         f"{MAX_ENTRY_BYTES:,} allowed; refusing to read it")
                found[key] = value.decode("utf-8", "replace")
    except ModelFileError:
        raise
    except ValueError:
        return {}  # not a readable protobuf: loading the file says why
    return found
