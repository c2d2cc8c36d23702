"""Your own model: a Keras image classifier made elsewhere (here: a small CNN on 32x32 RGB
pictures of shapes, trained inside the test) through convert, runtime, parity and report,
with its input contract and labels travelling inside every file."""

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

import runtime
from runtime.store.files import sha256_file
from runtime.store.embedded import read_embedded

from conftest import listed_statuses, parity_exit, run_cli
from convert.tflite_metadata_schema import metadata_schema_py_generated as meta
from shapes import CLASSES, SIZE, draw_shape, shape_arrays, train_shape_cnn, write_shape_folder
from tflite_metadata import read_tflite_metadata

pytestmark = pytest.mark.slow

PER_CLASS = 150
"""Pictures per class in the data folder, 450 in all: 45 calibrate int8 (one in ten), 405 are held out."""
HELD_OUT, CALIBRATION = 405, 45
ARTIFACTS = ["shapes_float32.tflite", "shapes_int8.tflite", "shapes_float32.onnx", "shapes_int8.onnx"]


def our_lines(stderr: str) -> list:
    return [line for line in stderr.strip().splitlines() if not line.startswith("INFO: ")]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The trained model, its data folder and one `convert all` run of it."""
    work = tmp_path_factory.mktemp("own")
    keras_file = train_shape_cnn(work / "shapes.keras")
    data = write_shape_folder(work / "data", PER_CLASS)
    models = work / "models"
    result = run_cli("convert", "all", "--keras", keras_file, "--data", data, "--models", models)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"work": work, "keras": keras_file, "data": data, "models": models, "convert": result}


def test_convert_own_model_passes_parity_for_all_four(shapes):
    out = shapes["convert"].stdout
    assert "Read 450 images in 3 classes" in out and "resized to 32x32 RGB: aspect ratio kept, centre-cropped" in out
    assert re.search(rf"Data: .*data: 450 images, 3 classes \(circle, square, triangle\); {HELD_OUT} held out for parity, {CALIBRATION} for calibration", out)
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("shapes_")}
    assert sorted(rows) == sorted(ARTIFACTS), out
    statuses = listed_statuses(shapes["models"])
    assert all(rows[name].split()[-1] == statuses[name] != "refused" for name in ARTIFACTS), out
    parity = run_cli("runtime", "parity", "--models", shapes["models"], "--json")
    assert parity.returncode == parity_exit(statuses.values()), parity.stdout + parity.stderr
    report = json.loads(parity.stdout)
    assert [a["artifact"] for a in report["artifacts"]] == ARTIFACTS and report["passed"]
    assert report["reference"]["images"] == HELD_OUT and report["reference"]["accuracy"] > 0.85


def test_manifest_records_the_contract_labels_and_architecture(shapes):
    manifest = json.loads((shapes["models"] / "manifest.json").read_text())
    assert manifest["model"] == "shapes" and manifest["labels"] == list(CLASSES)
    assert manifest["dataset"] == {"name": str(shapes["data"]), "train": CALIBRATION, "test": HELD_OUT}
    assert "Conv2D 16 3x3 relu → MaxPooling2D 2x2 → Conv2D 32 3x3 relu" in manifest["architecture"]["summary"]
    assert manifest["architecture"]["parameters"] > 0
    keras_entry = manifest["artifacts"][0]
    assert keras_entry["path"] == "shapes.keras" and sha256_file(shapes["models"] / "shapes.keras") == sha256_file(shapes["keras"])
    for entry in manifest["artifacts"]:
        assert entry["input"]["image_shape"] == [SIZE, SIZE, 3]
        assert entry["input"]["preprocessing"] == "resize" and entry["input"]["resize"] == "crop"
        assert entry["input"]["pixel_scale"] == 255.0 and entry["labels"] == list(CLASSES)
    for entry in manifest["artifacts"][1:]:
        assert entry["converted_from"] == {"path": "shapes.keras", "sha256": keras_entry["sha256"]}


def test_reference_and_calibration_never_share_an_image(shapes):
    with np.load(shapes["models"] / "reference.npz") as ref, np.load(shapes["models"] / "calibration.npz") as cal:
        reference, calibration = ref["images"], cal["images"]
        assert np.bincount(ref["labels"]).tolist() == [HELD_OUT // 3] * 3  # stratified
    assert reference.shape == (HELD_OUT, SIZE, SIZE, 3) and calibration.shape == (CALIBRATION, SIZE, SIZE, 3)
    seen = {image.tobytes() for image in calibration}
    assert not any(image.tobytes() in seen for image in reference)


def test_predict_an_rgb_png_prints_the_class_name(shapes, tmp_path):
    rng = np.random.default_rng(11)
    expected = {}
    for kind in CLASSES:
        for size, mode in ((200, "RGB"), (90, "RGBA"), (57, "L")):
            path = tmp_path / f"{kind}_{size}.png"
            draw_shape(kind, rng, size).convert(mode).save(path)
            expected[str(path)] = kind
    result = run_cli("runtime", "predict", *expected, "--model", shapes["models"] / "shapes_int8.tflite")
    assert result.returncode == 0, result.stderr
    lines = our_lines(result.stderr)
    assert re.fullmatch(rf"Model: {re.escape(str(shapes['models'] / 'shapes_int8.tflite'))} \([\w-]+, trained on "
                        rf"{re.escape(str(shapes['data']))}; 3 classes: circle, square, triangle\)", lines[0]), lines
    assert lines[1:] == ["Each image is resized to 32x32 RGB: aspect ratio kept, centre-cropped."]
    got = dict(re.fullmatch(r"(.+): (\w+) \(\d+\.\d%\)", line).groups() for line in result.stdout.splitlines())
    right = sum(got[path] == kind for path, kind in expected.items())
    assert set(got) == set(expected) and right >= len(expected) - 1, got
    as_json = json.loads(run_cli("runtime", "predict", *expected, "--model", shapes["models"] / "shapes_float32.onnx", "--json").stdout)
    assert as_json["preprocessing"] == "resized to 32x32 RGB: aspect ratio kept, centre-cropped"
    assert {r["label"] for r in as_json["results"]} <= set(CLASSES)


@pytest.mark.parametrize("name", ARTIFACTS)
def test_the_file_alone_carries_its_contract_and_labels(shapes, tmp_path, name):
    """Copied away from its manifest, the file still says how to feed it and what it answers."""
    alone = shutil.copy(shapes["models"] / name, tmp_path / name)
    embedded = read_embedded(alone)
    assert embedded.labels == list(CLASSES)
    assert embedded.contract.image_shape == (SIZE, SIZE, 3) and embedded.contract.preprocessing == "resize"
    model = runtime.load(alone)
    assert model.labels == list(CLASSES) and model.contract == embedded.contract
    assert model.contract_source == "embedded in the file"
    x, y = shape_arrays(10, seed=7)
    assert np.mean(model.predict(x).argmax(1) == y) >= 0.9
    info = run_cli("runtime", "info", alone)
    assert info.returncode == 0, info.stderr
    assert "contract: uint8 pixels (32, 32, 3), model input = pixel / 255 (embedded in the file)" in info.stdout
    assert re.search(r"in the file: contract and 3 labels \((TFLite metadata|ONNX metadata_props)\)", info.stdout)
    assert "labels: circle square triangle" in info.stdout


def test_tflite_metadata_is_what_the_android_support_library_reads(shapes):
    """Read back through the metadata schema (as the Android support library reads it): an RGB
    image input normalised by mean 0, std 255 in pixel units, and labels.txt on the output."""
    metadata, files = read_tflite_metadata(shapes["models"] / "shapes_int8.tflite")
    assert metadata.minParserVersion == b"1.0.0" and metadata.name == b"shapes"
    tensor = metadata.subgraphMetadata[0].inputTensorMetadata[0]
    assert tensor.content.contentProperties.colorSpace == meta.ColorSpaceType.RGB
    options = tensor.processUnits[0].options
    assert list(options.mean) == [0.0, 0.0, 0.0] and list(options.std) == [255.0, 255.0, 255.0]
    # The float32 file takes uint8 pixels (its scaling is in the graph): mean 0, std 1, values 0..255.
    pixels = read_tflite_metadata(shapes["models"] / "shapes_float32.tflite")[0].subgraphMetadata[0].inputTensorMetadata[0]
    assert list(pixels.processUnits[0].options.std) == [1.0] * 3
    assert list(pixels.stats.min) == [0.0] and list(pixels.stats.max) == [255.0]
    output = metadata.subgraphMetadata[0].outputTensorMetadata[0]
    assert [(f.name, f.type) for f in output.associatedFiles] == [(b"labels.txt", meta.AssociatedFileType.TENSOR_AXIS_LABELS)]
    assert sorted(files) == ["golden_set.npz", "golden_set.sha256", "input_contract.json", "labels.txt"]
    assert files["labels.txt"].decode().split() == list(CLASSES)


def test_report_and_model_card_for_an_rgb_model(shapes, tmp_path):
    out = tmp_path / "report"
    result = run_cli("runtime", "parity", "--models", shapes["models"], "--report", out)
    assert result.returncode == 0, result.stdout + result.stderr
    card = (out / "model_card.md").read_text()
    assert "- Task: classify one 32x32 RGB image into 3 classes: circle, square, triangle." in card
    assert "Conv2D 16 3x3 relu" in card and "flattened" not in card.split("Architecture:")[1].split("\n")[0].split("→")[0]
    assert "python -m runtime predict photo.jpg --model models/" in card
    assert "true class" in (out / "index.html").read_text()


def test_a_model_with_its_own_rescaling_layer(shapes, tmp_path):
    """The contract follows from the model: raw pixels in, scale 1; a --input-scale that would
    scale twice is refused with nothing written."""
    keras_file = train_shape_cnn(tmp_path / "raw.keras", rescaling=True)
    refused = run_cli("convert", "tflite", "--quantize", "float32", "--keras", keras_file, "--data", shapes["data"],
                      "--input-scale", "255", "--models", tmp_path / "wrong")
    assert refused.returncode == 2 and not (tmp_path / "wrong").exists(), refused.stdout + refused.stderr
    assert "begins with a Rescaling layer (scale 0.003922), so it takes raw pixels 0..255" in refused.stderr
    assert "scaled twice; leave --input-scale out (or pass 1)" in refused.stderr
    result = run_cli("convert", "all", "--keras", keras_file, "--data", shapes["data"], "--models", tmp_path / "models")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "raw.keras begins with a Rescaling layer (scale 0.003922), so it takes raw pixels 0..255: input scale 1" in result.stdout
    accuracy = float(re.search(rf"Keras accuracy on the {HELD_OUT} held-out images: (\d\.\d+)", result.stdout).group(1))
    assert accuracy > 0.85
    model = runtime.load(tmp_path / "models" / "raw_int8.tflite")
    assert model.contract.pixel_scale == 1.0 and model.contract.max_float == 255.0
    x, y = shape_arrays(10, seed=8)
    np.testing.assert_array_equal(model.predict(x), model.predict(x.astype(np.float32)))  # floats taken as pixel / 1
    assert np.mean(model.predict(x).argmax(1) == y) >= 0.8


def test_class_folders_in_another_order_than_the_outputs_are_refused_then_given_with_labels(shapes, tmp_path):
    """Sorted folder names that are not the model's output order: Keras scores below chance,
    so nothing is written and the error says which order was read and how to give the model's."""
    data = tmp_path / "renamed"
    for k, kind in enumerate(CLASSES):  # sorted: b_square, c_triangle, z_circle, not the model's order
        shutil.copytree(shapes["data"] / kind, data / (("z_", "b_", "c_")[k] + kind))
    refused = run_cli("convert", "onnx", "--keras", shapes["keras"], "--data", data, "--models", tmp_path / "m1")
    assert refused.returncode == 2 and not (tmp_path / "m1" / "manifest.json").exists(), refused.stdout
    message = refused.stderr
    assert "below chance (0.33 for 3 classes)" in message and "nothing was written" in message
    assert "the class folders were read in sorted order (b_square, c_triangle, z_circle)" in message
    assert "pass --labels FILE with the folder names in the model's output order" in message
    labels = _labels_file(tmp_path, ["z_circle", "b_square", "c_triangle"])
    given = run_cli("convert", "onnx", "--keras", shapes["keras"], "--data", data, "--labels", labels,
                    "--models", tmp_path / "m2")
    assert given.returncode == 0, given.stdout[-2000:] + given.stderr[-2000:]
    manifest = json.loads((tmp_path / "m2" / "manifest.json").read_text())
    assert manifest["labels"] == ["z_circle", "b_square", "c_triangle"]


