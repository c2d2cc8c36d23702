"""Hostile model files, round 3: metadata that decompresses to gigabytes, labels.txt that
looks like JSON or holds line separators, a contract with an infinite scale, and tensors
declared larger than memory. Each ends in a second or two, in little memory, with one line."""

import functools
import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import runtime
from runtime.backends.tensors import MAX_TENSOR_BYTES
from runtime.errors import InputShapeError, ModelFileError
from runtime.store.embedded import CONTRACT_FILE, LABELS_FILE, MAX_ENTRY_BYTES, read_embedded

from conftest import ROOT, run_cli

MAX_RSS_MB = 200
"""Peak memory of a child that reads a hostile file: python, numpy and the runtime take
about 40 MB; a file read unbounded here takes 256 MB or more."""
CHILD = """
import sys
from runtime.errors import ToolkitError
from runtime.store.embedded import read_embedded
try:
    print("read", read_embedded(sys.argv[1]))
except ToolkitError as err:
    print("error:", err)
# The peak of this process's own memory (ru_maxrss would count the parent's at fork).
peak = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(int(peak[0]) // 1024)
"""


@pytest.fixture(scope="module")
def flatbuffer(pipeline) -> bytes:
    """The float32 .tflite model without its appended metadata archive."""
    data = (pipeline.models / "mnist_mlp_float32.tflite").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        start = min(info.header_offset for info in archive.infolist())
    return data[:start]


def _with_archive(flatbuffer: bytes, entries, declared_size=None) -> bytes:
    """The model with a zip of (name, bytes, compression) appended, as the metadata writer
    appends it; `declared_size` overwrites every entry's size in the central directory."""
    out = io.BytesIO(flatbuffer)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as archive:
        for name, content, compression in entries:
            archive.writestr(name, content() if callable(content) else content, compress_type=compression)
    data = bytearray(out.getvalue())
    if declared_size is not None:
        at = data.find(b"PK\x01\x02", len(flatbuffer))
        while at != -1:
            data[at + 24 : at + 28] = struct.pack("<I", declared_size)  # uncompressed size
            at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def _contract(**changes) -> bytes:
    contract = {"image_shape": [28, 28], "pixel_dtype": "uint8", "pixel_scale": 255.0, "mean": [], "std": [],
                "preprocessing": "mnist-digit", "polarity": "light ink on dark background"}
    return json.dumps(dict(contract, **changes)).encode()


def _read_in_child(path) -> tuple:
    child = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert child.returncode == 0 and "Traceback" not in child.stderr, child.stderr
    *lines, rss = child.stdout.strip().splitlines()
    return " ".join(lines), int(rss)


HUGE_BYTES = 128 << 20
"""Labels of this size (128 MiB, deflated to about 130 KB): read unbounded, they and their
decoded text take more than MAX_RSS_MB."""


@functools.lru_cache(maxsize=1)
def _huge() -> bytes:
    return b"0\n" * (HUGE_BYTES // 2)


@pytest.mark.parametrize("entries, declared, message", [
    ([(LABELS_FILE, _huge, zipfile.ZIP_DEFLATED)], None,
     rf"embedded labels.txt is {HUGE_BYTES:,} bytes, more than the {MAX_ENTRY_BYTES:,} allowed"),
    ([(CONTRACT_FILE, b" " * (64 << 20) + _contract(), zipfile.ZIP_DEFLATED)], None,
     "embedded input_contract.json is 67,109,0"),
    ([(LABELS_FILE, _huge, zipfile.ZIP_DEFLATED)], 20, "read None"),  # the size lies: read no further, CRC fails
    ([(LABELS_FILE, b"0\n1\n", zipfile.ZIP_BZIP2)], None, "embedded labels.txt uses zip compression method 12"),
    ([(LABELS_FILE, b"0\n1\n", zipfile.ZIP_LZMA)], None, "embedded labels.txt uses zip compression method 14"),
], ids=["2 GB-style labels", "large contract", "lying size", "bzip2", "lzma"])
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="measures memory in /proc (Linux)")
def test_metadata_is_read_within_bounds(flatbuffer, tmp_path, entries, declared, message):
    path = tmp_path / "bomb.tflite"
    path.write_bytes(_with_archive(flatbuffer, entries, declared))
    assert path.stat().st_size < 1_000_000
    outcome, rss = _read_in_child(path)
    assert outcome.startswith("read None" if declared else f"error: {path}: "), outcome
    assert message in outcome
    assert rss < MAX_RSS_MB, f"{rss} MB to read {path.name}"


