"""The page's image preparation (web/images.js and the modules it imports) against the Python
runtime's, in Node.js: no browser, so it runs in the fast tier. The images are made here,
deterministically: photos of drawn digits (either polarity, grey and colour-rendered, larger
than the working size, on ruled paper, beside a table edge), MNIST's own format, a blank
page, two digits, a strip at the aspect-ratio limit, tiny images; and images for each
resize contract. The prepared uint8 pixels must be byte-identical, a refusal the same
message, and the resampler's float32 output the same bits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from runtime.contract import InputContract
from runtime.preprocess.digits import WORKING_SIDE, normalize_digit
from runtime.errors import ImageError
from runtime.preprocess.images import MAX_ASPECT, fit_image
from runtime.workstation.page_constants import render, shared_constants
from runtime.preprocess.raster import reduce_blocks
from runtime.preprocess.resample import resize

from conftest import ROOT, run_cli
from page_js import page_constants, run_page_js
from photos import case_style, digit_photo, render_photo


def drawn_digit(kind: str) -> np.ndarray:
    """An MNIST-style 28x28 uint8 digit (light on dark, anti-aliased): a ring ("0") or a "7"."""
    y, x = np.mgrid[0:28, 0:28].astype(np.float64)
    if kind == "0":
        r = np.hypot((y - 14) / 9.0, (x - 14) / 6.5)
        ink = np.clip(1.6 - np.abs(r - 1) * 9.0, 0, 1)
    else:
        bar = np.clip(2.0 - np.abs(y - 7) * 0.9, 0, 1) * ((x > 7) & (x < 21))
        stem = np.clip(2.0 - np.abs(x - (20 - (y - 7) * 0.45)) * 0.9, 0, 1) * ((y > 6) & (y < 24))
        ink = np.maximum(bar, stem)
    return (ink * 255).astype(np.uint8)


def grey(rgb: np.ndarray) -> np.ndarray:
    """Pillow's grayscale of an RGB uint8 image, as runtime.preprocess.images reads a colour file."""
    return np.asarray(Image.fromarray(rgb).convert("L"), np.float32)


