"""Hostile image files, round 3: strips of extreme aspect ratio (a few hundred bytes that
used to take gigabytes), FIFOs and devices given by name, and animations. Each ends at once
with a one-line error, or a result and a note."""

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from runtime.preprocess.digits import WORKING_SIDE, normalize_digit
from runtime.preprocess.images import MAX_ASPECT, ImageError, load_image, prepare_image, read_pixels
from runtime.contract import InputContract
from runtime.preprocess.raster import reduce_blocks

from conftest import run_cli

CLI_TIMEOUT_S = 60
"""A hang is a failure: every command here must end well within this."""


def _png(width: int, height: int, value: int = 255) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), value).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@pytest.mark.parametrize("width, height", [(20000, 20), (20, 20000), (39_999_999, 1), (1, 4_000_000)],
                         ids=["20000x20", "20x20000", "39999999x1", "1x4000000"])
def test_a_strip_is_refused_before_decoding(tmp_path, width, height):
    path = tmp_path / "strip.png"
    path.write_bytes(_png(width, height))
    assert path.stat().st_size < 100_000  # a tiny file: the cost was all in decoding and filtering it
    for read in (load_image, lambda p: prepare_image(p, InputContract((32, 32, 3), preprocessing="resize", resize="pad"))):
        with pytest.raises(ImageError, match=f"{width}x{height} pixels: its longer side is more than {MAX_ASPECT} times"):
            read(path)


def test_an_image_just_inside_the_aspect_limit_is_read(tmp_path):
    path = tmp_path / "wide.png"
    path.write_bytes(_png(MAX_ASPECT * 30, 30, value=200))
    assert read_pixels(path).shape == (30, MAX_ASPECT * 30)


@pytest.mark.parametrize("shape", [(20, 20000), (20000, 20), (1, 5000), (3_000_000, 1), (700, 3), (513, 2)])
def test_block_reduction_brings_any_shape_within_the_working_side(shape):
    """`reduce_blocks` used to leave an image as it was when its shorter side was below the
    block size; the closing that follows then padded both sides by an eighth of the longer one."""
    gray = np.full(shape, 77.0, np.float32)
    reduced = reduce_blocks(gray, WORKING_SIDE)
    assert max(reduced.shape) <= WORKING_SIDE and min(reduced.shape) >= 1
    assert np.all(reduced == np.float32(77.0))  # a mean of whole blocks of one value


@pytest.mark.parametrize("shape", [(20, 20000), (20000, 20), (1, 39_999_999)])
def test_the_digit_normalisation_of_a_strip_array_ends_with_a_clear_error(shape):
    gray = np.full(shape, 255.0, np.float32)
    gray[..., ::7] = 0.0  # some ink to look at
    with pytest.raises(ImageError, match="strip: no digit found"):
        normalize_digit(gray, "strip")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_given_by_name_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match=r"digit.png: is a FIFO \(named pipe\), not a regular file"):
        load_image(fifo)  # opening it would block until a writer came


def test_a_device_given_by_name_is_refused(tmp_path):
    with pytest.raises(ImageError, match="/dev/zero: is a character device, not a regular file"):
        load_image("/dev/zero")
    with pytest.raises(ImageError, match="is a folder, not a regular file"):
        read_pixels(tmp_path)


def _animation(path, frames: int = 3):
    images = [Image.new("L", (64, 64), 255 - 40 * k) for k in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)


def test_an_animation_is_read_from_its_first_frame_with_a_note(tmp_path):
    path = tmp_path / "moving.gif"
    _animation(path)
    notes = []
    pixels = read_pixels(path, "L", notes)
    assert notes == [f"{path}: has 3 frames (an animation); only the first is used"]
    assert np.all(pixels == 255)  # the first frame, not a later one
    still = tmp_path / "still.gif"
    Image.new("L", (64, 64), 255).save(still)
    notes = []
    read_pixels(still, "L", notes)
    assert notes == []


def test_predict_cli_on_strips_fifos_and_animations(pipeline, reference, tmp_path):
    """Every file gets its line, in a few seconds: errors for the strip and the FIFO, a
    result and a note for the animated digit."""
    (tmp_path / "a_strip.png").write_bytes(_png(20000, 20))
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "b_fifo.png")
    digit = np.asarray(reference.images[0]).reshape(28, 28)
    frames = [Image.fromarray(digit), Image.fromarray(255 - digit)]
    frames[0].save(tmp_path / "c_moving.gif", save_all=True, append_images=frames[1:], duration=100)
    names = ["a_strip.png", "b_fifo.png", "c_moving.gif"] if hasattr(os, "mkfifo") else ["a_strip.png", "c_moving.gif"]
    result = run_cli("runtime", "predict", *[tmp_path / n for n in names], "--model",
                     pipeline.models / "mnist_mlp_float32.tflite", timeout=CLI_TIMEOUT_S)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{tmp_path / 'c_moving.gif'}: ")
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "longer side is more than" in errors[0]
    if hasattr(os, "mkfifo"):
        assert "is a FIFO (named pipe), not a regular file" in errors[1]
    assert f"note: {tmp_path / 'c_moving.gif'}: has 2 frames (an animation); only the first is used" in result.stderr
    as_json = run_cli("runtime", "predict", tmp_path / "c_moving.gif", "--json", "--model",
                      pipeline.models / "mnist_mlp_float32.tflite", timeout=CLI_TIMEOUT_S)
    assert json.loads(as_json.stdout)["results"][0]["notes"] == [
        f"{tmp_path / 'c_moving.gif'}: has 2 frames (an animation); only the first is used"]
