"""The integer rescaling parameters TFLite Micro computes when it prepares each op, computed
the same way here, once, at generation time: the C engine stores the results as constants.

Every function follows TFLite's own (tensorflow/lite/kernels/internal/quantization_util.cc,
kernel_util.cc and the micro kernels' Prepare functions) step for step, including where it
computes in float32 and where in double: a multiplier one unit off changes outputs."""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class QuantizationError(ValueError):
    """A scale that TFLite Micro's Prepare would refuse (or crash on)."""


def round_half_away(x: float) -> float:
    """std::round: halves away from zero (Python's round() takes them to even)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def f32(x) -> np.float32:
    return np.float32(x)


def quantize_multiplier(real: float) -> tuple:
    """QuantizeMultiplier(double): (multiplier in Q0.31, shift), real = multiplier * 2^(shift - 31)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    fixed = int(round_half_away(fraction * (1 << 31)))
    if fixed > (1 << 31):
        raise QuantizationError(f"multiplier {real!r} does not fit in 32 bits")
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if fixed > INT32_MAX:
        raise QuantizationError(f"multiplier {real!r} does not fit in 32 bits")
    return fixed, shift


def quantize_multiplier_greater_than_one(real: float) -> tuple:
    if not real > 1.0:
        raise QuantizationError(f"expected a multiplier above 1, got {real!r}")
    return quantize_multiplier(real)


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple:
    if not 0.0 < real < 1.0:
        raise QuantizationError(f"expected a multiplier in (0, 1), got {real!r}")
    multiplier, shift = quantize_multiplier(real)
    if shift > 0:
        raise QuantizationError(f"multiplier {real!r} rounds to a left shift")
    return multiplier, shift


def quantize_value(scale: float, zero_point: int, value: float) -> int:
    """kernel_util.cc's Quantize: zero_point + round(value / scale), the division in float32."""
    q = round_half_away(float(f32(value) / f32(scale)))
    if not INT32_MIN <= q <= INT32_MAX:
        raise QuantizationError(f"{value} / {scale} overflows int32")
    return zero_point + int(q)


FUSED_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
"""The fused activations TFLite Micro's int8 kernels clamp to (TANH and SIGN_BIT it rejects)."""


def activation_range(activation: int, scale: float, zero_point: int) -> tuple:
    """CalculateActivationRangeQuantized for int8: the clamp a fused activation becomes."""
    low, high = -128, 127
    if activation == 0:
        return low, high
    if activation == 1:
        return max(low, quantize_value(scale, zero_point, 0.0)), high
    if activation == 3:
        return max(low, quantize_value(scale, zero_point, 0.0)), min(high, quantize_value(scale, zero_point, 6.0))
    if activation == 2:
        return max(low, quantize_value(scale, zero_point, -1.0)), min(high, quantize_value(scale, zero_point, 1.0))
    raise QuantizationError(f"fused activation {activation} has no int8 clamp")


def per_channel_multipliers(input_scale: float, filter_scales, output_scale: float, channels: int) -> tuple:
    """PopulateConvolutionQuantizationParams (CONV_2D, DEPTHWISE_CONV_2D) and the per-channel
    FULLY_CONNECTED: input * filter[c] / output in double, per output channel; one filter
    scale is broadcast to every channel."""
    multipliers, shifts = [], []
    for c in range(channels):
        scale = filter_scales[c] if len(filter_scales) > 1 else filter_scales[0]
        real = float(f32(input_scale)) * float(f32(scale)) / float(f32(output_scale))
        m, s = quantize_multiplier(real)
        multipliers.append(m)
        shifts.append(s)
    return multipliers, shifts


def per_tensor_fully_connected_multiplier(input_scale: float, filter_scale: float, output_scale: float) -> tuple:
    """GetQuantizedConvolutionMultipler: the product of the scales in float32, then double."""
    product = float(f32(input_scale) * f32(filter_scale))
    if product < 0:
        raise QuantizationError("negative scale product")
    return quantize_multiplier(product / float(f32(output_scale)))


