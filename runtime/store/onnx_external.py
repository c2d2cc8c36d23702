"""Refuses ONNX files whose tensors point at external data outside the model's folder (by
path, symbolic link or hard link), or at anything but a regular file.

onnxruntime reads such data when it opens the model, so a crafted file could read any file
the process may read (`../../secrets`, `/etc/...`). Recent onnxruntime releases refuse
this for plain initializers; this check does not depend on the installed version and
also covers sparse tensors, node attributes, subgraphs and functions. The device has no
`onnx` package, so the protobuf wire format is walked here, for these fields only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import ModelFileError

# Message name -> {field number: message name} for the fields that can hold a TensorProto.
_SCHEMA = {
    "Model": {7: "Graph", 25: "Function"},
    "Graph": {1: "Node", 5: "Tensor", 15: "SparseTensor"},
    "Function": {7: "Node"},
    "Node": {5: "Attribute"},
    "Attribute": {5: "Tensor", 6: "Graph", 10: "Tensor", 11: "Graph", 22: "SparseTensor", 23: "SparseTensor"},
    "SparseTensor": {1: "Tensor", 2: "Tensor"},
    "Tensor": {13: "Entry"},
    "Entry": {},
}
_MAX_DEPTH = 64


def _varint(data: bytes, pos: int):
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def message_fields(data: bytes):
    """(field number, wire type, value) for each field of one message."""
    for number, wire, value, _, _ in field_spans(data):
        yield number, wire, value


def field_spans(data: bytes):
    """(field number, wire type, value, start, end) for each field of one message: data[start:end]
    is the whole field as serialized, its key included."""
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated field")
        yield number, wire, value, start, pos


def external_locations(data: bytes, message: str = "Model", depth: int = 0):
    """Every external-data `location` named anywhere in a serialized ModelProto."""
    if depth > _MAX_DEPTH:
        raise ValueError("messages nested too deeply")
    for number, wire, value in message_fields(data):
        child = _SCHEMA[message].get(number)
        if child is None or wire != 2:
            continue
        if child == "Entry":
            entry = {n: v for n, w, v in message_fields(value) if w == 2}
            if entry.get(1) == b"location":
                yield entry.get(2, b"").decode("utf-8", "replace")
        else:
            yield from external_locations(value, child, depth + 1)


def check_external_data(path) -> None:
    """Raises ModelFileError if any external data lies outside the model file's folder."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelFileError(f"{path}: cannot read: {err}") from err
    try:
        locations = list(external_locations(data))
    except (ValueError, KeyError) as err:
        raise ModelFileError(f"{path}: not a valid ONNX model ({err})") from err
    folder = os.path.realpath(path.parent)
    for location in locations:
        target = os.path.realpath(os.path.join(folder, location))
        if os.path.isabs(location) or os.path.commonpath([folder, target]) != folder:
            raise ModelFileError(
                f"{path}: refused, its external data {location!r} lies outside the model's folder {path.parent}"
            )
        _check_data_file(path, location, target)


def _check_data_file(path: Path, location: str, target: str) -> None:
    """External data inside the folder must be a regular file with no other name: a hard
    link is the same file as one outside the folder (the path check cannot see that), and a
    FIFO or a device would block or never end when onnxruntime reads it. A missing file is
    left to onnxruntime to report."""
    try:
        info = os.stat(target)
    except OSError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path}: refused, its external data {location!r} is not a regular file")
    if info.st_nlink > 1:
        raise ModelFileError(f"{path}: refused, its external data {location!r} has {info.st_nlink} hard links, so it "
                             "may be a file from outside the model's folder; copy the data file instead of linking it")
