"""The ONNX file is the model's inference graph: a small model with the layers that broke
Keras's own exporter (RandomFlip, RandomRotation, Dropout, BatchNormalization, an adapted
Normalization, a nested model), exported in a second or two, gives one input, one output, no
training-only op, and Keras's outputs; an op ONNX cannot express is named by its Keras layer.
The zoo of real architectures (tests/test_zoo.py, slow) runs the same through the CLI."""

import logging

import numpy as np
import pytest

from convert.onnx_export import captured_tf2onnx_log, export_onnx, keras_layers, layer_of

FLOAT_TOLERANCE = 1e-5
"""Largest |Δp| between onnxruntime on the file and Keras in inference mode."""
TRAINING_ONLY_OPS = ("RandomUniform", "RandomNormal", "StatelessRandom", "ImageProjectiveTransform", "Multinomial")


@pytest.fixture(scope="module")
def awkward_model():
    """Augmentation, Dropout, BatchNorm and an adapted Normalization, some inside a nested model."""
    import keras

    rng = np.random.default_rng(0)
    pixels = rng.random((64, 16, 16, 3)).astype(np.float32)
    normalization = keras.layers.Normalization()
    normalization.adapt(pixels)
    inner_input = keras.Input((16, 16, 3))
    y = keras.layers.Conv2D(8, 3, padding="same")(inner_input)
    y = keras.layers.BatchNormalization()(y)
    inner = keras.Model(inner_input, keras.layers.ReLU()(y), name="backbone")
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = keras.layers.RandomRotation(0.1)(x)
    x = normalization(x)
    x = inner(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="awkward")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(pixels, rng.integers(0, 3, 64), epochs=1, verbose=0)  # moving statistics away from their start
    return model, pixels


def test_export_is_the_inference_graph(awkward_model, tmp_path):
    import onnx
    import onnxruntime as ort

    model, pixels = awkward_model
    path = tmp_path / "awkward.onnx"
    export_onnx(model, path)
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["image"] and len(graph.output) == 1
    ops = {node.op_type for node in graph.node}
    assert not [op for op in ops if op.startswith(TRAINING_ONLY_OPS)], ops
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_probs = session.run(None, {"image": pixels})[0]
    keras_probs = np.asarray(model(pixels, training=False))
    assert np.abs(onnx_probs - keras_probs).max() <= FLOAT_TOLERANCE


def test_export_shows_none_of_tf2onnx_s_log_lines(awkward_model, tmp_path, capfd, caplog):
    model, _ = awkward_model
    with caplog.at_level(logging.DEBUG):
        export_onnx(model, tmp_path / "quiet.onnx")
    captured = capfd.readouterr()
    assert "tf2onnx" not in captured.out + captured.err
    assert not [r for r in caplog.records if r.name.startswith(("tf2onnx", "tensorflow")) and r.levelno >= logging.WARNING]


def test_layer_of_names_the_innermost_keras_layer(awkward_model):
    model, _ = awkward_model
    layers = keras_layers(model)
    assert "backbone" in layers and "batch_normalization" in {n.rsplit("_", 1)[0] if n[-1].isdigit() else n for n in layers}
    batch_norm = next(name for name in layers if name.startswith("batch_normalization"))
    assert layer_of(f"awkward_1/backbone_1/{batch_norm}_1/FusedBatchNormV3", layers) == f"{batch_norm} (BatchNormalization)"
    assert layer_of("awkward_1/backbone_1/Relu", layers) == "backbone (Functional)"
    assert layer_of("StatefulPartitionedCall/unrelated:0", layers) is None


def test_unsupported_op_records_are_captured_not_shown(capfd):
    with captured_tf2onnx_log() as log:
        logging.getLogger("tf2onnx.tfonnx").error("Tensorflow op [%s: %s] is not supported",
                                                  "awkward_1/random_rotation_1/ImageProjectiveTransformV3",
                                                  "ImageProjectiveTransformV3")
    assert log.unsupported_ops() == [("awkward_1/random_rotation_1/ImageProjectiveTransformV3", "ImageProjectiveTransformV3")]
    captured = capfd.readouterr()
    assert "is not supported" not in captured.out + captured.err


def lanczos_model():
    """Resizing with Lanczos interpolation: TensorFlow's ScaleAndTranslate, which ONNX lacks."""
    import keras

    model = keras.Sequential([keras.Input((20, 20, 1), name="image"), keras.layers.Resizing(16, 16, interpolation="lanczos3"),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")], name="lanczos")
    model(np.zeros((1, 20, 20, 1), np.float32))
    return model


def test_an_op_onnx_lacks_is_refused_naming_the_keras_layer(tmp_path):
    from convert.onnx_export import OnnxExportError

    with pytest.raises(OnnxExportError, match=r"^model lanczos: ONNX has no equivalent of TensorFlow op ScaleAndTranslate "
                                              r"in layer resizing \(Resizing\)$"):
        export_onnx(lanczos_model(), tmp_path / "lanczos.onnx")
    assert not (tmp_path / "lanczos.onnx").exists()


@pytest.mark.slow  # a conversion through the CLI (TensorFlow and tf2onnx in a new process)
def test_convert_onnx_rejects_it_in_one_line(tmp_path):
    import re

    from conftest import run_cli

    lanczos_model().save(tmp_path / "lanczos.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.integers(0, 256, (60, 20, 20, 1), dtype=np.uint8))  # no labels: an untrained model is at chance
    result = run_cli("convert", "onnx", "--keras", tmp_path / "lanczos.keras", "--data", tmp_path / "data.npz",
                     "--models", tmp_path / "models", "--quantize", "float32")
    assert result.returncode == 1, result.stdout + result.stderr
    rejected = [line for line in result.stdout.splitlines() if line.startswith("  REJECTED")]
    assert len(rejected) == 1 and re.fullmatch(
        r"  REJECTED lanczos_float32\.onnx: model lanczos: ONNX has no equivalent of TensorFlow op ScaleAndTranslate "
        r"in layer resizing(_\d+)? \(Resizing\); the file was not written", rejected[0]), result.stdout
    assert "tf2onnx" not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "models" / "lanczos_float32.onnx").exists()
