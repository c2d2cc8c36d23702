"""Small Keras models for the C engine's tests, converted to int8 batch-1 TFLite in-process
(convert/tflite_export.py, as `convert micro` converts): untrained weights are enough to
check exactness, which holds for any weights.

- coverage(): one graph with every op the engine runs that a Keras image model makes:
  CONV_2D (strided, dilated, fused ReLU6), DEPTHWISE_CONV_2D (depth multiplier 2),
  HARD_SWISH, PAD, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, FULLY_CONNECTED, LOGISTIC, MUL
  (broadcast, squeeze-excite), CONCATENATION (with the QUANTIZE the converter puts in front),
  ADD, SUB and SOFTMAX.
- tanh_mlp(): a Dense with tanh (TANH: TFLite Micro runs it, the engine does not)."""

from __future__ import annotations

import numpy as np

SIZE = 16
CALIBRATION_IMAGES = 64


def coverage():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6", name="conv_relu6")(inputs)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="depthwise_x2")(x)
    x = layers.Activation("hard_swish", name="hard_swish")(x)
    x = layers.ZeroPadding2D(1, name="zero_pad")(x)
    x = layers.AveragePooling2D(2, name="average_pool")(x)
    y = layers.MaxPooling2D(2, strides=1, padding="same", name="max_pool")(x)
    s = layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(y)
    s = layers.Dense(16, activation="sigmoid", name="excite")(s)
    y = layers.Multiply(name="scale")([y, s])
    z = layers.Conv2D(8, 1, activation="sigmoid", name="gate")(x)
    c = layers.Concatenate(name="concat")([y, z])
    c = layers.Conv2D(24, 1, name="mix")(c)
    d = layers.Conv2D(24, 3, padding="same", dilation_rate=2, name="dilated")(c)
    c = layers.Add(name="residual")([c, d])
    c = layers.Subtract(name="difference")([c, layers.Conv2D(24, 1, name="other")(c)])
    f = layers.GlobalAveragePooling2D(name="mean")(c)
    f = layers.Dense(12, activation="relu", kernel_initializer=keras.initializers.RandomNormal(stddev=1.0), name="hidden")(f)
    # large logits: an untrained net's softmax would be near uniform and hide differences
    outputs = layers.Dense(5, activation="softmax", kernel_initializer=keras.initializers.RandomNormal(stddev=4.0),
                           name="probabilities")(f)
    return keras.Model(inputs, outputs, name="coverage")


def tanh_mlp():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((SIZE, SIZE, 3), name="image"), keras.layers.Flatten(name="flatten"),
                             keras.layers.Dense(8, activation="tanh", name="tanh_dense"),
                             keras.layers.Dense(3, activation="softmax", name="probabilities")], name="tanh_mlp")


def calibration(shape: tuple, seed: int = 0) -> np.ndarray:
    """Random float32 images in 0..1 (what the converter's representative dataset takes)."""
    return np.random.default_rng(seed).uniform(0, 1, (CALIBRATION_IMAGES, *shape)).astype(np.float32)


def int8_bytes(model, per_channel: bool = True) -> bytes:
    from convert.tflite_export import tflite_bytes

    return tflite_bytes(model, "int8", calibration(tuple(model.inputs[0].shape[1:])), per_channel, batch_size=1)


def int16_activation_bytes(model) -> bytes:
    """The model with int16 activations and int8 weights (TFLite's 16x8 quantization), batch 1."""
    import tempfile

    import tensorflow as tf

    from convert.tflite_export import fixed_batch_saved_model

    images = calibration(tuple(model.inputs[0].shape[1:]))
    with tempfile.TemporaryDirectory() as folder:
        converter = tf.lite.TFLiteConverter.from_saved_model(fixed_batch_saved_model(model, 1, folder))
        return _int16_convert(converter, images)


def _int16_convert(converter, images) -> bytes:
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[np.newaxis]] for image in images)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int16
    return converter.convert()


def tflm_outputs(data: bytes, inputs: np.ndarray, arena_bytes: int = 1 << 20) -> np.ndarray:
    """TFLite Micro's own interpreter (PyPI tflite-micro) on each input, one at a time."""
    from tflite_micro import runtime as tflm

    interpreter = tflm.Interpreter.from_bytes(data, arena_size=arena_bytes)
    outputs = []
    for x in inputs:
        interpreter.set_input(x[np.newaxis], 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0)[0].copy())
    return np.array(outputs).reshape(len(inputs), -1)


TRACE_PROLOGUE = """#include <stdint.h>
typedef void (*after_op_hook)(int op, const int8_t *data, int bytes);
static after_op_hook hook;
void set_after_op_hook(after_op_hook h);
void set_after_op_hook(after_op_hook h) { hook = h; }
#define {name}_AFTER_OP(op, data, bytes) (hook != 0 ? hook(op, data, bytes) : (void)0)
"""


def engine_op_outputs(engine, inputs: np.ndarray, folder) -> list:
    """For each input, {op index: its output's bytes} as the engine computed them: the engine
    compiled with {name}_AFTER_OP defined to call back into Python (ctypes)."""
    import ctypes
    from pathlib import Path

    from runtime.backends.c_engine import compile_shared

    folder = Path(folder)
    (folder / f"{engine.name}.h").write_text(engine.header)
    (folder / f"{engine.name}.c").write_text(TRACE_PROLOGUE.replace("{name}", engine.name) + engine.source)
    library = ctypes.CDLL(str(compile_shared(folder / f"{engine.name}.c", folder / "traced.so")))
    hook_type = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(ctypes.c_int8), ctypes.c_int)
    seen = {}
    hook = hook_type(lambda op, data, size: seen.__setitem__(op, ctypes.string_at(data, size)))
    library.set_after_op_hook(hook)
    predict = getattr(library, f"{engine.name}_predict")
    output = np.empty(engine.output.bytes, np.int8)
    results = []
    for x in np.ascontiguousarray(inputs, np.int8):
        seen = {}
        assert predict(ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(output.ctypes.data)) == 0
        results.append(seen)
    return results


def tflm_op_outputs(data: bytes, inputs: np.ndarray) -> list:
    """For each input, {op index: its output's bytes} as TFLite Micro's interpreter computed
    them (kPreserveAllTensors keeps every tensor)."""
    from tflite_micro.python.tflite_micro import runtime as tflm

    from convert.c_engine.graph import read_graph

    graph = read_graph(data)
    interpreter = tflm.Interpreter.from_bytes(data, arena_size=1 << 22,
                                              intrepreter_config=tflm.InterpreterConfig.kPreserveAllTensors)
    results = []
    for x in inputs:
        interpreter.set_input(x[np.newaxis], 0)
        interpreter.invoke()
        results.append({op.index: np.asarray(interpreter.GetTensor(op.outputs[0], 0)["tensor_data"]).tobytes()
                        for op in graph.operators})
    return results
