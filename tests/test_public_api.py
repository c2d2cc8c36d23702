"""runtime's public API, as the README's Python example uses it: `import runtime` alone
reproduces `python -m runtime predict` on files and on arrays, and its names are typed."""

import json

import numpy as np
import pytest
from PIL import Image

import runtime
from conftest import ROOT, run_cli
from photos import digit_photo
from shapes import draw_shape

PHOTOS = 6
"""Photos of the first reference digits: each must get predict's answer, or predict's error."""


def test_every_public_name_is_exported_and_documented():
    assert sorted(runtime.__all__) == sorted(name for name in dir(runtime) if not name.startswith("_")
                                             and name[0].isupper() or name in ("classify", "load", "prepare_image"))
    for name in runtime.__all__:
        assert getattr(runtime, name).__doc__, name
    assert (ROOT / "runtime" / "py.typed").is_file()
    hints = runtime.prepare_image.__annotations__
    assert "image" in hints and hints["return"] == "np.ndarray"
    assert runtime.load.__annotations__["return"] == "Model" and "images" in runtime.Model.predict.__annotations__


def photo_files(reference, folder, seed: int) -> list:
    """PHOTOS photos of the first reference digits, as PNG files in `folder`."""
    rng = np.random.default_rng(seed)
    files = []
    for k in range(PHOTOS):
        files.append(folder / f"photo{k}.png")
        Image.fromarray(digit_photo(reference.images[k], rng)).save(files[-1])
    return files


def test_prepare_image_reproduces_predict_on_files(pipeline, reference, tmp_path):
    files = photo_files(reference, tmp_path, seed=7)
    model_file = pipeline.models / "mnist_mlp_int8.tflite"
    result = run_cli("runtime", "predict", *files, "--model", model_file, "--json")
    answers = {r["file"]: r for r in json.loads(result.stdout)["results"]}
    model = runtime.load(model_file)
    for path in files:
        answer = answers[str(path)]
        if "error" in answer:
            with pytest.raises(runtime.ImageError) as err:
                runtime.prepare_image(path, model)
            assert str(err.value) == answer["error"]
            continue
        probs = model.predict(runtime.prepare_image(path, model))[0]
        assert list(answer["probabilities"].values()) == pytest.approx(probs.tolist(), abs=1e-6)


def test_classify_gives_predicts_answer(pipeline, reference, tmp_path):
    """Two lines of Python give what `predict --top 3 --min-confidence 0.99` prints and reports."""
    files = photo_files(reference, tmp_path, seed=11)
    model_file = pipeline.models / "mnist_mlp_float32.onnx"
    options = ("--model", model_file, "--top", "3", "--min-confidence", "0.99")
    reported = {r["file"]: r for r in json.loads(run_cli("runtime", "predict", *files, *options, "--json").stdout)["results"]}
    printed = dict(line.split(": ", 1) for line in run_cli("runtime", "predict", *files, *options).stdout.splitlines()
                   if ": " in line)
    model = runtime.load(model_file)
    answered = 0
    for path in files:
        if "error" in reported[str(path)]:
            continue
        answer = runtime.classify(model, path, top=3, min_confidence=0.99)
        assert isinstance(answer, runtime.Prediction) and answer.format() == printed[str(path)]
        expected = {k: v for k, v in reported[str(path)].items() if k not in ("file", "notes")}
        assert json.loads(json.dumps(answer.to_json())) == expected
        answered += 1
    assert answered  # at least one photo held a digit: the comparison ran


def test_an_array_is_prepared_as_its_file(pipeline, tmp_path):
    rng = np.random.default_rng(3)
    digit = runtime.load(pipeline.models / "mnist_mlp_int8.tflite")
    rgb = runtime.InputContract(image_shape=(32, 32, 3), preprocessing="resize", resize="pad")
    gray = runtime.InputContract(image_shape=(24, 24), preprocessing="resize", resize="crop")
    gray_like_rgb = runtime.InputContract(image_shape=(32, 32), preprocessing="resize", resize="pad")
    for k, kind in enumerate(("circle", "square", "triangle")):
        path = tmp_path / f"{kind}.png"
        draw_shape(kind, rng, 90 + 17 * k).convert("RGB").save(path)
        pixels = np.asarray(Image.open(path))
        for contract in (rgb, gray):
            assert np.array_equal(runtime.prepare_image(pixels, contract), runtime.prepare_image(path, contract))
        one_channel = runtime.prepare_image(pixels[:, :, 0], gray_like_rgb)  # a gray array for an RGB model
        assert np.array_equal(runtime.prepare_image(pixels[:, :, 0], rgb), np.repeat(one_channel[..., None], 3, axis=2))
    photo = tmp_path / "digit.png"
    Image.fromarray(np.pad(np.full((12, 4), 30, np.uint8), 40, constant_values=220)).save(photo)
    gray_photo = np.asarray(Image.open(photo))
    assert np.array_equal(runtime.prepare_image(gray_photo, digit), runtime.prepare_image(photo, digit))
    assert runtime.prepare_image(gray_photo[:, :, None], digit.contract).shape == (28, 28)


@pytest.mark.parametrize("image, model, error, message", [
    (np.zeros((8, 8), np.float32), None, ValueError, r"image: got an array of dtype float32, expected uint8"),
    (np.zeros((8, 8, 4), np.uint8), None, ValueError, r"image: got an array of shape \(8, 8, 4\), expected \(H, W\)"),
    (np.zeros((0, 8), np.uint8), None, ValueError, r"image: got an array of shape \(0, 8\)"),
    ([[0, 1]], None, TypeError, r"image: got list, expected a path or a numpy array"),
    ("x.png", "mnist_mlp_int8.tflite", TypeError, r"model_or_contract: got str, expected a runtime\.Model"),
], ids=["float", "rgba", "empty", "list", "a model's path"])
def test_wrong_arguments_name_the_parameter(image, model, error, message):
    with pytest.raises(error, match=message):
        runtime.prepare_image(image, runtime.InputContract() if model is None else model)
