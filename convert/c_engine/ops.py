"""Each operator of the int8 graph lowered to one call of a C kernel: which kernel units it
needs, its constant parameters (computed as TFLite Micro's Prepare computes them,
quantization.py) and constant arrays, and which tensors it reads and writes.

An op, a type or an option the engine does not reproduce exactly is refused with
EngineRefusal, naming the op and the Keras layer it comes from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .graph import EngineRefusal, Graph, Operator, Tensor, keras_layer
from .quantization import (FUSED_ACTIVATIONS, QuantizationError, activation_range, add_parameters, hard_swish_parameters,
                           logistic_parameters, mean_multiplier, per_channel_multipliers,
                           per_tensor_fully_connected_multiplier, quantize_multiplier, softmax_parameters,
                           sub_parameters)

ALIASES = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
"""Ops that only relabel the shape: the output is the input's bytes."""


@dataclass
class Array:
    """A constant array the step's call reads (weights, biases, multipliers ...)."""

    name: str
    ctype: str
    values: np.ndarray
    comment: str = ""


@dataclass
class Step:
    """One operator as the engine runs it."""

    op: Operator
    layer: str
    """The Keras layer the op comes from (from its output tensor's name)."""
    kernel: str = ""
    """The kernel unit called (conv_s8 ...); '' for an alias."""
    units: tuple = ()
    params_type: str = ""
    params: dict = field(default_factory=dict)
    arrays: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    """Activation or constant tensors the call reads, in argument order."""
    arguments: list = field(default_factory=list)
    """Extra arguments after the tensors, before the output: array names, or 0 for none."""
    output: int = -1
    in_place: tuple = ()
    """Positions in `reads` whose buffer the output may overwrite (elementwise kernels)."""
    alias: bool = False


def refuse(op: Operator, graph: Graph, reason: str) -> EngineRefusal:
    name = graph.tensors[op.outputs[0]].name if op.outputs else ""
    layer = keras_layer(name) if name else "?"
    return EngineRefusal(f"the C engine does not support {op.op} (operator {op.index}, Keras layer '{layer}'): {reason}")


def lower(graph: Graph) -> list:
    """The steps of every operator, in the file's order (TFLite Micro's)."""
    steps = []
    for op in graph.operators:
        lowering = LOWERINGS.get(op.op)
        if lowering is None:
            raise refuse(op, graph, "no kernel for this op in the C engine (it runs FULLY_CONNECTED, CONV_2D, "
                         "DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, MAX_POOL_2D, ADD, SUB, MUL, MEAN, PAD, RESHAPE, "
                         "CONCATENATION, SOFTMAX, LOGISTIC, HARD_SWISH and QUANTIZE on int8)")
        if len(op.outputs) != 1:
            raise refuse(op, graph, f"{len(op.outputs)} outputs")
        step = Step(op, keras_layer(graph.tensors[op.outputs[0]].name), output=op.outputs[0])
        try:
            lowering(step, graph)
        except QuantizationError as err:
            raise refuse(op, graph, str(err)) from err
        steps.append(step)
    return steps


def _int8(step: Step, graph: Graph, tensor: Tensor, role: str) -> Tensor:
    if tensor.dtype != "int8":
        kind = "int16 activations" if tensor.dtype == "int16" else f"a {tensor.dtype} {role}"
        raise refuse(step.op, graph, f"{kind} ({role} {tensor.name!r}); the C engine runs int8 activations")
    if not tensor.scales:
        raise refuse(step.op, graph, f"its {role} {tensor.name!r} has no quantization parameters")
    if len(tensor.scales) != 1:
        raise refuse(step.op, graph, f"its {role} {tensor.name!r} is quantized per channel")
    return tensor


def _io(step: Step, graph: Graph, inputs: int) -> tuple:
    op = step.op
    if len(op.inputs) < inputs or any(i < 0 for i in op.inputs[:inputs]):
        raise refuse(op, graph, f"expected {inputs} inputs, got {op.inputs}")
    ins = [_int8(step, graph, graph.tensors[i], "input") for i in op.inputs[:inputs]]
    return ins, _int8(step, graph, graph.tensors[op.outputs[0]], "output")


