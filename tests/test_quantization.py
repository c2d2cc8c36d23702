"""The int8 contract: arithmetic of quantize/dequantize, and the runtime's int8 path
against the bare interpreter fed by hand."""

import numpy as np
import pytest

import runtime
from runtime.contract import InputContract, dequantize, quantize

MNIST_INPUT_SCALE = np.float32(1 / 255)
MNIST_INPUT_ZERO_POINT = -128
FLOAT_MAX_ABS_DP = 1e-5


def test_uint8_pixels_map_exactly_to_int8():
    """With the scale/zero-point a 0..1 input calibrates to, pixel p becomes p - 128."""
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    contract = InputContract(image_shape=(16, 16), preprocessing="resize")
    q = quantize(contract.model_input(pixels), MNIST_INPUT_SCALE, MNIST_INPUT_ZERO_POINT, np.int8)
    assert np.array_equal(q.ravel(), np.arange(256) - 128)


def test_round_trip_error_is_at_most_half_a_step():
    scale, zero_point = 0.02, 3
    x = np.linspace(scale * (-128 - zero_point), scale * (127 - zero_point), 10001, dtype=np.float32)
    back = dequantize(quantize(x, scale, zero_point, np.int8), scale, zero_point)
    assert np.abs(back - x).max() <= scale / 2 + 1e-6


def test_out_of_range_values_saturate():
    q = quantize(np.array([-10.0, 10.0], np.float32), 0.01, 0, np.int8)
    assert q.tolist() == [-128, 127]
    assert quantize(np.array([5.0], np.float32), 0.01, 0, np.uint8).tolist() == [255]


def test_dequantize_uses_scale_and_zero_point():
    q = np.array([-128, 0, 127], np.int8)
    assert dequantize(q, 1 / 256, -128).tolist() == pytest.approx([0.0, 0.5, 255 / 256])


def test_bad_scale_is_refused():
    with pytest.raises(ValueError, match="scale must be > 0, got 0"):
        quantize(np.zeros(3, np.float32), 0.0, 0, np.int8)


def test_runtime_int8_path_equals_the_bare_interpreter(pipeline, reference):
    """The runtime reads scale and zero-point from the model; feeding the interpreter by
    hand with those parameters must give bit-identical probabilities."""
    from ai_edge_litert.interpreter import Interpreter

    path = pipeline.models / "mnist_mlp_int8.tflite"
    images = reference.images[:64]
    interpreter = Interpreter(str(path))
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    in_scale, in_zero = inp["quantization"]
    assert in_scale == pytest.approx(MNIST_INPUT_SCALE) and in_zero == MNIST_INPUT_ZERO_POINT
    assert out["dtype"] == np.float32  # the graph's DEQUANTIZE op makes the probabilities (issue 24)
    interpreter.resize_tensor_input(inp["index"], [len(images), 28, 28])
    interpreter.allocate_tensors()
    by_hand = np.clip(np.round(images / np.float32(255) / np.float32(in_scale)) + in_zero, -128, 127).astype(np.int8)
    interpreter.set_tensor(inp["index"], by_hand)
    interpreter.invoke()
    expected = interpreter.get_tensor(out["index"])

    model = runtime.load(path)
    assert model.input.quantized and not model.output.quantized
    assert np.array_equal(model.predict(images), expected)


