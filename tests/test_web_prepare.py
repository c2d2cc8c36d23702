"""The web page's image preparation against the runtime's, in Chromium: the same image files
through the page's JavaScript (decode + prepare, web/images.js) and through
runtime.preprocess.images.prepare_image, for a digit contract and for resize contracts; and the page's
pixel scaling against InputContract.scale_pixels. (tests/test_page_js.py holds the same
JavaScript to the Python in Node, on arrays, without a browser.)"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from runtime.contract import InputContract
from runtime.preprocess.images import ImageError, prepare_image

from browser import from_base64, open_page, playwright, playwright_browser, serving, to_base64  # noqa: F401 (fixtures)
from conftest import run_cli
from photos import case_style, digit_photo, render_photo
from tiny_onnx import tiny_rgb_models

pytestmark = pytest.mark.browser

PREPARE_MAX_PIXEL_DIFF = 0
"""The page and the runtime prepare each image identically, byte for byte: the digit
normalisation is ported operation for operation (float32 rounding and numpy's sum order
included), the resize contracts' resampler is a port of Pillow's, which the runtime calls,
and the decoders (Chromium's and Pillow's) give the same pixels for these PNG and JPEG files."""
PREPARE_FILES = """async ({ files, contract }) => {
  const { prepareFile } = await import("./images.js");
  const { readContract } = await import("./contract.js");
  const parsed = readContract(contract);
  const results = [];
  for (const file of files) {
    const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
    try {
      const pixels = await prepareFile(new Blob([bytes]), parsed, file.name);
      results.push({ pixels: btoa(String.fromCharCode(...pixels)) });
    } catch (err) {
      results.push({ error: err.message });
    }
  }
  return results;
}"""


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    """A page built by `convert web` for a tiny RGB model: the page's scripts are the same
    whatever the model, and preparation is called with each contract under test."""
    models = tmp_path_factory.mktemp("prepare") / "models"
    tiny_rgb_models(models, InputContract(image_shape=(32, 32, 3), preprocessing="resize"), ["a", "b"])
    result = run_cli("convert", "web", "--models", models)
    assert result.returncode == 0, result.stderr
    with serving(models / "web") as url:
        yield url


def _agreement_images(reference, folder) -> list:
    """Image files of the kinds the page meets: photos of digits (PNG and JPEG), one larger
    than the runtime's working size, light-on-dark, MNIST itself, transparent, tiny, colour,
    a blank page; and photos with what runtime.preprocess.digits removes or rebuilds (a thin pen, ruled
    lines, a dark table edge) and two digits side by side."""
    rng = np.random.default_rng(7)
    files = []
    for i in range(12):
        photo = digit_photo(reference.images[i], rng)
        files.append((f"photo{i}.png", Image.fromarray(photo)))
        files.append((f"photo{i}.jpg", Image.fromarray(photo)))
    big = Image.fromarray(digit_photo(reference.images[12], rng)).resize((1500, 1100), Image.Resampling.BILINEAR)
    files.append(("big.jpg", big))
    files.append(("light-on-dark.png", Image.fromarray(255 - digit_photo(reference.images[13], rng))))
    files.append(("mnist.png", Image.fromarray(reference.images[14])))
    alpha = np.zeros((120, 90, 4), np.uint8)
    alpha[..., 3] = np.asarray(Image.fromarray(reference.images[15]).resize((90, 120), Image.Resampling.BICUBIC))
    files.append(("transparent.png", Image.fromarray(alpha, "RGBA")))
    files.append(("tiny.png", Image.fromarray(255 - reference.images[16][8:20, 10:17])))
    colour = np.stack([digit_photo(reference.images[17], rng)] * 3, axis=-1) * np.array([1.0, 0.8, 0.6])
    files.append(("colour.jpg", Image.fromarray(colour.astype(np.uint8))))
    files.append(("blank.png", Image.new("L", (64, 48), 200)))
    cases = np.random.default_rng(8)
    for k, case in enumerate(("thin_pen", "blue_ruled", "dark_edge", "two_digits")):
        photo = render_photo(reference.images[18 + k], case_style(case, cases), cases, second=reference.images[22])
        files.append((f"{case.replace('_', '-')}.jpg", Image.fromarray(photo)))
    paths = []
    for name, image in files:
        path = folder / name
        image.save(path, quality=90) if name.endswith(".jpg") else image.save(path)
        paths.append(path)
    return paths


CONTRACTS = {
    "digit": InputContract(),
    "rgb-crop": InputContract(image_shape=(32, 32, 3), preprocessing="resize", resize="crop"),
    "rgb-pad": InputContract(image_shape=(32, 32, 3), preprocessing="resize", resize="pad"),
    "gray-stretch": InputContract(image_shape=(24, 40), preprocessing="resize", resize="stretch"),
}


def test_page_prepares_images_as_the_runtime_does(playwright_browser, page_url, reference, tmp_path):
    """The same image files through the page's JavaScript (decode + prepare) and through
    runtime.preprocess.images.prepare_image; blind to how either prepares them inside."""
    paths = _agreement_images(reference, tmp_path)
    page = open_page(playwright_browser, page_url)
    files = [{"name": p.name, "data": to_base64(p.read_bytes())} for p in paths]
    lines, compared, worst, refused = [], 0, 0, []
    for name, contract in CONTRACTS.items():
        results = page.evaluate(PREPARE_FILES, {"files": files, "contract": contract.to_json()})
        for path, result in zip(paths, results):
            try:
                python = prepare_image(path, contract)
            except ImageError as err:  # the page says what the runtime says, after the file's name
                assert "error" in result and result["error"].split(": ", 1)[1] == str(err).split(": ", 1)[1], (name, path.name, result, str(err))
                refused.append((name, path.name, result["error"]))
                continue
            assert "pixels" in result, (name, path.name, result)
            browser = np.frombuffer(from_base64(result["pixels"]), np.uint8).reshape(contract.image_shape)
            diff = np.abs(browser.astype(int) - python.astype(int))
            compared += 1
            worst = max(worst, int(diff.max()))
            lines.append(f"{name:12} {path.name:18} max |Δ| {diff.max()}  differing {np.count_nonzero(diff)} of {diff.size}")
            assert diff.max() <= PREPARE_MAX_PIXEL_DIFF, lines[-1]
    print(f"\npreparation, page vs runtime.preprocess.images: {compared} images compared, largest |Δ| {worst}")
    print("\n".join(line for line in lines if "max |Δ| 0" not in line) or "every image identical")
    print("\n".join(f"{name:12} {file:18} refused by both: {message}" for name, file, message in refused))
    assert [(name, file) for name, file, _ in refused] == [("digit", "blank.png"), ("digit", "two-digits.jpg")]
    assert compared == len(CONTRACTS) * len(paths) - len(refused)
    page.close()


def test_page_scales_pixels_as_the_contract_says(playwright_browser, page_url):
    """(pixel / pixel_scale - mean) / std in float32, bit for bit, per channel."""
    contract = InputContract(image_shape=(2, 128, 3), pixel_scale=127.5, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                             preprocessing="resize")
    pixels = np.arange(256 * 3, dtype=np.uint16).reshape(2, 128, 3).astype(np.uint8)
    page = open_page(playwright_browser, page_url)
    scaled = page.evaluate("""async ({ contract, data }) => {
      const { readContract, scalePixels } = await import("./contract.js");
      const pixels = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      return Array.from(scalePixels(pixels, readContract(contract)));
    }""", {"contract": contract.to_json(), "data": to_base64(pixels.tobytes())})
    page.close()
    assert np.array_equal(np.asarray(scaled, np.float32).reshape(pixels.shape), contract.scale_pixels(pixels))
