"""Keras model to TFLite flatbuffer bytes, at the precision asked for."""

from __future__ import annotations

import contextlib
import io

import numpy as np

TFLITE_PRECISIONS = ("float32", "int8", "float16", "dynamic")


def tflite_converter(model, precision: str, calibration=None, per_channel: bool = True):
    """float32: as trained. float16: float16 weights. dynamic: int8 weights, float activations.
    int8: int8 weights and activations with int8 input and output, calibrated on
    `calibration` (float32 images in 0..1, training split only); weights per output channel,
    or one scale per tensor with per_channel=False."""
    import tensorflow as tf

    if precision not in TFLITE_PRECISIONS:
        raise ValueError(f"precision: got {precision!r}, expected one of {', '.join(TFLITE_PRECISIONS)}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
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
        converter.inference_output_type = tf.int8
        # The public API has no switch for weight granularity; these are the converter's own.
        converter._experimental_disable_per_channel = not per_channel
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel
    return converter


def tflite_bytes(model, precision: str, calibration=None, per_channel: bool = True, quiet: bool = True) -> bytes:
    """The converted flatbuffer; `quiet` hides the converter's printed SavedModel signature
    and its status lines on stderr."""
    from runtime.native_output import filtered_stderr

    converter = tflite_converter(model, precision, calibration, per_channel)
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext(), filtered_stderr(quiet):
        return converter.convert()
