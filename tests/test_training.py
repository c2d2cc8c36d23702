"""Training: the seed architecture, seeded determinism, the auto data choice, augmentation."""

import json

import numpy as np
import pytest

from conftest import run_cli
from train.augment import AugmentOptions

AUGMENTED_ONE_EPOCH_ACCURACY = 0.7
"""One augmented epoch on mnist-5k still learns digits (the plain epoch reaches ~0.85)."""


def test_seed_model_architecture():
    from train.networks import build_model

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
    assert int8["metrics"]["verdict"]["status"] in ("verified", "unproven"), int8["metrics"]["verdict"]["summary"]
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


def _train_augmented(tmp_path, name, seed):
    models = tmp_path / name
    result = run_cli("train", "--dataset", "mnist-5k", "--epochs", "1", "--seed", seed, "--augment", "--models", models)
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((models / "manifest.json").read_text())
    with np.load(models / "reference.npz") as data:
        return data["probs"], manifest["training"]


@pytest.mark.slow
def test_augmented_training_is_seeded_and_recorded(tmp_path):
    (first, record), (second, _), (other, _) = (_train_augmented(tmp_path, "a", 7), _train_augmented(tmp_path, "b", 7),
                                                _train_augmented(tmp_path, "c", 8))
    plain = _train(tmp_path, "plain", 7)
    assert np.array_equal(first, second)
    assert not np.allclose(first, other) and not np.allclose(first, plain)
    assert record["augment"] == AugmentOptions().to_json()
    assert (first.argmax(1) == np.load(tmp_path / "a" / "reference.npz")["labels"]).mean() >= AUGMENTED_ONE_EPOCH_ACCURACY


def _digits():
    """Four small synthetic digits, each placed elsewhere."""
    rng = np.random.default_rng(0)
    images = np.zeros((4, 28, 28), np.float32)
    for k, image in enumerate(images):
        top, left = rng.integers(4, 10, 2)
        image[top : top + 14, left + 5 : left + 8] = 1.0  # a "1"
        image[top : top + 2, left : left + 10] = 0.8 * k / 3 + 0.2  # a bar of varying ink
    return images


def test_augment_batch_moves_and_reinks_each_digit():
    import tensorflow as tf

    from train.augment import augment_batch

    images = _digits()
    changed = augment_batch(tf.constant(images), tf.constant([1, 2], tf.int64)).numpy()
    again = augment_batch(tf.constant(images), tf.constant([1, 2], tf.int64)).numpy()
    other = augment_batch(tf.constant(images), tf.constant([1, 3], tf.int64)).numpy()
    assert changed.shape == images.shape and changed.dtype == np.float32
    assert changed.min() >= 0 and changed.max() <= 1
    assert np.array_equal(changed, again) and not np.allclose(changed, other)
    assert not np.allclose(changed, images)


def test_augment_batch_with_empty_ranges_is_the_identity_and_a_thick_pen_dilates():
    import tensorflow as tf

    from train.augment import AugmentOptions, augment_batch

    images = _digits()
    still = AugmentOptions(max_rotation=0, min_scale=1, max_scale=1, max_shift=0, min_thickness=0, max_thickness=0)
    same = augment_batch(tf.constant(images), tf.constant([1, 2], tf.int64), still).numpy()
    assert np.allclose(same, images, atol=1e-6)
    thick = AugmentOptions(max_rotation=0, min_scale=1, max_scale=1, max_shift=0, min_thickness=1, max_thickness=1)
    dilated = augment_batch(tf.constant(images), tf.constant([1, 2], tf.int64), thick).numpy()
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    expected = np.max([padded[:, dy : dy + 28, dx : dx + 28] for dy in range(3) for dx in range(3)], axis=0)
    assert np.allclose(dilated, expected, atol=1e-6)