def test_int8_output_twin_gives_the_same_probabilities(pipeline, reference, tmp_path):
    """An int8 file with an int8 output (as `convert` wrote them before issue 24, and as TFLite
    Micro's still is), converted from the same model and calibration, gives exactly the
    probabilities of the artifact's float32 output: the runtime's dequantization and the
    graph's DEQUANTIZE compute the same scale * (q - zero_point)."""
    import keras

    from convert.tflite_export import tflite_bytes

    model = keras.models.load_model(pipeline.models / "mnist_mlp.keras", compile=False)
    entry = pipeline.artifact("mnist_mlp_int8.tflite")
    with np.load(pipeline.models / "calibration.npz") as data:
        calibration = InputContract().model_input(data["images"][:entry["calibration"]["samples"]])
    twins = {}
    for output_type in ("int8", "float32"):
        path = tmp_path / f"{output_type}_output.tflite"
        path.write_bytes(tflite_bytes(model, "int8", calibration, output_type=output_type))
        twins[output_type] = runtime.load(path, contract=InputContract(), isolate=False)
    assert twins["int8"].output.quantized and twins["float32"].output.dtype == np.float32
    images = np.concatenate([reference.images] * 2)  # 2,000 images: the arithmetic path, not only the table
    for batch in (images[:1], images[:7], images):
        np.testing.assert_array_equal(twins["int8"].predict(batch), twins["float32"].predict(batch))
    if "quantization" not in entry:  # plain int8, as conversion wrote it (not a fix it chose)
        np.testing.assert_array_equal(twins["float32"].predict(images),
                                      runtime.load(pipeline.models / "mnist_mlp_int8.tflite").predict(images))


def test_pixel_table_path_equals_the_general_path(pipeline, reference):
    """uint8 pixels go through a 256-entry table (or, for scale 1/255 and zero point -128,
    a flip of the top bit); both must equal quantizing pixel / scale the long way."""
    path = pipeline.models / "mnist_mlp_int8.tflite"
    images = reference.images[:200]
    offset = runtime.load(path)
    np.testing.assert_array_equal(offset.predict(images), offset.predict(images / np.float32(255)))
    table = runtime.load(path, contract=InputContract(pixel_scale=300.0), verify_checksum=False)
    np.testing.assert_array_equal(table.predict(images), table.predict(images / np.float32(300)))
    assert not np.array_equal(table.predict(images), offset.predict(images))  # the two contracts differ


@pytest.mark.slow
def test_per_channel_mean_and_std_through_an_int8_rgb_model(tmp_path):
    """The table path per channel (mean and std per channel, int8 input) equals the general
    path, on a real int8 model with an RGB input converted with that contract. The model was
    not trained with that contract, so its answers mean nothing: the data has no labels and the
    budget is open (--max-drop 100); only the arithmetic is checked."""
    from shapes import shape_arrays, train_shape_cnn

    from conftest import run_cli

    keras_file = train_shape_cnn(tmp_path / "shapes.keras", epochs=2)
    np.savez(tmp_path / "data.npz", x=shape_arrays(30, seed=5)[0])
    result = run_cli("convert", "tflite", "--quantize", "int8", "--keras", keras_file, "--data", tmp_path / "data.npz",
                     "--mean", "0.5", "0.4", "0.3", "--std", "0.25", "0.5", "1", "--max-drop", "100",
                     "--models", tmp_path / "models")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    model = runtime.load(tmp_path / "models" / "shapes_int8.tflite")
    assert model.contract.mean == (0.5, 0.4, 0.3) and model.input.quantized
    x, _ = shape_arrays(8, seed=2)
    np.testing.assert_array_equal(model.predict(x), model.predict(x / np.float32(255)))


@pytest.mark.parametrize("name", ["mnist_mlp_float32.tflite", "mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"])
def test_float_and_onnx_artifacts_take_pixels_as_they_are(pipeline, reference, name):
    """Their input is uint8 pixels, the contract's pixel / 255 inside the graph: the bare
    interpreter fed the raw pixels gives exactly what the runtime returns, which matches Keras:
    float32 within a tolerance; int8 as its verdict says, which this run reproduces exactly
    (the same interpreter on the same file) rather than against a bound of its own."""
    model = runtime.load(pipeline.models / name)
    assert model.takes_pixels and model.input.dtype == np.uint8
    images = reference.images[:100]
    np.testing.assert_array_equal(model.predict(images), np.asarray(model.backend.run(images), np.float32))
    if "float32" in name:
        assert np.abs(model.predict(images) - reference.probs[:100]).max() <= FLOAT_MAX_ABS_DP
        return
    metrics = pipeline.artifact(name)["metrics"]
    probs = model.predict(reference.images)
    assert float(np.abs(probs.astype(np.float64) - reference.probs).max()) == metrics["max_abs_dp"]
    assert float(np.mean(probs.argmax(1) == reference.probs.argmax(1))) == metrics["agreement"]
    assert metrics["verdict"]["status"] in ("verified", "unproven")