def test_a_nan_model_is_refused_with_nothing_written(shapes, tmp_path):
    import keras

    model = keras.models.load_model(shapes["keras"])
    weights = model.layers[-1].get_weights()
    weights[0][:] = np.nan
    model.layers[-1].set_weights(weights)
    model.save(tmp_path / "nan.keras")
    result = run_cli("convert", "all", "--keras", tmp_path / "nan.keras", "--data", shapes["data"],
                     "--models", tmp_path / "models")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"outputs NaN or infinite values on {HELD_OUT} of {HELD_OUT} held-out images; nothing was written" in result.stderr
    assert not (tmp_path / "models" / "manifest.json").exists()


def test_sigmoid_multi_label_outputs_are_named_and_refused(shapes, tmp_path):
    import keras

    model = keras.models.load_model(shapes["keras"])
    sigmoid = keras.Sequential([keras.Input((SIZE, SIZE, 3)), *model.layers[:-1],
                                keras.layers.Dense(3, activation="sigmoid", name="tags")], name="tags")
    sigmoid.save(tmp_path / "tags.keras")
    result = run_cli("convert", "tflite", "--quantize", "float32", "--keras", tmp_path / "tags.keras", "--data",
                     shapes["data"], "--models", tmp_path / "models")
    assert result.returncode == 2 and "a sigmoid (multi-label) output, not one probability per class" in result.stderr


