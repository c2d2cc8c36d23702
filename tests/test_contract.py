"""The input contract for any image shape, the resize it prescribes for image files, the
resampler underneath, and the typed manifest that records them."""

import json

import numpy as np
import pytest

from runtime.contract import InputContract
from runtime.preprocess.images import fit_image
from runtime.store.manifest import Manifest, read_manifest, write_manifest
from runtime.preprocess.resample import resize

RGB = InputContract((32, 48, 3), preprocessing="resize")


@pytest.mark.parametrize("kwargs, message", [
    ({"image_shape": (784,)}, r"image_shape: got \(784,\), expected \(H, W\) or \(H, W, C\) with C 1 or 3"),
    ({"image_shape": (32, 32, 2), "preprocessing": "resize"}, r"got \(32, 32, 2\)"),
    ({"image_shape": (32, 32, 3), "preprocessing": "resize", "mean": (0.1, 0.2)}, r"mean: got 2 values, expected 1 or 3"),
    ({"image_shape": (32, 32), "preprocessing": "resize", "std": (0.0,)}, r"std: got \[0.0\], expected numbers > 0"),
    ({"image_shape": (32, 32)}, r"preprocessing 'mnist-digit' makes 28x28 grayscale images; the image shape is \(32, 32\)"),
    ({"pixel_scale": 0}, r"pixel_scale: got 0, expected a number > 0"),
    ({"image_shape": (28, 28), "resize": "zoom"}, r"resize: got 'zoom', expected one of crop, pad, stretch"),
])
def test_bad_contracts_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InputContract(**kwargs)


def test_model_input_applies_scale_mean_and_std_per_channel():
    contract = InputContract((2, 2, 3), pixel_scale=255, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0), preprocessing="resize")
    pixels = np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 20
    expected = (pixels / 255.0 - np.array([0.5, 0.25, 0.0])) / np.array([0.5, 0.25, 2.0])
    np.testing.assert_allclose(contract.model_input(pixels)[0], expected, rtol=1e-6)
    np.testing.assert_allclose(contract.model_input(pixels / np.float32(255))[0], expected, rtol=1e-6)
    assert contract.describe() == "uint8 pixels (2, 2, 3), model input = (pixel / 255 - (0.5, 0.25, 0)) / (0.5, 0.25, 2)"


def test_a_model_that_rescales_itself_takes_floats_up_to_255():
    contract = InputContract((4, 4), pixel_scale=1, preprocessing="resize")
    assert contract.model_input(np.full((4, 4), 200.0)).max() == 200.0
    with pytest.raises(ValueError, match=r"float values span 300..300, expected 0..255 \(pass the uint8 pixels, or divide by 1 first\)"):
        contract.model_input(np.full((4, 4), 300.0))


def test_shapes_with_or_without_a_channel_axis_of_one():
    with_axis = InputContract((28, 28, 1))
    assert with_axis.check_shape(np.zeros((5, 28, 28), np.uint8)).shape == (5, 28, 28, 1)
    assert with_axis.check_shape(np.zeros((28, 28), np.uint8)).shape == (1, 28, 28, 1)
    assert InputContract().check_shape(np.zeros((5, 28, 28, 1), np.uint8)).shape == (5, 28, 28)
    with pytest.raises(ValueError, match=r"images: got shape \(5, 32, 48\), expected uint8 pixels 0..255 or floats in 0..1 "
                                         r"shaped \(N, 32, 48, 3\) or \(32, 48, 3\)"):
        RGB.check_shape(np.zeros((5, 32, 48), np.uint8))


def test_contract_json_round_trip_and_the_first_schema():
    assert InputContract.from_json(RGB.to_json()) == RGB
    old = {"image_shape": [28, 28], "pixel_dtype": "uint8", "pixel_scale": 255.0, "polarity": "light ink on dark background"}
    assert InputContract.from_json(old) == InputContract()


def _thirds(height, width):
    """A grey image whose left, middle and right thirds are 0, 100 and 200."""
    image = np.zeros((height, width), np.float32)
    image[:, width // 3 : 2 * width // 3] = 100
    image[:, 2 * width // 3 :] = 200
    return image


def test_crop_keeps_the_centre_at_the_aspect_ratio():
    contract = InputContract((10, 10), preprocessing="resize", resize="crop")
    out = fit_image(_thirds(30, 90), contract)  # 3:1 wide -> the middle square, all 100
    assert out.shape == (10, 10) and np.all(out == 100)


def test_pad_keeps_everything_with_black_borders():
    contract = InputContract((12, 12), preprocessing="resize", resize="pad")
    out = fit_image(_thirds(30, 90) + 10, contract)  # 3:1 -> 12x4 band in the middle rows
    assert out.shape == (12, 12)
    assert np.all(out[:4] == 0) and np.all(out[8:] == 0) and np.all(out[4:8] > 0)
    assert out[4:8, 0].mean() < out[4:8, 6].mean() < out[4:8, 11].mean()


def test_stretch_keeps_everything_without_borders():
    contract = InputContract((6, 9), preprocessing="resize", resize="stretch")
    out = fit_image(_thirds(30, 90), contract)  # each output column averages 20 columns around its centre
    assert out.shape == (6, 9) and np.all(out[:, 0] == 0) and np.all(out[:, 4] == 100) and np.all(out[:, -1] == 200)


def test_rgb_files_keep_their_channels(tmp_path):
    from PIL import Image

    from runtime.preprocess.images import prepare_image

    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[..., 0], rgb[..., 2] = 255, 30
    Image.fromarray(rgb).save(tmp_path / "red.png")
    out = prepare_image(tmp_path / "red.png", RGB)
    assert out.shape == (32, 48, 3) and np.all(out[..., 0] == 255) and np.all(out[..., 1] == 0) and np.all(out[..., 2] == 30)


def test_resample_exactness():
    image = np.random.default_rng(0).uniform(0, 255, (17, 23, 3)).astype(np.float32)
    np.testing.assert_array_equal(resize(image, 17, 23), image)
    np.testing.assert_allclose(resize(np.full((40, 30), 77.0), 9, 13), 77.0, atol=1e-4)
    # A ramp whose value is the pixel centre's coordinate: inside the border, the triangle
    # filter returns each output pixel's own centre, shrinking or enlarging.
    ramp = np.tile(np.arange(16, dtype=np.float32) + 0.5, (3, 1))
    np.testing.assert_allclose(resize(ramp, 3, 8)[:, 1:-1], np.tile((np.arange(8) + 0.5) * 2, (3, 1))[:, 1:-1], atol=1e-4)
    np.testing.assert_allclose(resize(ramp, 3, 32)[:, 2:-2], np.tile((np.arange(32) + 0.5) / 2, (3, 1))[:, 2:-2], atol=1e-4)


def test_manifest_round_trip_keeps_unknown_keys_and_reads_schema_1(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    data = json.loads((models / "manifest.json").read_text())
    data["schema"] = 1
    for entry in data["artifacts"][1:]:
        entry["source"] = entry.pop("converted_from")
    data["from_the_future"] = {"kept": True}
    data["artifacts"][1]["note"] = "kept too"
    (models / "manifest.json").write_text(json.dumps(data))
    manifest = read_manifest(models)
    assert isinstance(manifest, Manifest) and manifest.exported[0].converted_from["path"] == "mnist_mlp.keras"
    write_manifest(models, manifest)
    again = json.loads((models / "manifest.json").read_text())
    assert again["schema"] == 2 and again["from_the_future"] == {"kept": True} and again["artifacts"][1]["note"] == "kept too"
    assert again["artifacts"][1]["converted_from"] == data["artifacts"][1]["source"]
