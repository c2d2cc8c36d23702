"""Where int8 loses accuracy: layer by layer, the int8 model's activations on the
calibration images (read from LiteRT with every tensor preserved, dequantized with each
tensor's own scale and zero point) against the float Keras model's, ranked by the error each
layer adds; then the fix that points to (keep the worst layer in float, through LiteRT's
quantization debugger), built and measured.

The error of a layer is per output unit: RMS(int8 - float) / RMS(float) of that unit,
averaged over the units. Per unit, because an outlier unit stretches the layer's single
activation scale: its own error stays small while every other unit gets coarse steps."""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from runtime.parity import Reference, compare
from runtime.tables import text_table

from .tflite_export import tflite_converter

WORST_LAYER_WARNING = 0.05
"""Error added by a layer above which it is named as the likely cause."""


@dataclass
class LayerError:
    """One layer's int8 output against the float model's, on the calibration images."""

    layer: str
    """Keras layer name."""
    tensor: str
    """The int8 model's tensor name for the layer's output (what the debugger's denylist takes)."""
    error: float
    """Mean over units of RMS(int8 - float) / RMS(float) at this layer's output."""
    added: float
    """error minus the error of the layer's input: what this layer's quantization adds."""
    scale: float
    """The output tensor's quantization scale."""
    outlier_ratio: float
    """Largest unit's RMS over the median unit's RMS: a big number is a stretched range."""


@dataclass
class Diagnosis:
    artifact: str
    calibration: str
    layers: list = field(default_factory=list)
    """Worst first."""
    suggestion: str = ""
    """The best of the changes tried, with its measured effect and the others'."""
    agreement: Optional[float] = None
    """Top-1 agreement with the Keras model of the int8 model as converted."""
    fixed_agreement: Optional[float] = None
    """The same with the worst layer kept in float."""


def _quiet():
    """The converter prints its SavedModel signature and status lines; LiteRT warns about
    preserved tensors."""
    from runtime.native_output import filtered_stderr

    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(filtered_stderr())
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def unit_error(quantized: np.ndarray, reference: np.ndarray) -> float:
    """Mean over units (last axis) of RMS(quantized - reference) / RMS(reference); dead units
    (all zero in the reference) are left out."""
    ref = reference.reshape(-1, reference.shape[-1]).astype(np.float64)
    q = quantized.reshape(ref.shape).astype(np.float64)
    signal = np.sqrt(np.mean(ref ** 2, axis=0))
    alive = signal > 0
    if not alive.any():
        return 0.0
    return float(np.mean(np.sqrt(np.mean((q - ref) ** 2, axis=0))[alive] / signal[alive]))


QUANTIZED_LAYERS = {"Dense": "FULLY_CONNECTED", "Conv2D": "CONV_2D", "DepthwiseConv2D": "DEPTHWISE_CONV_2D"}
"""Keras layers the diagnosis measures, and the TFLite op each becomes."""
PASSED_THROUGH = ("InputLayer", "Flatten", "Reshape", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
                  "GlobalMaxPooling2D", "Dropout", "Rescaling", "ZeroPadding2D", "Softmax", "ReLU")
"""Layers it runs in float on the way but does not measure (no weights of their own)."""
FUSED_ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0), "relu6": lambda z: np.clip(z, 0, 6)}
"""Activations TFLite fuses into the op (its output is after them); others are ops of their own."""


class DiagnosisError(ValueError):
    """The model holds layers the diagnosis cannot pair with the int8 model's ops."""


def _check_layers(model) -> list:
    """The layers to measure, or DiagnosisError naming the first layer type it cannot analyse."""
    for layer in model.layers:
        kind = layer.__class__.__name__
        if kind not in QUANTIZED_LAYERS and kind not in PASSED_THROUGH:
            raise DiagnosisError(f"it analyses {', '.join(QUANTIZED_LAYERS)} layers (with pooling, reshaping and "
                                 f"dropout between them), and {model.name} has a {kind} layer ({layer.name})")
    measured = [layer for layer in model.layers if layer.__class__.__name__ in QUANTIZED_LAYERS]
    if not measured:
        raise DiagnosisError(f"{model.name} has no {', '.join(QUANTIZED_LAYERS)} layer to analyse")
    return measured


