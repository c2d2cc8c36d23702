"""Hostile class names and model files, round 3: labels that start with "[" or hold U+2028,
duplicate or empty names from any source, a labels file that is a FIFO, a garbage .keras
file, and ONNX external data reached through a hard link or a FIFO."""

import json
import os

import numpy as np
import pytest

from runtime.errors import ModelFileError
from runtime.store.onnx_external import check_external_data
from train.data import DataError, check_class_names, load_npz, read_labels_file

from conftest import run_cli


@pytest.mark.parametrize("text, names", [
    ("[draft]\nok\n", ["[draft]", "ok"]),
    ('["a", "b"]\nc\n', ['["a", "b"]', "c"]),
    ("a\u2028b\nc\u2029d\n", ["a\u2028b", "c\u2029d"]),
    ("x\r\ny\r\n\n\n", ["x", "y"]),
], ids=["bracket", "json-like", "line separators", "crlf and blank end"])
def test_a_labels_file_is_one_name_per_newline(tmp_path, text, names):
    path = tmp_path / "labels.txt"
    path.write_bytes(text.encode("utf-8"))
    assert read_labels_file(path) == names


@pytest.mark.parametrize("names, message", [
    (["a", "b", "a"], "class names must be distinct; repeated: a"),
    (["a", "", "c"], "class name 1 is empty"),
    (["a", "  ", "c"], "class name 1 is empty"),
    (["a", "b\nc"], r"class name 1 \('b\\nc'\) holds a line break"),
    (["a", "b\rc"], r"class name 1 \('b\\rc'\) holds a line break"),
    (["a", "c\x0cd"], r"class name 1 \('c\\x0cd'\) holds a control character \(U\+000C\)"),
    (["a", "e\x1bf"], r"class name 1 \('e\\x1bf'\) holds a control character \(U\+001B\)"),
])
def test_class_names_follow_one_rule_from_every_source(tmp_path, names, message):
    with pytest.raises(DataError, match=message):
        check_class_names(names, "source")
    rng = np.random.default_rng(0)
    data = {"x_train": rng.integers(0, 255, (30, 28, 28), dtype=np.uint8), "y_train": np.arange(30) % len(names),
            "x_test": rng.integers(0, 255, (9, 28, 28), dtype=np.uint8), "y_test": np.arange(9) % len(names)}
    np.savez(tmp_path / "data.npz", class_names=np.array(names), **data)
    with pytest.raises(DataError, match=message):  # an .npz's class_names, as a labels file's
        load_npz(tmp_path / "data.npz")


def test_a_labels_file_with_duplicates_blanks_or_no_end(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("a\nb\na\n")
    with pytest.raises(DataError, match="repeated: a"):
        read_labels_file(path)
    path.write_text("a\n\nb\n")
    with pytest.raises(DataError, match="no blank lines"):
        read_labels_file(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_labels_file_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "labels.txt")
    with pytest.raises(DataError, match=r"is a FIFO \(named pipe\), not a regular file"):
        read_labels_file(tmp_path / "labels.txt")


def test_a_garbage_keras_file_is_not_called_missing(tmp_path):
    garbage = tmp_path / "model.keras"
    garbage.write_bytes(b"\x00garbage, not a zip" * 50)
    result = run_cli("convert", "all", "--keras", garbage, "--data", tmp_path / "data.npz", "--models", tmp_path / "m",
                     timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert errors == [f"error: {garbage}: not a Keras model file, or a damaged one (a .keras file is a zip archive, "
                      "and this one is not readable as one: truncated, or some other file); "
                      "save the model with model.save('name.keras')"]
    assert not (tmp_path / "m").exists()


def _onnx_with_external_data(folder):
    """A one-MatMul ONNX model whose weights lie in folder/weights.bin."""
    from onnx import TensorProto, helper, numpy_helper, save_model

    weights = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = folder / "model.onnx"
    save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
               size_threshold=0)
    return path


def test_onnx_external_data_through_a_hard_link_is_refused(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    path = _onnx_with_external_data(folder)
    check_external_data(path)  # its own data file, one name: accepted
    outside = tmp_path / "secret.bin"
    os.replace(folder / "weights.bin", outside)
    os.link(outside, folder / "weights.bin")  # inside the folder by path, the file outside by inode
    with pytest.raises(ModelFileError, match=r"external data 'weights.bin' has 2 hard links"):
        check_external_data(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_onnx_external_data_that_is_a_fifo_is_refused(tmp_path):
    path = _onnx_with_external_data(tmp_path)
    os.unlink(tmp_path / "weights.bin")
    os.mkfifo(tmp_path / "weights.bin")
    with pytest.raises(ModelFileError, match=r"external data 'weights.bin' is not a regular file"):
        check_external_data(path)


@pytest.mark.slow
def test_names_with_brackets_and_line_separators_survive_conversion(tmp_path):
    """A user's model whose class names start with "[" and hold U+2028: converted, and the
    file carries exactly those names; duplicates in the .npz are refused before anything
    is written, as in a labels file."""
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    model.save(tmp_path / "tiny.keras")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (60, 8, 8, 1), dtype=np.uint8), np.arange(60) % 3
    names = ["[draft]", "a\u2028b", "plain"]
    np.savez(tmp_path / "data.npz", x=x, class_names=np.array(names))  # no labels: an untrained model is at chance
    models = tmp_path / "models"
    result = run_cli("convert", "tflite", "--quantize", "float32", "--keras", tmp_path / "tiny.keras",
                     "--data", tmp_path / "data.npz", "--models", models)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    from runtime.store.embedded import read_embedded

    assert read_embedded(models / "tiny_float32.tflite").labels == names
    assert json.loads((models / "manifest.json").read_text())["labels"] == names
    np.savez(tmp_path / "dup.npz", x=x, y=y, class_names=np.array(["a", "b", "a"]))
    result = run_cli("convert", "tflite", "--keras", tmp_path / "tiny.keras", "--data", tmp_path / "dup.npz",
                     "--models", tmp_path / "dup")
    assert result.returncode == 2 and "class names must be distinct; repeated: a" in result.stderr
    assert not (tmp_path / "dup").exists()
