"""Training: the seed architecture, seeded determinism, and the auto data choice."""

import json

import numpy as np
import pytest

from conftest import run_cli


def test_seed_model_architecture():
    from train.model import build_model

    model = build_model()
    assert model.input_shape == (None, 28, 28)
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [(layer.units, layer.activation.__name__) for layer in dense] == [(64, "relu"), (64, "relu"), (10, "softmax")]
    assert model.count_params() == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert model.loss == "sparse_categorical_crossentropy"
    assert model.optimizer.__class__.__name__ == "Adam"


def _train(tmp_path, name, seed):
    models = tmp_path / name
    result = run_cli("train", "--dataset", "mnist-5k", "--epochs", "1", "--seed", seed, "--models", models)
    assert result.returncode == 0, result.stderr[-2000:]
    with np.load(models / "reference.npz") as data:
        return data["probs"]


@pytest.mark.slow
def test_same_seed_same_weights(tmp_path):
    first, second, other = _train(tmp_path, "a", 7), _train(tmp_path, "b", 7), _train(tmp_path, "c", 8)
    assert np.array_equal(first, second)
    assert not np.allclose(first, other)


@pytest.mark.slow
def test_auto_says_which_data_it_used(tmp_path):
    """Without a cached full MNIST (fresh HOME), auto downloads it or falls back to mnist-5k;
    either way the output says which."""
    result = run_cli("train", "--epochs", "1", "--models", tmp_path / "models",
                     env={"HOME": str(tmp_path), "KERAS_HOME": str(tmp_path / ".keras")})
    assert result.returncode == 0, result.stderr[-2000:]
    if "Data: mnist:" not in result.stdout:
        assert "Full MNIST is not available" in result.stdout
        assert "using the mnist-5k subset instead" in result.stdout
        assert "Data: mnist-5k: 4000 train / 1000 test images" in result.stdout


@pytest.mark.slow
def test_cnn_is_more_accurate_than_the_mlp_on_the_same_data(pipeline, tmp_path):
    """`--model cnn` end to end: trained on the pipeline's data and seed, converted, every
    artifact verified; more accurate than the seed MLP, about as large in int8."""
    models = tmp_path / "cnn"
    trained = run_cli("train", "--model", "cnn", "--dataset", "mnist-5k", "--models", models)
    assert trained.returncode == 0, trained.stderr[-2000:]
    converted = run_cli("convert", "all", "--models", models)
    assert converted.returncode == 0, converted.stdout[-3000:] + converted.stderr[-2000:]
    manifest = json.loads((models / "manifest.json").read_text())
    assert manifest["model"] == "mnist_cnn" and manifest["training"]["model"] == "cnn"
    assert manifest["architecture"]["summary"].startswith("28x28 input → Reshape 28x28x1 → Conv2D 16 3x3 relu")
    assert [a["path"] for a in manifest["artifacts"]] == ["mnist_cnn.keras", "mnist_cnn_float32.tflite", "mnist_cnn_int8.tflite",
                                                         "mnist_cnn_float32.onnx", "mnist_cnn_int8.onnx"]
    cnn, mlp = manifest["training"]["test_accuracy"], pipeline.manifest["training"]["test_accuracy"]
    assert cnn >= mlp + 0.02, (cnn, mlp)
    int8 = {a["path"]: a for a in manifest["artifacts"]}["mnist_cnn_int8.tflite"]
    assert int8["metrics"]["agreement"] >= 0.995
    assert int8["bytes"] <= 1.25 * pipeline.artifact("mnist_mlp_int8.tflite")["bytes"]


@pytest.mark.slow
def test_class_names_from_a_labels_file_reach_predict(tmp_path):
    """Fashion-MNIST-like: the names given with --labels go into the manifest, the files and
    the predictions ("Sneaker", not "7")."""
    from train.data import load_mnist_5k

    data = load_mnist_5k()
    np.savez(tmp_path / "data.npz", x_train=data.x_train[:1000], y_train=data.y_train[:1000],
             x_test=data.x_test[:200], y_test=data.y_test[:200])
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    (tmp_path / "fashion.txt").write_text("\n".join(names) + "\n")
    models = tmp_path / "models"
    trained = run_cli("train", "--data", tmp_path / "data.npz", "--labels", tmp_path / "fashion.txt", "--epochs", "1",
                      "--models", models)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert json.loads((models / "manifest.json").read_text())["labels"] == names
    converted = run_cli("convert", "tflite", "--quantize", "float32", "--models", models)
    assert converted.returncode == 0, converted.stdout[-2000:] + converted.stderr[-2000:]
    from PIL import Image

    Image.fromarray(data.x_test[0]).save(tmp_path / "item.png")
    result = run_cli("runtime", "predict", tmp_path / "item.png", "--models", models)
    assert result.returncode == 0, result.stderr
    label = result.stdout.split(": ")[1].rsplit(" (", 1)[0]
    assert label in names


def test_a_labels_file_with_too_few_names_is_refused(tmp_path):
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    result = run_cli("train", "--dataset", "mnist-5k", "--labels", tmp_path / "three.txt", "--models", tmp_path / "models")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: mnist-5k train split: labels span 0..9, expected 0..2 (3 class names)"]
    assert not (tmp_path / "models").exists()