def test_offset_pixels_written_in_place_equal_the_flipped_copy(pipeline, reference):
    """run_offset_pixels flips the top bit as it writes the interpreter's input tensor; the
    outputs equal run() of the flipped copy, across batch sizes that resize the tensor."""
    backend = runtime.load(pipeline.models / "mnist_mlp_int8.tflite").backend
    images = np.concatenate([reference.images] * 2)
    for batch in (1, 5, 1000, 1, 1024, 3):
        x = images[:batch]
        flipped = (x ^ np.uint8(128)).view(np.int8)
        np.testing.assert_array_equal(backend.run_offset_pixels(x), backend.run(flipped))
    with pytest.raises(TypeError, match="run_offset_pixels takes uint8 pixels for an int8 input; got float32"):
        backend.run_offset_pixels(images[:2].astype(np.float32))


def test_offset_pixels_on_a_fixed_batch_model(pipeline, reference, tmp_path):
    """A batch-1 export (as for TFLite Micro) run on LiteRT: several images go in pieces of one,
    with the same outputs as one image at a time."""
    import keras

    from convert.tflite_export import tflite_bytes

    model = keras.models.load_model(pipeline.models / "mnist_mlp.keras", compile=False)
    path = tmp_path / "batch1.tflite"
    calibration = InputContract().model_input(reference.images[:50])
    path.write_bytes(tflite_bytes(model, "int8", calibration, batch_size=1))
    loaded = runtime.load(path, contract=InputContract(), isolate=False)
    assert loaded.input.shape[0] == 1 and loaded.output.quantized  # int8 in and out, as TFLite Micro's model
    images = reference.images[:6]
    one_by_one = np.concatenate([loaded.predict(image) for image in images])
    np.testing.assert_array_equal(loaded.predict(images), one_by_one)
    np.testing.assert_array_equal(loaded.predict(images), loaded.predict(images / np.float32(255)))


def test_a_uint8_input_int8_model_takes_the_pixels_as_they_are(pipeline, reference, tmp_path):
    """The converter's uint8 input (a QUANTIZE op to int8 first; not what `convert` writes, as
    LiteRT's XNNPACK delegate does not run that op) has scale 1/255 and zero point 0 on MNIST:
    the runtime passes the pixels as they are, and the probabilities equal the int8-input
    file's (as `convert` writes plain int8), converted from the same model and calibration."""
    import keras
    import tensorflow as tf

    from convert.tflite_export import ARTIFACT_INT8_OUTPUT, tflite_bytes, tflite_converter

    model = keras.models.load_model(pipeline.models / "mnist_mlp.keras", compile=False)
    with np.load(pipeline.models / "calibration.npz") as data:
        calibration = InputContract().model_input(data["images"][:200])
    converter = tflite_converter(model, "int8", calibration, output_type=ARTIFACT_INT8_OUTPUT)
    converter.inference_input_type = tf.uint8
    path = tmp_path / "uint8_input.tflite"
    path.write_bytes(converter.convert())
    twin = runtime.load(path, contract=InputContract(), isolate=False)
    assert twin.input.dtype == np.uint8 and twin.input.zero_point == 0 and twin.takes_pixels
    (tmp_path / "int8_input.tflite").write_bytes(tflite_bytes(model, "int8", calibration, output_type=ARTIFACT_INT8_OUTPUT))
    artifact = runtime.load(tmp_path / "int8_input.tflite", contract=InputContract(), isolate=False)
    assert artifact.input.dtype == np.int8
    images = reference.images
    np.testing.assert_array_equal(twin.predict(images), artifact.predict(images))
    np.testing.assert_array_equal(twin.predict(images / np.float32(255)), artifact.predict(images))