def _float_activations(model, images: np.ndarray) -> list:
    """Each measured layer's output in float, as the int8 op computes it: after a fused
    activation (relu), before any other (softmax, tanh ... are ops of their own in TFLite)."""
    x = images.astype(np.float32)
    outputs = []
    for layer in model.layers:
        kind = layer.__class__.__name__
        if kind == "InputLayer":
            continue
        if kind not in QUANTIZED_LAYERS:
            x = np.asarray(layer(x, training=False) if kind == "Dropout" else layer(x))
            continue
        config = dict(layer.get_config(), activation="linear")
        linear = layer.__class__.from_config(config)
        linear.build(x.shape)
        linear.set_weights(layer.get_weights())
        z = np.asarray(linear(x), dtype=np.float64)
        activation = layer.get_config().get("activation")
        fused = FUSED_ACTIVATIONS.get(activation) if isinstance(activation, str) else None
        out = fused(z) if fused else z
        outputs.append((layer.name, out))
        x = np.asarray(layer(x))
    return outputs


def _int8_activations(data: bytes, images: np.ndarray) -> list:
    """Each FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D output of the int8 model, in op
    order, dequantized: (tensor name, values, scale)."""
    from ai_edge_litert.interpreter import Interpreter

    from runtime.contract import quantize

    with _quiet():
        interpreter = Interpreter(model_content=data, experimental_preserve_all_tensors=True)
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], [len(images), *images.shape[1:]])
    interpreter.allocate_tensors()
    scale, zero_point = inp["quantization"]
    interpreter.set_tensor(inp["index"], quantize(images, scale, zero_point, np.int8))
    interpreter.invoke()
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    outputs = []
    for op in interpreter._get_ops_details():
        if op["op_name"] not in QUANTIZED_LAYERS.values():
            continue
        tensor = details[int(op["outputs"][0])]
        t_scale, t_zero = tensor["quantization"]
        values = t_scale * (interpreter.get_tensor(tensor["index"]).astype(np.float64) - t_zero)
        outputs.append((tensor["name"], values, t_scale))
    return outputs


