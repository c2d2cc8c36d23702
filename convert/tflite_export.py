"""Keras model to TFLite flatbuffer bytes, at the precision asked for."""

from __future__ import annotations

import contextlib
import functools
import io
import tempfile
from typing import Optional

import numpy as np

TFLITE_PRECISIONS = ("float32", "int8", "float16", "dynamic")
INT8_OUTPUT_TYPES = ("int8", "float32")
ARTIFACT_INT8_OUTPUT = "float32"
"""The int8 artifact's output: float32 probabilities, dequantized by a DEQUANTIZE op at the end
of its graph (scale * (q - zero_point), the values the runtime's own dequantization gives). On
the seed MLP that took one image from 2.2x the bare interpreter's time to 1.9x (issue 24).
TFLite Micro's model keeps its int8 output (convert/micro.py)."""


def tflite_converter(model, precision: str, calibration=None, per_channel: bool = True, saved_model: Optional[str] = None,
                     output_type: str = "int8"):
    """float32: as trained. float16: float16 weights. dynamic: int8 weights, float activations.
    int8: int8 weights and activations with int8 input and an `output_type` output
    (INT8_OUTPUT_TYPES), calibrated on `calibration` (float32 images in 0..1, training split
    only); weights per output channel, or one scale per tensor with per_channel=False. With
    `saved_model` (see fixed_batch_saved_model), the model is converted from that export
    instead of from the Keras object."""
    import tensorflow as tf

    if precision not in TFLITE_PRECISIONS:
        raise ValueError(f"precision: got {precision!r}, expected one of {', '.join(TFLITE_PRECISIONS)}")
    if output_type not in INT8_OUTPUT_TYPES:
        raise ValueError(f"output_type: got {output_type!r}, expected one of {', '.join(INT8_OUTPUT_TYPES)}")
    if saved_model is None:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    else:
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    if precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision == "int8":
        if calibration is None or len(calibration) == 0:
            raise ValueError("int8 conversion needs calibration images")
        calibration = np.asarray(calibration, np.float32)

        def representative_dataset():
            for image in calibration:
                yield [image[np.newaxis]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.float32 if output_type == "float32" else tf.int8
        # The public API has no switch for weight granularity; these are the converter's own.
        converter._experimental_disable_per_channel = not per_channel
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel
    return converter


def fixed_batch_saved_model(model, batch_size: int, folder) -> str:
    """Writes `model`'s inference call with a fixed batch dimension as a SavedModel in `folder`.

    A Keras export leaves the batch open, and the converter then adds SHAPE, STRIDED_SLICE
    and PACK ops to compute it at run time; a fixed batch leaves only the model's own ops.
    This is what TFLiteConverter.from_keras_model does for Keras 3, with the batch fixed."""
    import keras
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"batch_size: got {batch_size}, expected >= 1")
    signature = [tf.TensorSpec((batch_size,) + tuple(t.shape[1:]), t.dtype, name=t.name) for t in model.inputs]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", functools.partial(model.__call__, training=False),
                         signature if len(signature) == 1 else [signature])
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the endpoint's signature
        archive.write_out(str(folder), verbose=False)
    return str(folder)


def tflite_bytes(model, precision: str, calibration=None, per_channel: bool = True, quiet: bool = True,
                 batch_size: Optional[int] = None, output_type: str = "int8") -> bytes:
    """The converted flatbuffer. `batch_size` fixes the batch dimension (None: left open, any
    batch); `output_type` is an int8 model's output type (INT8_OUTPUT_TYPES); `quiet` hides
    the converter's printed SavedModel signature and its status lines."""
    from runtime.backends.native_output import filtered_stderr

    with contextlib.ExitStack() as stack:
        saved_model = None
        if batch_size is not None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="fixed-batch-"))
            saved_model = fixed_batch_saved_model(model, batch_size, folder)
        converter = tflite_converter(model, precision, calibration, per_channel, saved_model, output_type)
        if quiet:
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(filtered_stderr(quiet))
        return converter.convert()
