"""Counts in messages agree with their noun: "1 image", "2 images", never "1 images"."""

import numpy as np
import pytest

from conftest import run_cli
from runtime.tables import plural


def test_plural_is_singular_for_one_only():
    assert [plural(n, "image") for n in (0, 1, 2)] == ["images", "image", "images"]
    assert plural(1, "class", "classes") == "class" and plural(3, "class", "classes") == "classes"


@pytest.mark.slow  # a conversion through the CLI (TensorFlow in a new process)
def test_convert_says_one_image_not_one_images(pipeline, tmp_path):
    data = tmp_path / "one.npz"
    np.savez(data, x=np.zeros((1, 28, 28), np.uint8), y=np.zeros(1, np.int64))
    result = run_cli("convert", "all", "--keras", pipeline.models / "mnist_mlp.keras", "--data", data,
                     "--models", tmp_path / "out")
    assert result.returncode != 0
    assert "the data has 1 image; at least 2 are needed" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_class_names_count_is_singular_for_one(pipeline, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("only\n")
    data = tmp_path / "two.npz"
    np.savez(data, x=np.zeros((2, 28, 28), np.uint8))
    result = run_cli("convert", "all", "--keras", pipeline.models / "mnist_mlp.keras", "--data", data,
                     "--labels", labels, "--models", tmp_path / "out")
    assert result.returncode != 0
    assert "1 class name, but mnist_mlp.keras outputs 10 classes" in result.stderr, result.stderr