def _activation(step: Step, graph: Graph, options, output: Tensor) -> tuple:
    activation = getattr(options, "fusedActivationFunction", 0) if options is not None else 0
    if activation not in FUSED_ACTIVATIONS:
        raise refuse(step.op, graph, f"fused activation {activation} (TFLite Micro's int8 kernels take none, RELU, "
                     "RELU_N1_TO_1 or RELU6)")
    return activation_range(activation, output.scale, output.zero_point)


def _padding(step: Step, graph: Graph, options, size: int, taps: int, stride: int, dilation: int, out: int) -> int:
    """ComputePaddingHeightWidth: the padding ahead of a dimension, after checking that the
    output size is the one the padding type gives."""
    padding = graph.names["padding"].get(options.padding, str(options.padding))
    if stride < 1 or dilation < 1 or taps < 1:
        raise refuse(step.op, graph, f"stride {stride}, dilation {dilation}, window {taps}")
    effective = (taps - 1) * dilation + 1
    expected = (size + stride - 1) // stride if padding == "SAME" else (size + stride - effective) // stride
    if padding not in ("SAME", "VALID") or expected != out:
        raise refuse(step.op, graph, f"{padding} padding gives {expected} outputs from {size}, the model says {out}")
    return max(0, (out - 1) * stride + effective - size) // 2


def _shape4(step: Step, graph: Graph, tensor: Tensor) -> tuple:
    if len(tensor.shape) != 4 or tensor.shape[0] != 1:
        raise refuse(step.op, graph, f"expected a [1, H, W, C] tensor, got {list(tensor.shape)} ({tensor.name!r})")
    return tensor.shape[1:]


def _bias(step: Step, graph: Graph, index: int, channels: int) -> Optional[Tensor]:
    if index < 0:
        return None
    bias = graph.tensors[index]
    if bias.dtype != "int32" or bias.data is None or bias.size != channels:
        raise refuse(step.op, graph, f"its bias is {bias.dtype} {list(bias.shape)}, expected {channels} int32 constants")
    return bias


def _filter(step: Step, graph: Graph, index: int, quantized_dimension: int) -> Tensor:
    weights = graph.tensors[index]
    if weights.dtype not in ("int8", "int4") or weights.data is None or not weights.scales:
        raise refuse(step.op, graph, f"its weights are {weights.dtype}{'' if weights.data is not None else ' activations'}"
                     "; the C engine takes constant int8 (or int4) weights")
    if len(weights.scales) > 1 and (weights.quantized_dimension != quantized_dimension
                                    or len(weights.scales) != weights.shape[quantized_dimension]):
        raise refuse(step.op, graph, f"its weights are quantized along dimension {weights.quantized_dimension}")
    return weights


def _weights_and_rescaling(step: Step, graph: Graph, weights: Tensor, bias: Optional[Tensor], multipliers, shifts) -> None:
    name = f"op{step.op.index}"
    step.arrays.append(Array(f"{name}_filter", "int8_t", np.asarray(weights.data, np.int8), f"weights {list(weights.shape)}"))
    step.arrays.append(Array(f"{name}_bias", "int32_t", bias.data, "bias") if bias is not None else None)
    step.arrays.append(Array(f"{name}_multiplier", "int32_t", np.asarray(multipliers, np.int64), "per-channel multiplier, Q0.31"))
    step.arrays.append(Array(f"{name}_shift", "int8_t", np.asarray(shifts, np.int64), "per-channel shift (> 0: left)"))
    step.arguments = [f"{name}_filter", f"{name}_bias" if bias is not None else "0", f"{name}_multiplier", f"{name}_shift"]
    step.arrays = [a for a in step.arrays if a is not None]