def test_unlabelled_npz_data_gives_agreement_only(shapes, tmp_path):
    x, _ = shape_arrays(60, seed=3)
    np.savez(tmp_path / "unlabelled.npz", x=x)
    result = run_cli("convert", "onnx", "--keras", shapes["keras"], "--data", tmp_path / "unlabelled.npz",
                     "--labels", _labels_file(tmp_path, ["round", "box", "wedge"]), "--models", tmp_path / "models")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "no labels, so agreement only" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("shapes_float32.onnx"))
    assert row.split()[4:6] == ["-", "-"] and row.split()[-1] == "verified"  # accuracy and Δ acc not measured
    manifest = json.loads((tmp_path / "models" / "manifest.json").read_text())
    assert manifest["labels"] == ["round", "box", "wedge"] and manifest["artifacts"][1]["metrics"].get("accuracy") is None
    parity = run_cli("runtime", "parity", "--models", tmp_path / "models")
    statuses = listed_statuses(tmp_path / "models")  # 35 images: an int8 file may be unproven (parity exits 3)
    assert parity.returncode == parity_exit(statuses.values()) and "(no labels: agreement only)" in parity.stdout


def _labels_file(folder, names):
    path = folder / "labels.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_a_logits_model_gets_a_softmax(shapes, tmp_path):
    import keras

    model = keras.models.load_model(shapes["keras"])
    logits = keras.Sequential([keras.Input((SIZE, SIZE, 3)), *model.layers[:-1],
                               keras.layers.Dense(3, name="logits")], name="logits")
    logits.layers[-1].set_weights(model.layers[-1].get_weights())
    logits.save(tmp_path / "logits.keras")
    result = run_cli("convert", "tflite", "--quantize", "float32", "--keras", tmp_path / "logits.keras", "--data",
                     shapes["data"], "--models", tmp_path / "models")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "a Softmax layer is appended" in result.stdout
    probs = runtime.load(tmp_path / "models" / "logits_float32.tflite").predict(shape_arrays(5, seed=4)[0])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_default_models_folder_is_named_after_the_model(shapes, tmp_path):
    result = run_cli("convert", "tflite", "--quantize", "float32", "--keras", shapes["keras"], "--data", shapes["data"],
                     "--no-metadata", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (tmp_path / "models" / "shapes" / "shapes_float32.tflite").is_file()
    assert read_embedded(tmp_path / "models" / "shapes" / "shapes_float32.tflite") is None  # --no-metadata


# ---------------------------------------------------------------- bad input: one line, nothing written


def _two_inputs(path):
    import keras

    a, b = keras.Input((8, 8)), keras.Input((8, 8))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(keras.layers.Add()([a, b])))
    keras.Model([a, b], out).save(path)


