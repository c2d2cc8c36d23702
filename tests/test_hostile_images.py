"""Hostile image files: each gives a correct result or a clear per-file error, and the
remaining files are still processed."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import runtime
from runtime.preprocess.images import MAX_PIXELS, ImageError, load_image

from conftest import run_cli
from photos import digit_photo


@pytest.fixture(scope="module")
def clear_case(reference):
    """A test digit the Keras model is sure of, and a photo of it (dark ink on paper)."""
    i = int(np.flatnonzero((reference.probs.max(1) > 0.99) & (reference.probs.argmax(1) == reference.labels))[0])
    return int(reference.labels[i]), digit_photo(reference.images[i], np.random.default_rng(5))


@pytest.fixture(scope="module")
def model(pipeline):
    return runtime.load(pipeline.models / "mnist_mlp_float32.tflite")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels (a decompression bomb needs no more to be refused)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _encoded(photo, fmt, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda photo: b"", "not a readable image"),
        (lambda photo: b"hello, I am a text file\n", "not a readable image"),
        (lambda photo: _encoded(photo, "PNG")[:400], "not a readable image"),
        (lambda photo: _encoded(photo, "JPEG")[:600], "not a readable image"),
        (lambda photo: _png_header_only(8000, 8000), f"refused, 8000x8000 pixels is more than the {MAX_PIXELS:,} allowed"),
        (lambda photo: _png_header_only(40000, 40000), f"refused, more pixels than the {MAX_PIXELS:,} allowed"),
    ],
    ids=["empty", "text", "truncated png", "truncated jpeg", "bomb 64 MP", "bomb 1.6 GP"],
)
def test_unreadable_files_get_a_clear_error(clear_case, tmp_path, make, message):
    path = tmp_path / "bad.png"
    path.write_bytes(make(clear_case[1]))
    with pytest.raises(ImageError, match=message) as caught:
        load_image(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def _sixteen_bit(photo):
    return Image.fromarray(photo.astype(np.uint16) * 257)


def _palette(photo):
    return Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)


def _rgba_transparent_paper(photo):
    """Ink opaque, paper fully transparent (its RGB black): the background is paper, not ink."""
    ink = 255 - photo.astype(np.int32)
    alpha = np.clip((ink - 40) * 3, 0, 255).astype(np.uint8)
    rgba = np.zeros(photo.shape + (4,), np.uint8)
    rgba[..., 3] = alpha
    return Image.fromarray(rgba, "RGBA")


def _rgb_blue_ink(photo):
    rgb = np.stack([photo, photo, np.full_like(photo, 255)], axis=-1)
    return Image.fromarray(rgb, "RGB")


@pytest.mark.parametrize("convert", [_sixteen_bit, _palette, _rgba_transparent_paper, _rgb_blue_ink],
                         ids=["16-bit", "palette", "rgba", "blue ink"])
def test_unusual_modes_are_read_correctly(clear_case, model, tmp_path, convert):
    label, photo = clear_case
    path = tmp_path / "digit.png"
    convert(photo).save(path)
    assert model.predict(load_image(path))[0].argmax() == label


def test_predict_cli_keeps_going_after_bad_files(pipeline, clear_case, tmp_path):
    label, photo = clear_case
    Image.fromarray(photo).save(tmp_path / "a_good.png")
    (tmp_path / "b_empty.png").write_bytes(b"")
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(tmp_path / "c_white.png")
    (tmp_path / "d_bomb.png").write_bytes(_png_header_only(9000, 9000))
    Image.fromarray(photo).save(tmp_path / "e_good.jpg")
    result = run_cli("runtime", "predict", tmp_path, "--model", pipeline.models / "mnist_mlp_int8.tflite")
    assert result.returncode == 1
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [str(tmp_path / "a_good.png"), str(tmp_path / "e_good.jpg")]
    assert all(line.split(": ")[1].startswith(f"{label} (") for line in result.stdout.splitlines())
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(":")[1].strip() for e in errors] == [str(tmp_path / n) for n in ("b_empty.png", "c_white.png", "d_bomb.png")]
    assert "no digit found" in errors[1] and "pixels is more than" in errors[2]