def add_parameters(scale1: float, scale2: float, output_scale: float) -> dict:
    """CalculateOpDataAdd for int8 (left shift 20)."""
    left_shift = 20
    twice_max = 2 * float(max(f32(scale1), f32(scale2)))
    m1, s1 = quantize_multiplier_smaller_than_one_exp(float(f32(scale1)) / twice_max)
    m2, s2 = quantize_multiplier_smaller_than_one_exp(float(f32(scale2)) / twice_max)
    mo, so = quantize_multiplier_smaller_than_one_exp(twice_max / ((1 << left_shift) * float(f32(output_scale))))
    return {"left_shift": left_shift, "input1_multiplier": m1, "input1_shift": s1, "input2_multiplier": m2,
            "input2_shift": s2, "output_multiplier": mo, "output_shift": so}


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple:
    """PrepareMeanOrSumHelper's multiplier, then QuantizedMeanOrSum's folding of 1/count."""
    multiplier, shift = quantize_multiplier(float(f32(input_scale)) / float(f32(output_scale)))
    if count <= 0:
        raise QuantizationError("MEAN over no elements")
    extra = count.bit_length() - 1
    extra = min(extra, 32, 31 + shift)
    multiplier = (multiplier << extra) // count
    if not INT32_MIN <= multiplier <= INT32_MAX:
        raise QuantizationError("MEAN multiplier overflows int32")
    return multiplier, shift - extra


def softmax_parameters(beta: float, input_scale: float) -> dict:
    """CalculateSoftmaxParams for int8: PreprocessSoftmaxScaling with 5 integer bits, and
    CalculateInputRadius for diff_min."""
    integer_bits = 5
    real = min(float(f32(beta)) * float(f32(input_scale)) * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    multiplier, left_shift = quantize_multiplier_greater_than_one(real)
    radius = math.floor(((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift))
    return {"input_multiplier": multiplier, "input_left_shift": left_shift, "diff_min": -radius}


def logistic_parameters(input_scale: float, input_zero_point: int) -> dict:
    """CalculateArithmeticOpDataLogistic for int8: the input in Q4.27 (frexp and round, no
    normalisation), and the radius beyond which the output saturates."""
    integer_bits = 4
    real = float(f32(input_scale)) * float(1 << (31 - integer_bits))
    fraction, left_shift = math.frexp(real)
    multiplier = int(round_half_away(fraction * (1 << 31)))
    if multiplier > INT32_MAX or left_shift < 0:
        raise QuantizationError(f"input scale {input_scale} is outside what the int8 LOGISTIC kernel takes")
    radius = math.floor(((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift))
    return {"input_zero_point": input_zero_point, "input_range_radius": radius, "input_multiplier": multiplier,
            "input_left_shift": left_shift}


def downscale_multiplier_to_int16(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier."""
    if multiplier >= INT32_MAX - (1 << 15):
        return 2**15 - 1
    return (multiplier + (1 << 15)) >> 16


def hard_swish_parameters(input_scale: float, input_zero_point: int, output_scale: float,
                          output_zero_point: int) -> dict:
    """HardSwishPrepare for int8: the scales are combined in float32, then quantized."""
    hires_input_scale = f32(1.0 / 128.0) * f32(input_scale)
    reluish_scale = f32(3.0) / f32(32768.0)
    output_multiplier, output_exponent = quantize_multiplier(float(hires_input_scale / f32(output_scale)))
    if output_exponent > 0:
        raise QuantizationError("HARD_SWISH's output multiplier would need a left shift")
    reluish_multiplier, reluish_exponent = quantize_multiplier(float(hires_input_scale / reluish_scale))
    return {"input_zero_point": input_zero_point, "output_zero_point": output_zero_point,
            "output_multiplier_fixedpoint_int16": downscale_multiplier_to_int16(output_multiplier),
            "output_multiplier_exponent": output_exponent,
            "reluish_multiplier_fixedpoint_int16": downscale_multiplier_to_int16(reluish_multiplier),
            "reluish_multiplier_exponent": reluish_exponent}


def sub_parameters(scale1: float, scale2: float, output_scale: float) -> dict:
    """CalculateOpDataSub for int8: as ADD's, but TFLite Micro combines the scales in float32."""
    left_shift = 20
    twice_max = f32(2) * max(f32(scale1), f32(scale2))
    m1, s1 = quantize_multiplier_smaller_than_one_exp(float(f32(scale1) / twice_max))
    m2, s2 = quantize_multiplier_smaller_than_one_exp(float(f32(scale2) / twice_max))
    mo, so = quantize_multiplier_smaller_than_one_exp(float(twice_max / (f32(1 << left_shift) * f32(output_scale))))
    return {"left_shift": left_shift, "input1_multiplier": m1, "input1_shift": s1, "input2_multiplier": m2,
            "input2_shift": s2, "output_multiplier": mo, "output_shift": so}