def _flat_input(path):
    import keras

    keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")]).save(path)


@pytest.mark.parametrize("make_model, message", [
    (_two_inputs, r"the model has 2 inputs and 1 outputs; expected an image classifier with one input and one output"),
    (_flat_input, r"input shape \(N, 784\) is not an image; expected \(H, W\) or \(H, W, C\)"),
    (lambda path: path.write_bytes(b"PK\x03\x04 not really a zip"), r"not a Keras model file, or a damaged one \(a \.keras file is a zip archive"),
], ids=["two inputs", "1-D input", "not a Keras file"])
def test_a_model_that_is_not_an_image_classifier(shapes, tmp_path, make_model, message):
    make_model(tmp_path / "model.keras")
    _assert_refused(tmp_path, ["--keras", tmp_path / "model.keras", "--data", shapes["data"]], message)


def test_data_that_does_not_fit_the_model(shapes, tmp_path):
    np.savez(tmp_path / "gray.npz", x=np.zeros((20, 32, 32), np.uint8))
    _assert_refused(tmp_path, ["--keras", shapes["keras"], "--data", tmp_path / "gray.npz"],
                    r"gray\.npz: x has shape \(20, 32, 32\), but the model takes images shaped \(32, 32, 3\)")


def test_label_count_differs_from_the_outputs(shapes, tmp_path):
    _assert_refused(tmp_path, ["--keras", shapes["keras"], "--data", shapes["data"],
                               "--labels", _labels_file(tmp_path, ["a", "b", "c", "d"])],
                    r"labels\.txt: 4 class names, but shapes\.keras outputs 3 classes")


