"""Artifacts that take uint8 pixels as they come: the input contract's scaling,
(pixel / pixel_scale - mean) / std, moved into the graph. An app passes camera pixels and
cannot get the normalisation wrong, and the runtime has no float copy of the batch to make.

Measured on the seed model, 1,000 images (`python -m runtime bench`: docs/runtime.md,
"Benchmarks"; summed up in docs/conversion.md):
- TFLite float: a uint8 input with CAST and MUL in the graph runs as fast as the float
  input did, so the runtime's pixel / 255 (a fifth of the time) is saved.
- ONNX: CAST, MUL and ADD in the graph made onnxruntime 2.4x slower than a float input;
  one DequantizeLinear from uint8 runs as fast as float input plus the conversion, and
  before a QDQ model's QuantizeLinear it is 2.4x faster than both.
The int8 TFLite model keeps its int8 input: the runtime's top-bit flip costs next to nothing."""

from __future__ import annotations

import numpy as np

from runtime.contract import InputContract

PIXEL_PRECISIONS = ("float32", "float16", "dynamic")
"""TFLite precisions that get a uint8 input; int8 keeps its int8 input."""


def _scale_and_offset(contract: InputContract) -> tuple:
    """Per channel (or one value): model input = pixel * scale + offset."""
    std = np.asarray(contract.std or (1.0,), np.float64)
    mean = np.asarray(contract.mean or (0.0,), np.float64)
    scale = 1.0 / (contract.pixel_scale * std)
    offset = -mean / std
    return scale, offset


def keras_with_pixel_input(model, contract: InputContract):
    """`model` behind a uint8 input and a Rescaling layer that applies the contract."""
    import keras

    scale, offset = _scale_and_offset(contract)
    pixels = keras.Input(tuple(model.inputs[0].shape[1:]), dtype="uint8", name="image")
    rescaled = keras.layers.Rescaling(_value(scale), offset=_value(offset), name="pixels_to_input")(pixels)
    return keras.Model(pixels, model(rescaled), name=model.name)


def _value(values: np.ndarray):
    return float(values[0]) if values.size == 1 else [float(v) for v in values]


def onnx_with_pixel_input(model, contract: InputContract):
    """The ONNX ModelProto with its float input replaced by a uint8 one of the same name,
    followed by DequantizeLinear (pixel * scale, per channel when the contract's std is),
    and an Add for the mean when there is one."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    old = graph.input[0]
    if old.type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ValueError(f"ONNX input {old.name!r} is not float32; it already takes other values")
    name = old.name
    floats = "pixels_to_input:0"
    for node in graph.node:
        node.input[:] = [floats if i == name else i for i in node.input]
    scale, offset = _scale_and_offset(contract)
    per_channel = scale.size > 1
    dims = len(old.type.tensor_type.shape.dim)
    graph.initializer.extend([
        numpy_helper.from_array(scale.astype(np.float32).reshape(-1) if per_channel else np.float32(scale[0]), "pixel_scale"),
        numpy_helper.from_array(np.zeros(scale.size, np.uint8) if per_channel else np.uint8(0), "pixel_zero_point"),
    ])
    attributes = {"axis": dims - 1} if per_channel else {}
    nodes = [helper.make_node("DequantizeLinear", [name, "pixel_scale", "pixel_zero_point"],
                              [floats if not np.any(offset) else "pixels_scaled:0"], name="pixels_to_input", **attributes)]
    if np.any(offset):
        graph.initializer.append(numpy_helper.from_array(offset.astype(np.float32), "pixel_offset"))
        nodes.append(helper.make_node("Add", ["pixels_scaled:0", "pixel_offset"], [floats], name="pixels_offset"))
    for k, node in enumerate(nodes):
        graph.node.insert(k, node)
    old.type.tensor_type.elem_type = TensorProto.UINT8
    return model