def _convolution(step: Step, graph: Graph, weights: Tensor, x: Tensor, y: Tensor) -> dict:
    """What CONV_2D and DEPTHWISE_CONV_2D share: the window's geometry and padding, the
    offsets and clamp, the weights with their bias and per-channel rescaling."""
    op, o = step.op, step.op.options
    (in_h, in_w, _), (out_h, out_w, out_c) = _shape4(step, graph, x), _shape4(step, graph, y)
    bias = _bias(step, graph, op.inputs[2] if len(op.inputs) > 2 else -1, out_c)
    low, high = _activation(step, graph, o, y)
    multipliers, shifts = per_channel_multipliers(x.scale, weights.scales, y.scale, out_c)
    step.reads = [op.inputs[0]]
    _weights_and_rescaling(step, graph, weights, bias, multipliers, shifts)
    filter_h, filter_w = weights.shape[1], weights.shape[2]
    return dict(in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w, filter_h=filter_h, filter_w=filter_w,
                stride_h=o.strideH, stride_w=o.strideW, dilation_h=o.dilationHFactor, dilation_w=o.dilationWFactor,
                pad_top=_padding(step, graph, o, in_h, filter_h, o.strideH, o.dilationHFactor, out_h),
                pad_left=_padding(step, graph, o, in_w, filter_w, o.strideW, o.dilationWFactor, out_w),
                input_offset=-x.zero_point, output_offset=y.zero_point, activation_min=low, activation_max=high)