def test_an_empty_class_folder(shapes, tmp_path):
    data = write_shape_folder(tmp_path / "data", 3)
    (data / "hexagon").mkdir()
    _assert_refused(tmp_path, ["--keras", shapes["keras"], "--data", data], r"data/hexagon: empty class folder")


def test_an_unreadable_image_in_the_data_folder(shapes, tmp_path):
    data = write_shape_folder(tmp_path / "data", 3)
    (data / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    _assert_refused(tmp_path, ["--keras", shapes["keras"], "--data", data],
                    r"square/broken\.png: not a readable image .* \(in the data folder; remove or fix it\)")


def test_a_folder_holding_another_model_is_not_replaced(shapes, pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    before = (models / "manifest.json").read_text()
    _assert_refused(tmp_path, ["--keras", shapes["keras"], "--data", shapes["data"], "--models", models],
                    rf"holds the model 'mnist_mlp': convert 'shapes' into a folder of its own \(--models {re.escape(str(models / 'shapes'))}\)")
    assert (models / "manifest.json").read_text() == before


def _assert_refused(tmp_path, args, message):
    models = tmp_path / "fresh"
    if "--models" not in args:
        args = [*args, "--models", models]
    result = run_cli("convert", "all", *args)
    lines = [line for line in our_lines(result.stderr) if line.strip()]
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(message, lines[0]), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not models.exists(), "something was written before the error"


def test_own_options_need_keras():
    result = run_cli("convert", "all", "--data", "somewhere")
    assert result.returncode == 2 and "--data describe your own model: give it with --keras MODEL.keras" in result.stderr
    result = run_cli("convert", "all", "--keras", "model.keras")
    assert result.returncode == 2 and "--keras needs --data" in result.stderr