def test_cli_on_a_metadata_bomb_is_one_line(flatbuffer, tmp_path):
    path = tmp_path / "bomb.tflite"
    path.write_bytes(_with_archive(flatbuffer, [(LABELS_FILE, _huge, zipfile.ZIP_DEFLATED)]))
    for command in (["info", path], ["predict", tmp_path / "x.png", "--model", path]):
        result = run_cli("runtime", *command, timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"error: {path}: its embedded labels.txt is {HUGE_BYTES:,} bytes, more than the {MAX_ENTRY_BYTES:,} allowed; "
            "refusing to read it"]


@pytest.mark.parametrize("text, labels", [
    ("[draft]\nb\n", ["[draft]", "b"]),
    ('["0", "1"]\n', ['["0", "1"]']),
    ("a\u2028b\nc\u2029d\n", ["a\u2028b", "c\u2029d"]),
    ("x\r\ny\r\n", ["x", "y"]),
], ids=["bracket", "json-like", "u2028 and u2029", "crlf"])
def test_labels_txt_is_one_label_per_line(flatbuffer, tmp_path, text, labels):
    """labels.txt is never parsed as JSON, and splits at newlines only."""
    path = tmp_path / "labels.tflite"
    path.write_bytes(_with_archive(flatbuffer, [(LABELS_FILE, text.encode(), zipfile.ZIP_DEFLATED),
                                                (CONTRACT_FILE, _contract(), zipfile.ZIP_DEFLATED)]))
    assert read_embedded(path).labels == labels


@pytest.mark.parametrize("scale", ["inf", "Infinity", 1e400, "nan", 0, -1])
def test_an_embedded_contract_with_a_scale_that_is_not_finite_is_refused(flatbuffer, tmp_path, scale):
    path = tmp_path / "scale.tflite"
    path.write_bytes(_with_archive(flatbuffer, [(CONTRACT_FILE, _contract(pixel_scale=scale), zipfile.ZIP_DEFLATED)]))
    with pytest.raises(ModelFileError, match=r"embedded input contract or labels are malformed .*pixel_scale: got "
                                             r"\S+, expected a number > 0 and finite"):
        read_embedded(path)


def _declared_input(pipeline, tmp_path, height: int, width: int):
    """The float32 model with its input declared (1 or -1, height, width) instead of 28x28:
    valid flatbuffer, tensors that do not fit its weights, so only a check made before
    allocating them can report the shape."""
    data = (pipeline.models / "mnist_mlp_float32.tflite").read_bytes()
    for batch in (1, -1):
        data = data.replace(struct.pack("<3i", batch, 28, 28), struct.pack("<3i", batch, height, width))
    path = tmp_path / f"input_{height}x{width}.tflite"
    path.write_bytes(data)
    return path


def test_a_huge_declared_input_is_refused_before_allocation(pipeline, tmp_path):
    path = _declared_input(pipeline, tmp_path, 40000, 40000)
    message = (rf"{path}: input tensor 'serving_default_image:0' has shape \[-1, 40000, 40000\], 1,600,000,000 "
               rf"bytes, more than the {MAX_TENSOR_BYTES:,} allowed; refusing to allocate it")
    for isolate in (True, False):  # in the child that probes the file, and in this process
        with pytest.raises(ModelFileError, match=message):
            runtime.load(path, isolate=isolate)
    result = run_cli("runtime", "info", path, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "refusing to allocate it" in result.stderr


def test_an_input_shape_unlike_the_contract_is_refused_before_allocation(pipeline, tmp_path):
    path = _declared_input(pipeline, tmp_path, 28, 29)
    with pytest.raises(InputShapeError, match=r"model input shape \[-1, 28, 29\] does not match the input contract's "
                                              r"image shape \(28, 28\) \(embedded in the file\)"):
        runtime.load(path, isolate=False)  # allocating these tensors would fail first, with another message


def test_onnx_metadata_values_are_bounded_too(pipeline, tmp_path):
    import onnx

    model = onnx.load(str(pipeline.models / "mnist_mlp_float32.onnx"))
    for prop in model.metadata_props:
        if prop.key == "labels":
            prop.value = json.dumps(["x" * 100] * 20_000)  # 2 MB of labels
    path = tmp_path / "labels.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelFileError, match=rf"its metadata_props 'labels' is 2,\d{{3}},\d{{3}} bytes, more than the "
                                             rf"{MAX_ENTRY_BYTES:,} allowed"):
        read_embedded(path)