def lower_conv(step: Step, graph: Graph) -> None:
    op = step.op
    (x,), y = _io(step, graph, 1)
    in_c, out_c = _shape4(step, graph, x)[2], _shape4(step, graph, y)[2]
    weights = _filter(step, graph, op.inputs[1], 0)
    if len(weights.shape) != 4 or weights.shape[0] != out_c or in_c % weights.shape[3] or out_c % (in_c // weights.shape[3]):
        raise refuse(op, graph, f"weights {list(weights.shape)} do not fit input {list(x.shape)} and output {list(y.shape)}")
    step.kernel, step.params_type = "conv_s8", "conv_params"
    step.params = dict(in_c=in_c, out_c=out_c, filter_in_c=weights.shape[3], **_convolution(step, graph, weights, x, y))


def lower_depthwise_conv(step: Step, graph: Graph) -> None:
    op = step.op
    (x,), y = _io(step, graph, 1)
    in_c, out_c = _shape4(step, graph, x)[2], _shape4(step, graph, y)[2]
    weights = _filter(step, graph, op.inputs[1], 3)
    if len(weights.shape) != 4 or weights.shape[0] != 1 or weights.shape[3] != out_c or out_c % in_c:
        raise refuse(op, graph, f"weights {list(weights.shape)} do not fit input {list(x.shape)} and output {list(y.shape)}")
    if op.options.depthMultiplier != out_c // in_c:
        raise refuse(op, graph, f"its depth multiplier {op.options.depthMultiplier} is not output channels / input "
                     f"channels ({out_c} / {in_c})")
    step.kernel, step.params_type = "depthwise_conv_s8", "depthwise_conv_params"
    step.params = dict(in_c=in_c, depth_multiplier=out_c // in_c, **_convolution(step, graph, weights, x, y))


def lower_fully_connected(step: Step, graph: Graph) -> None:
    op, o = step.op, step.op.options
    (x,), y = _io(step, graph, 1)
    weights = _filter(step, graph, op.inputs[1], 0)
    if o is not None and (o.weightsFormat != 0 or o.asymmetricQuantizeInputs):
        raise refuse(op, graph, "shuffled weights or hybrid quantization")
    if len(weights.shape) != 2 or not y.shape:
        raise refuse(op, graph, f"weights {list(weights.shape)}, output {list(y.shape)}")
    out_c, depth = weights.shape
    if y.shape[-1] != out_c or x.size % depth or y.size != (x.size // depth) * out_c:
        raise refuse(op, graph, f"weights {list(weights.shape)} do not fit input {list(x.shape)} and output {list(y.shape)}")
    bias = _bias(step, graph, op.inputs[2] if len(op.inputs) > 2 else -1, out_c)
    low, high = _activation(step, graph, o, y)
    per_channel = len(weights.scales) > 1
    if per_channel:
        if weights.dtype == "int4":
            raise refuse(op, graph, "per-channel int4 weights (TFLite Micro refuses them too)")
        multipliers, shifts = per_channel_multipliers(x.scale, weights.scales, y.scale, out_c)
    else:
        multiplier, shift = per_tensor_fully_connected_multiplier(x.scale, weights.scales[0], y.scale)
        multipliers, shifts = [multiplier] * out_c, [shift] * out_c
    step.kernel, step.params_type = "fully_connected_s8", "fully_connected_params"
    step.params = dict(batches=x.size // depth, depth=depth, out_c=out_c, input_offset=-x.zero_point,
                       filter_offset=0 if per_channel else -weights.zero_point, output_offset=y.zero_point,
                       activation_min=low, activation_max=high)
    step.reads = [op.inputs[0]]
    _weights_and_rescaling(step, graph, weights, bias, multipliers, shifts)


def lower_pool(step: Step, graph: Graph) -> None:
    op, o = step.op, step.op.options
    (x,), y = _io(step, graph, 1)
    in_h, in_w, channels = _shape4(step, graph, x)
    out_h, out_w, out_c = _shape4(step, graph, y)
    if out_c != channels:
        raise refuse(op, graph, f"{channels} channels in, {out_c} out")
    if abs(np.float32(x.scale) - np.float32(y.scale)) > 1e-6 or x.zero_point != y.zero_point:
        raise refuse(op, graph, "its input and output are quantized differently (TFLite Micro requires the same)")
    low, high = _activation(step, graph, o, y)
    pad_top = _padding(step, graph, o, in_h, o.filterHeight, o.strideH, 1, out_h)
    pad_left = _padding(step, graph, o, in_w, o.filterWidth, o.strideW, 1, out_w)
    if op.op == "AVERAGE_POOL_2D" and (pad_top >= o.filterHeight or pad_left >= o.filterWidth):
        raise refuse(op, graph, "a window with no input pixel (TFLite Micro fails on it)")
    step.kernel = "average_pool_s8" if op.op == "AVERAGE_POOL_2D" else "max_pool_s8"
    step.params_type = "pool_params"
    step.params = dict(in_h=in_h, in_w=in_w, channels=channels, out_h=out_h, out_w=out_w, filter_h=o.filterHeight,
                       filter_w=o.filterWidth, stride_h=o.strideH, stride_w=o.strideW, pad_top=pad_top,
                       pad_left=pad_left, activation_min=low, activation_max=high)
    step.reads = [op.inputs[0]]


def broadcast_strides(shape: tuple, out: tuple) -> Optional[list]:
    """Strides of `shape` over the 6-D `out` (0 where broadcast), or None if it does not fit."""
    padded = (1,) * (6 - len(shape)) + tuple(shape)
    strides, stride = [0] * 6, 1
    for d in range(5, -1, -1):
        if padded[d] == out[d]:
            strides[d] = stride if padded[d] > 1 else 0
        elif padded[d] != 1:
            return None
        stride *= padded[d]
    return strides


def lower_binary(step: Step, graph: Graph) -> None:
    op = step.op
    (a, b), y = _io(step, graph, 2)
    if max(len(a.shape), len(b.shape), len(y.shape)) > 6:
        raise refuse(op, graph, "more than 6 dimensions")
    low, high = _activation(step, graph, op.options, y)
    out = (1,) * (6 - len(y.shape)) + tuple(y.shape)
    strides = [broadcast_strides(a.shape, out), broadcast_strides(b.shape, out)]
    if None in strides:
        raise refuse(op, graph, f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast to {list(y.shape)}")
    name = op.op.lower()
    if op.op == "MUL":
        step.params_type = "mul_params"
        step.params = dict(size=y.size, input1_offset=-a.zero_point, input2_offset=-b.zero_point)
        multiplier, shift = quantize_multiplier(float(np.float32(a.scale)) * float(np.float32(b.scale))
                                                / float(np.float32(y.scale)))
        step.params.update(output_multiplier=multiplier, output_shift=shift)
    else:
        step.params_type = "add_params"
        step.params = dict(size=y.size, input1_offset=-a.zero_point, input2_offset=-b.zero_point)
        rescaling = (add_parameters if op.op == "ADD" else sub_parameters)(a.scale, b.scale, y.scale)
        step.params.update(rescaling)
    step.params.update(output_offset=y.zero_point, activation_min=low, activation_max=high)
    step.reads = [op.inputs[0], op.inputs[1]]
    if op.op != "MUL":
        step.params["subtract"] = int(op.op == "SUB")
        name = "add"  # one kernel for ADD and SUB
    if a.shape == b.shape == y.shape:
        step.kernel = f"{name}_s8"
        step.in_place = (0, 1)
    else:
        step.kernel = "broadcast_binary"
        step.units = (f"{name}_element",)
        step.arrays.append(Array(f"op{op.index}_shape", "broadcast_shape", np.asarray([out, *strides], np.int64),
                                 "output dimensions, input 1 and input 2 strides"))
        step.arguments = [f"&op{op.index}_shape", f"{name}_element"]


def lower_mean(step: Step, graph: Graph) -> None:
    op = step.op
    (x,), y = _io(step, graph, 1)
    axis = graph.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    if axis is None or axis.data is None or axis.dtype != "int32":
        raise refuse(op, graph, "its axes are not constant int32")
    rank = len(x.shape)
    axes = sorted({int(a) + rank if a < 0 else int(a) for a in axis.data.reshape(-1)})
    if not axes or axes[0] < 0 or axes[-1] >= rank:
        raise refuse(op, graph, f"axes {axis.data.tolist()} for a rank-{rank} input")
    kept = [d for d in range(rank) if x.shape[d] > 1]
    reduced = [d for d in axes if x.shape[d] > 1]
    positions = [kept.index(d) for d in reduced]
    if positions and positions != list(range(positions[0], positions[0] + len(positions))):
        raise refuse(op, graph, f"axes {axes} of {list(x.shape)} are not adjacent")
    count = int(np.prod([x.shape[d] for d in axes], dtype=np.int64))
    outer = int(np.prod([x.shape[d] for d in kept[: positions[0]]], dtype=np.int64)) if positions else x.size
    inner = x.size // (outer * max(1, int(np.prod([x.shape[d] for d in reduced], dtype=np.int64))))
    if y.size != outer * inner:
        raise refuse(op, graph, f"output {list(y.shape)} is not input {list(x.shape)} reduced over {axes}")
    multiplier, shift = mean_multiplier(x.scale, y.scale, count)
    step.kernel, step.params_type = "mean_s8", "mean_params"
    step.params = dict(outer=outer, reduced=count, inner=inner, input_zero_point=x.zero_point,
                       output_zero_point=y.zero_point, multiplier=multiplier, shift=shift)
    step.reads = [op.inputs[0]]


def lower_pad(step: Step, graph: Graph) -> None:
    op = step.op
    (x,), y = _io(step, graph, 1)
    paddings = graph.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    if paddings is None or paddings.data is None or paddings.dtype not in ("int32", "int64"):
        raise refuse(op, graph, "its paddings are not constant")
    rank = len(x.shape)
    pads = np.asarray(paddings.data, np.int64).reshape(-1, 2) if paddings.size else np.zeros((0, 2), np.int64)
    if rank > 4 or pads.shape[0] != rank or (pads < 0).any() or \
            tuple(int(d + p.sum()) for d, p in zip(x.shape, pads)) != tuple(y.shape):
        raise refuse(op, graph, f"paddings {pads.tolist()} of {list(x.shape)} do not give {list(y.shape)}")
    value = y.zero_point
    if op.op == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        constant = graph.tensors[op.inputs[2]]
        if constant.data is None or constant.dtype != "int8" or constant.size != 1:
            raise refuse(op, graph, "its pad value is not one constant int8")
        if constant.zero_point != y.zero_point or np.float32(constant.scale) != np.float32(y.scale):
            raise refuse(op, graph, "its pad value is quantized unlike its output")
        value = int(constant.data.reshape(-1)[0])
    lead = 4 - rank
    step.kernel, step.params_type = "pad_s8", "pad_params"
    step.params = dict(in_dims=[1] * lead + list(x.shape), out_dims=[1] * lead + list(y.shape),
                       before=[0] * lead + [int(p[0]) for p in pads], pad_value=value)
    step.reads = [op.inputs[0]]


def lower_alias(step: Step, graph: Graph) -> None:
    op = step.op
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.dtype != y.dtype or x.size != y.size or x.constant:
        raise refuse(op, graph, f"{x.dtype} {list(x.shape)} to {y.dtype} {list(y.shape)}")
    if x.dtype == "int8" and (x.scales, x.zero_points) != (y.scales, y.zero_points):
        raise refuse(op, graph, "its input and output are quantized differently")
    step.alias = True
    step.reads = [op.inputs[0]]


def lower_concatenation(step: Step, graph: Graph) -> None:
    op = step.op
    ins, y = _io(step, graph, len(op.inputs))
    rank = len(y.shape)
    axis = op.options.axis + rank if op.options.axis < 0 else op.options.axis
    if not 0 <= axis < rank or any(len(t.shape) != rank for t in ins):
        raise refuse(op, graph, f"axis {op.options.axis} of {list(y.shape)}")
    for t in ins:
        if np.float32(t.scale) != np.float32(y.scale) or t.zero_point != y.zero_point:
            raise refuse(op, graph, "its inputs and output are quantized differently (TFLite Micro requires the same)")
    if _activation(step, graph, op.options, y) != (-128, 127):
        raise refuse(op, graph, "a fused activation on a concatenation")
    inner = int(np.prod(y.shape[axis + 1 :], dtype=np.int64))
    blocks = [t.shape[axis] * inner for t in ins]
    if sum(blocks) * int(np.prod(y.shape[:axis], dtype=np.int64)) != y.size:
        raise refuse(op, graph, f"inputs {[list(t.shape) for t in ins]} do not make {list(y.shape)}")
    step.kernel, step.params_type = "concatenation_s8", "concatenation_params"
    step.arrays.append(Array(f"op{op.index}_blocks", "int32_t", np.asarray(blocks, np.int64), "bytes per input and outer index"))
    step.params = dict(outer=int(np.prod(y.shape[:axis], dtype=np.int64)), inputs=len(ins), block=f"op{op.index}_blocks")
    step.reads = list(op.inputs)


def lower_softmax(step: Step, graph: Graph) -> None:
    (x,), y = _io(step, graph, 1)
    if y.zero_point != -128 or np.float32(y.scale) != np.float32(1 / 256):
        raise refuse(step.op, graph, f"output scale {y.scale} and zero point {y.zero_point} (TFLite Micro requires "
                     "1/256 and -128)")
    depth = x.shape[-1] if x.shape else 1
    step.kernel, step.params_type = "softmax_s8", "softmax_params"
    step.params = dict(rows=x.size // depth, depth=depth, **softmax_parameters(step.op.options.beta, x.scale))
    step.reads = [step.op.inputs[0]]


def lower_logistic(step: Step, graph: Graph) -> None:
    (x,), y = _io(step, graph, 1)
    if y.zero_point != -128:
        raise refuse(step.op, graph, f"output zero point {y.zero_point} (TFLite Micro requires -128)")
    step.kernel, step.params_type = "logistic_s8", "logistic_params"
    step.params = dict(size=x.size, **logistic_parameters(x.scale, x.zero_point))
    step.reads, step.in_place = [step.op.inputs[0]], (0,)


def lower_hard_swish(step: Step, graph: Graph) -> None:
    (x,), y = _io(step, graph, 1)
    step.kernel, step.params_type = "hard_swish_s8", "hard_swish_params"
    step.params = dict(size=x.size, **hard_swish_parameters(x.scale, x.zero_point, y.scale, y.zero_point))
    step.reads, step.in_place = [step.op.inputs[0]], (0,)


def lower_quantize(step: Step, graph: Graph) -> None:
    (x,), y = _io(step, graph, 1)
    multiplier, shift = quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(y.scale)))
    step.kernel, step.params_type = "requantize_s8", "requantize_params"
    step.params = dict(size=x.size, input_zero_point=x.zero_point, output_zero_point=y.zero_point,
                       multiplier=multiplier, shift=shift)
    step.reads, step.in_place = [step.op.inputs[0]], (0,)


LOWERINGS = {
    "CONV_2D": lower_conv, "DEPTHWISE_CONV_2D": lower_depthwise_conv, "FULLY_CONNECTED": lower_fully_connected,
    "AVERAGE_POOL_2D": lower_pool, "MAX_POOL_2D": lower_pool, "ADD": lower_binary, "SUB": lower_binary,
    "MUL": lower_binary, "MEAN": lower_mean, "PAD": lower_pad, "PADV2": lower_pad, "CONCATENATION": lower_concatenation,
    "SOFTMAX": lower_softmax, "LOGISTIC": lower_logistic, "HARD_SWISH": lower_hard_swish, "QUANTIZE": lower_quantize,
    **{op: lower_alias for op in ALIASES},
}