def diagnose_tflite(model, calibration: np.ndarray, reference: Reference, contract, per_channel: bool = True,
                    artifact: str = "model_int8.tflite") -> Diagnosis:
    """Compares the int8 conversion of `model` with the model itself, layer by layer, on the
    calibration images, and measures the suggested fix on the reference images."""
    _check_layers(model)
    converter = tflite_converter(model, "int8", calibration, per_channel)
    with _quiet():
        data = converter.convert()
    floats = _float_activations(model, calibration)
    quantized = _int8_activations(data, calibration)
    if len(floats) != len(quantized):
        raise DiagnosisError(f"{model.name} has {len(floats)} Dense/Conv layers but its int8 model has {len(quantized)} "
                             "such ops (the converter merged or split some): cannot pair them")
    granularity = "per-channel" if per_channel else "per-tensor"
    diagnosis = Diagnosis(artifact, f"{len(calibration)} images, {granularity}")
    previous = 0.0
    for (layer, float_out), (tensor, int8_out, scale) in zip(floats, quantized):
        error = unit_error(int8_out, float_out)
        units = np.sqrt(np.mean(float_out.reshape(-1, float_out.shape[-1]) ** 2, axis=0))
        median = float(np.median(units[units > 0])) if (units > 0).any() else 1.0
        diagnosis.layers.append(LayerError(layer, tensor, error, error - previous, float(scale),
                                           float(units.max() / median)))
        previous = error
    diagnosis.layers.sort(key=lambda layer: layer.added, reverse=True)
    diagnosis.agreement = _agreement(data, reference, contract)

    in_order = [layer for layer, _ in floats]
    worst = diagnosis.layers[0]
    after = in_order.index(worst.layer) + 1
    by_name = {layer.layer: layer for layer in diagnosis.layers}
    # The worst layer alone, then with its consumer: a stretched output range is also the
    # input range of the next int8 layer, so keeping only the producer in float may not help.
    candidates = [[worst]] + ([[worst, by_name[in_order[after]]]] if after < len(in_order) else [])
    options = []
    for layers in candidates:
        names = " and ".join(layer.layer for layer in layers)
        data = _keep_in_float(model, calibration, per_channel, [layer.tensor for layer in layers])
        options.append((f"keep {names} in float", _agreement(data, reference, contract)))
    other = "per-tensor" if per_channel else "per-channel"
    with _quiet():
        data = tflite_converter(model, "int8", calibration, not per_channel).convert()
    options.append((f"quantize weights {other} ({'--per-tensor' if per_channel else 'drop --per-tensor'})",
                    _agreement(data, reference, contract)))
    change, diagnosis.fixed_agreement = max(options, key=lambda option: option[1])
    tried = "; ".join(f"{name} {agreement:.2%}" for name, agreement in options)
    if diagnosis.fixed_agreement > diagnosis.agreement:
        diagnosis.suggestion = (f"{change}: top-1 agreement {diagnosis.agreement:.2%} -> {diagnosis.fixed_agreement:.2%} "
                                f"on the reference images (measured; tried: {tried})")
    else:
        diagnosis.suggestion = (f"keep it as it is: no change tried beats its {diagnosis.agreement:.2%} top-1 agreement "
                                f"(tried: {tried})")
    return diagnosis


def _keep_in_float(model, calibration: np.ndarray, per_channel: bool, tensors: list) -> bytes:
    """The int8 model with the ops producing `tensors` left in float (LiteRT's debugger)."""
    import tensorflow as tf

    def dataset():
        for image in calibration:
            yield [image[np.newaxis]]

    with _quiet():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=tflite_converter(model, "int8", calibration, per_channel), debug_dataset=dataset,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=tensors))
        return debugger.get_nondebug_quantized_model()


def _agreement(data: bytes, reference: Reference, contract) -> float:
    import runtime

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "candidate.tflite"
        path.write_bytes(data)
        probs = runtime.load(path, contract=contract, isolate=False).predict(reference.images)
    return compare(path.name, "int8", len(data), probs, reference).agreement


def format_diagnosis(diagnosis: Diagnosis) -> str:
    lines = [f"Quantization diagnosis of {diagnosis.artifact} (calibration {diagnosis.calibration}): "
             "each Dense/Conv layer's int8 output against the float model's, worst first"]
    header = ("rank", "layer", "error", "added", "scale", "largest/median unit")
    rows = [(str(i + 1), layer.layer, f"{layer.error:.2%}", f"{layer.added:+.2%}", f"{layer.scale:.3g}",
             f"{layer.outlier_ratio:.1f}x") for i, layer in enumerate(diagnosis.layers)]
    lines += text_table(header, rows, rule=False)
    worst = diagnosis.layers[0] if diagnosis.layers else None
    if worst is not None and worst.added > WORST_LAYER_WARNING:
        cause = (f"one unit's output is {worst.outlier_ratio:.0f}x the median unit's, so the layer's single "
                 f"activation scale ({worst.scale:.3g}) is coarse for all the others"
                 if worst.outlier_ratio > 10 else "its activations do not fit int8 well")
        lines.append(f"{worst.layer} adds the most error ({worst.added:.1%}): {cause}.")
    if diagnosis.suggestion:
        lines.append(f"Suggestion: {diagnosis.suggestion}.")
    return "\n".join(lines)
