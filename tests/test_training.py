"""Training: the seed architecture, seeded determinism, and the auto data choice."""

import numpy as np

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


def test_same_seed_same_weights(tmp_path):
    first, second, other = _train(tmp_path, "a", 7), _train(tmp_path, "b", 7), _train(tmp_path, "c", 8)
    assert np.array_equal(first, second)
    assert not np.allclose(first, other)


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