def strip_with_digit(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A digit on a strip of paper at the aspect-ratio limit runtime.preprocess.images allows (30 wide)."""
    strip = 210 + rng.normal(0, 4, (30 * MAX_ASPECT, 30))
    ink = np.asarray(Image.fromarray(digit).resize((28, 28), Image.Resampling.BILINEAR), np.float64) / 255
    strip[280:308, 1:29] = strip[280:308, 1:29] * (1 - ink) + 40 * ink
    return np.clip(strip, 0, 255)


def digit_images() -> dict:
    """name: float32 grayscale 0..255 image for the digit contract."""
    rng = np.random.default_rng(24)
    zero, seven = drawn_digit("0"), drawn_digit("7")
    images = {
        "photo-0": digit_photo(zero, rng),
        "light-on-dark-7": 255 - digit_photo(seven, rng),
        "mnist-0": zero,
        "big-7": np.asarray(Image.fromarray(digit_photo(seven, rng)).resize((1500, 1100), Image.Resampling.BILINEAR)),
        "fractional-0": digit_photo(zero, rng).astype(np.float32) * np.float32(0.93) + np.float32(11.37),
        "tiny-7": 255 - seven[5:25:2, 6:22:2],
        "blank": np.full((48, 64), 200, np.uint8),
        "strip": strip_with_digit(seven, rng),
    }
    cases = np.random.default_rng(25)
    for case in ("thin_pen", "blue_ruled", "dark_edge", "two_digits"):
        images[case] = grey(render_photo(zero, case_style(case, cases), cases, second=seven))
    return {name: np.asarray(image, np.float32) for name, image in images.items()}


RESIZE_CONTRACTS = {
    "rgb-crop": InputContract(image_shape=(32, 32, 3), preprocessing="resize", resize="crop"),
    "rgb-pad": InputContract(image_shape=(32, 32, 3), preprocessing="resize", resize="pad"),
    "rgb-stretch": InputContract(image_shape=(32, 32, 3), preprocessing="resize", resize="stretch"),
    "grey-crop": InputContract(image_shape=(24, 40), preprocessing="resize", resize="crop"),
    "grey-pad": InputContract(image_shape=(24, 40), preprocessing="resize", resize="pad"),
}


def colour_images() -> dict:
    """name: float32 RGB 0..255 images of the sizes a resize contract meets: a photo, smooth
    and noisy colour, smaller than the model's input (enlarged), its exact size, strips at the
    aspect-ratio limit both ways."""
    rng = np.random.default_rng(26)
    y, x = np.mgrid[0:45, 0:70]
    smooth = np.stack([y * 5.0, x * 3.0, (x + y) * 2.0], axis=-1)
    return {name: np.asarray(image, np.float32) for name, image in {
        "photo": render_photo(drawn_digit("7"), case_style("clean", rng), rng),
        "smooth": smooth + rng.uniform(0, 1, smooth.shape),
        "noise": rng.integers(0, 256, (301, 203, 3)),
        "tiny": rng.integers(0, 256, (3, 5, 3)),
        "exact": rng.integers(0, 256, (32, 32, 3)),
        "wide": rng.integers(0, 256, (10, 10 * MAX_ASPECT, 3)),
        "tall": rng.integers(0, 256, (10 * MAX_ASPECT - 1, 10, 3)),
    }.items()}


def python_digit(name: str, image: np.ndarray) -> dict:
    try:
        return {"pixels": normalize_digit(image, name).tobytes()}
    except ImageError as err:
        return {"error": str(err)}


def test_the_page_normalises_digits_as_the_runtime_does(tmp_path):
    """Digit contract: every image byte-identical or refused with the same message; the cases
    that must be refused are, and the rest are not (so both paths are exercised)."""
    images = digit_images()
    calls = [{"op": "prepare", "pixels": image, "contract": InputContract().to_json(), "name": name}
             for name, image in images.items()]
    page = run_page_js(calls, tmp_path)
    for (name, image), answer in zip(images.items(), page):
        assert answer == python_digit(name, image), name
    refused = sorted(name for name, answer in zip(images, page) if "error" in answer)
    assert refused == ["blank", "two_digits"], [(n, a) for n, a in zip(images, page) if "error" in a]


def test_the_page_fits_images_to_resize_contracts_as_the_runtime_does(tmp_path):
    """Resize contracts (crop, pad, stretch; grey and RGB): byte-identical uint8 pixels."""
    images = colour_images()
    calls, expected = [], []
    for contract_name, contract in RESIZE_CONTRACTS.items():
        for name, image in images.items():
            pixels = image if contract.channels == 3 else grey(image.astype(np.uint8))
            calls.append({"op": "prepare", "pixels": pixels, "contract": contract.to_json(), "name": name})
            expected.append((contract_name, name, fit_image(pixels, contract)))
    for (contract_name, name, python), answer in zip(expected, run_page_js(calls, tmp_path)):
        assert "pixels" in answer, (contract_name, name, answer)
        page = np.frombuffer(answer["pixels"], np.uint8).reshape(python.shape)
        diff = np.abs(page.astype(int) - python.astype(int))
        assert diff.max() == 0, f"{contract_name} {name}: {np.count_nonzero(diff)} of {diff.size} pixels differ, by up to {diff.max()}"


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB")])
def test_the_page_reads_decoded_pixels_as_the_runtime_does(tmp_path, channels, mode):
    """web/images.js pixelsFromRgba (web/pillow.js) against what runtime.preprocess.images does with
    Pillow: every alpha over white paper (alpha_composite), then convert("L") or RGB."""
    rng = np.random.default_rng(28)
    rgba = rng.integers(0, 256, (64, 256, 4)).astype(np.uint8)
    rgba[:, :, 3] = np.arange(256, dtype=np.uint8)  # every alpha, 0 and 255 included
    paper = Image.new("RGBA", (256, 64), (255, 255, 255, 255))
    python = np.asarray(Image.alpha_composite(paper, Image.fromarray(rgba, "RGBA")).convert(mode), np.float32)
    [answer] = run_page_js([{"op": "rgba", "pixels": rgba, "channels": channels}], tmp_path)
    np.testing.assert_array_equal(np.frombuffer(answer["pixels"], np.float32).reshape(python.shape), python)


@pytest.mark.parametrize("shape, size", [((45, 70, 3), (32, 32)), ((7, 5, 1), (29, 41)), ((301, 203, 1), (24, 40)),
                                         ((32, 32, 3), (32, 32)), ((10, 200, 3), (10, 37)), ((3, 1000, 1), (64, 9))])
def test_the_page_resamples_as_the_runtime_does(tmp_path, shape, size):
    """web/resample.js against runtime.preprocess.resample.resize: the same float32 bits, enlarging,
    shrinking by integer and fractional factors, one axis only and not at all."""
    image = np.random.default_rng(27).uniform(0, 255, shape).astype(np.float32)
    image = image if shape[2] == 3 else image[..., 0]
    [answer] = run_page_js([{"op": "resize", "pixels": image, "height": size[0], "width": size[1]}], tmp_path)
    python = resize(image, *size)
    page = np.frombuffer(answer["pixels"], np.float32).reshape(python.shape)
    np.testing.assert_array_equal(page, python)


@pytest.mark.parametrize("shape", [(20, 3000), (3000, 20), (1, 5000), (5000, 1), (1500, 1100), (700, 3)])
def test_the_page_reduces_strips_to_the_same_image_as_python(tmp_path, shape):
    """web/raster.js ports reduce_blocks: bit for bit the same float32 image, strips included
    (where numpy's own sum would pair the rows up, the rule adds them in order)."""
    gray = np.random.default_rng(1).random(shape, dtype=np.float32) * np.float32(255)
    [answer] = run_page_js([{"op": "reduce", "pixels": gray, "side": WORKING_SIDE}], tmp_path)
    python = reduce_blocks(gray, WORKING_SIDE)
    np.testing.assert_array_equal(np.frombuffer(answer["pixels"], np.float32).reshape(python.shape), python)


def test_the_pages_constants_are_generated_from_the_runtime():
    """web/constants.js is what `python -m runtime.workstation.page_constants` writes now (a constant
    changed in the Python without running the generator fails here), and Node reads back
    from it the very values Python holds."""
    assert (ROOT / "web" / "constants.js").read_text() == render(), "run `python -m runtime.workstation.page_constants`"
    expected = {name: list(value) if isinstance(value, tuple) else value for name, (value, _) in shared_constants().items()}
    assert page_constants() == expected
    assert {"NO_DIGIT_CONTRAST", "KEEP_STROKES", "MAX_ASPECT", "RESIZE_MODES"} <= expected.keys()


def test_the_generator_checks_and_rewrites_a_stale_file(tmp_path):
    stale = tmp_path / "constants.js"
    stale.write_text(render().replace("export const MIN_CONTRAST = 0.12;", "export const MIN_CONTRAST = 0.1;"))
    result = run_cli("runtime.workstation.page_constants", "--check", "--output", stale)
    assert result.returncode == 1 and result.stderr == f"error: {stale} is out of date: run `python -m runtime.workstation.page_constants`\n"
    result = run_cli("runtime.workstation.page_constants", "--output", stale)
    assert result.returncode == 0 and stale.read_text() == render(), result.stderr
    assert run_cli("runtime.workstation.page_constants", "--check", "--output", stale).returncode == 0
