"""Where int8 loses accuracy, for any architecture: op by op, at the level of the converted
graph's tensors. The int8 .tflite and the float32 .tflite of the same Keras model run the
same calibration images in LiteRT with every tensor preserved; each int8 op's output,
dequantized with its own scale and zero point, is compared with the float tensor of the
same name. Nested models, BatchNorm (folded into the convolutions), Add, depthwise and
separable convolutions, Mean, squeeze-excite and hard-swish are all just ops there;
augmentation layers are not in the inference graph at all.

The ops are ranked by the error each adds, then the fixes that points to are built
(int8_variants: the worst ops kept in float, the other weight granularity, int16
activations) and measured on the reference images.

The error of an op's output is per unit (the last axis: channels, features):
RMS(int8 - float) / RMS(float) of that unit, averaged over the units. Per unit, because an
outlier unit stretches the tensor's single activation scale: its own error stays small
while every other unit gets coarse steps. What an op adds is its output's error minus the
largest error among its inputs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from runtime.store.bundles import Reference
from runtime.tables import plural, text_table

from .int8_variants import Quantizer, Variant, build_and_measure, quiet
from .tflite_export import tflite_bytes

WORST_OP_WARNING = 0.05
"""Error added by an op above which it is named as the likely cause."""
DIAGNOSIS_IMAGES = 200
"""Calibration images run through both models, tensor by tensor (the first ones)."""
CHUNK = 8
"""Images per invoke: every tensor of the graph is kept for each, so memory grows with it."""
HARMFUL = 0.001
"""Error an op must add (0.1%) to be worth keeping in float: a RESHAPE adds rounding noise only."""
SHOWN_OPS = 15
"""Rows of the printed ranking (the Diagnosis holds every op)."""


@dataclass
class OpError:
    """One op's int8 output against the float model's tensor of the same name."""

    op: str
    """The TFLite op, e.g. CONV_2D."""
    index: int
    """Its position in the int8 graph."""
    tensor: str
    """Its output tensor's name: what the debugger's denylisted_nodes takes to keep it in float."""
    layers: str
    """The Keras layers it computes, read from the tensor name (conv+bn+relu are one op)."""
    error: float
    """Mean over units of RMS(int8 - float) / RMS(float) at this op's output."""
    added: float
    """error minus the largest error among its inputs: what this op's quantization adds."""
    scale: float
    """The output tensor's quantization scale."""
    outlier_ratio: float
    """Largest unit's RMS over the median unit's RMS: a big number is a stretched range."""


@dataclass
class Diagnosis:
    artifact: str
    calibration: str
    ops: list = field(default_factory=list)
    """OpError, worst (largest `added`) first."""
    compared: int = 0
    """Ops of the int8 graph whose quantized output was compared with the float tensor of
    the same name."""
    quantized_ops: int = 0
    """Ops with a quantized output (the others compute shapes and indices, in int32)."""
    total_ops: int = 0
    fixes: list = field(default_factory=list)
    """int8_variants.Measured, the model as converted first, then each fix tried."""
    suggestion: str = ""
    """The best of the fixes tried, with its measured effect and the others'."""
    agreement: Optional[float] = None
    """Top-1 agreement with the Keras model of the int8 model as converted."""
    fixed_agreement: Optional[float] = None
    """The best agreement among the fixes."""


class DiagnosisError(ValueError):
    """The int8 graph has no op that can be compared with the float graph."""


class UnitSums:
    """Per-unit sums of squares, accumulated over batches of images (the error measure of
    this module's docstring; convert/onnx_fallback.py ranks ONNX nodes with it too)."""

    def __init__(self, units: int):
        self.signal = np.zeros(units)
        self.noise = np.zeros(units)

    def add(self, q: np.ndarray, ref: np.ndarray) -> None:
        self.signal += np.sum(ref ** 2, axis=0)
        self.noise += np.sum((q - ref) ** 2, axis=0)

    def error(self) -> float:
        alive = self.signal > 0
        if not alive.any():
            return 0.0
        return float(np.mean(np.sqrt(self.noise[alive] / self.signal[alive])))

    def outlier_ratio(self) -> float:
        alive = self.signal[self.signal > 0]
        return float(np.sqrt(alive.max() / np.median(alive))) if alive.size else 1.0


def keras_layer_names(model) -> set:
    """Every layer name in the model, nested models' layers included."""
    names = set()
    for layer in getattr(model, "layers", []):
        names.add(layer.name)
        names |= keras_layer_names(layer)
    return names


def layers_of(tensor: str, names: set, scope_suffix: bool) -> str:
    """The Keras layers a fused op's tensor name mentions, first computed first. Each
    ';'-separated piece is a TensorFlow op path; its deepest component that is a layer name
    counts. With `scope_suffix`, TensorFlow added _1 to every name scope (Keras 3 traces the
    model twice), so one trailing _N is removed first."""
    found = []
    for piece in tensor.split(";"):
        match = None
        for part in piece.split("/")[:-1]:
            candidate = re.sub(r"_\d+$", "", part) if scope_suffix else part
            if candidate in names:
                match = candidate
        if match and match not in found:
            found.append(match)
    return "+".join(reversed(found)) if found else tensor.split(";")[0]


def short_layers(layers: str) -> str:
    """The first layer of a fused op and how many more: block_1_expand (+2)."""
    names = layers.split("+")
    return names[0] + (f" (+{len(names) - 1})" if len(names) > 1 else "")


def _interpreter(data: bytes):
    from ai_edge_litert.interpreter import Interpreter

    with quiet():
        return Interpreter(model_content=data, experimental_preserve_all_tensors=True)


def _set_input(interpreter, images: np.ndarray) -> None:
    from runtime.contract import quantize

    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], [len(images), *images.shape[1:]])
    interpreter.allocate_tensors()
    scale, zero_point = inp["quantization"]
    if np.issubdtype(inp["dtype"], np.integer):
        interpreter.set_tensor(inp["index"], quantize(images, scale, zero_point, inp["dtype"]))
    else:
        interpreter.set_tensor(inp["index"], images.astype(np.float32))


def compare_ops(int8_data: bytes, float_data: bytes, images: np.ndarray, model) -> tuple:
    """(OpError of every comparable op in graph order, ops with a quantized output, ops in
    the int8 graph)."""
    quantized, floating = _interpreter(int8_data), _interpreter(float_data)
    q_tensors = {t["index"]: t for t in quantized.get_tensor_details()}
    f_index = {t["name"]: t["index"] for t in floating.get_tensor_details()}
    ops = quantized._get_ops_details()  # LiteRT's own graph listing, as its QuantizationDebugger reads it
    graph_outputs = {int(d["index"]) for d in quantized.get_output_details()}
    # A float32 output made by a final DEQUANTIZE (convert's int8 artifact) has the float graph's
    # output name; the int8 tensor it dequantizes is what is compared with that float tensor.
    float_name = {int(op["inputs"][0]): q_tensors[int(op["outputs"][0])]["name"] for op in ops
                  if op["op_name"] == "DEQUANTIZE" and len(op["outputs"]) and int(op["outputs"][0]) in graph_outputs}
    measured, quantized_ops = [], 0
    for op in ops:
        outputs = [int(i) for i in op["outputs"]]
        tensor = q_tensors[outputs[0]] if outputs else None
        if tensor is None or not (np.issubdtype(tensor["dtype"], np.integer) and tensor["quantization"][0] > 0):
            continue
        quantized_ops += 1
        if int(tensor["index"]) in float_name:
            graph_outputs.add(int(tensor["index"]))
            tensor = dict(tensor, name=float_name[int(tensor["index"])])
        if tensor["name"] in f_index:
            measured.append((op, tensor))
    if not measured:
        raise DiagnosisError(f"{model.name}: no op of its int8 graph has a quantized output with a float twin to compare")
    sums = {}
    images = np.asarray(images, np.float32)
    for start in range(0, len(images), CHUNK):
        batch = images[start : start + CHUNK]
        _set_input(quantized, batch)
        _set_input(floating, batch)
        quantized.invoke()
        floating.invoke()
        for op, tensor in measured:
            ref = floating.get_tensor(f_index[tensor["name"]]).astype(np.float64)
            scale, zero_point = tensor["quantization"]
            q = scale * (quantized.get_tensor(tensor["index"]).astype(np.float64) - zero_point)
            if q.shape != ref.shape:
                continue
            units = ref.shape[-1] if ref.ndim else 1
            sums.setdefault(op["index"], UnitSums(units)).add(q.reshape(-1, units), ref.reshape(-1, units))
    names = keras_layer_names(model)
    first = measured[0][1]["name"].split(";")[0].split("/")[0]
    scope_suffix = first != model.name and re.sub(r"_\d+$", "", first) == model.name
    producer_error = {}
    result = []
    for op, tensor in measured:
        if op["index"] not in sums:
            continue
        total = sums[op["index"]].error()
        inputs = [producer_error.get(int(i), 0.0) for i in op["inputs"] if int(i) >= 0]
        producer_error[int(tensor["index"])] = total
        layers = layers_of(tensor["name"], names, scope_suffix)
        if layers == tensor["name"].split(";")[0] and int(tensor["index"]) in graph_outputs and model.layers:
            layers = model.layers[-1].name  # TensorFlow names the output tensor after the call, not the layer
        result.append(OpError(op["op_name"], int(op["index"]), tensor["name"], layers,
                              total, total - max(inputs, default=0.0), float(tensor["quantization"][0]),
                              sums[op["index"]].outlier_ratio()))
    return result, quantized_ops, len(ops)


def consumers(int8_data: bytes, tensor: str) -> list:
    """Output tensor names of the ops that read `tensor` in the int8 graph."""
    interpreter = _interpreter(int8_data)
    details = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    index = next(i for i, name in details.items() if name == tensor)
    return [details[int(op["outputs"][0])] for op in interpreter._get_ops_details()
            if index in [int(i) for i in op["inputs"]] and len(op["outputs"])]


def fixes_to_try(ranked: list, int8_data: bytes, per_channel: bool) -> list:
    """The fixes the ranking points to, cheapest first: the worst op in float; it and the
    ops that read its output (a stretched range is also their input's range); the three
    worst that add error (more than HARMFUL); the other weight granularity; int16 activations."""
    layers = {op.tensor: op.layers for op in ranked}
    harmful = [op.tensor for op in ranked if op.added > HARMFUL] or [ranked[0].tensor]
    worst = harmful[0]
    sets = [[worst], [worst] + [t for t in consumers(int8_data, worst) if t in layers], harmful[:3]]
    variants, seen = [], set()
    for tensors in sets:
        key = frozenset(tensors)
        if key in seen:
            continue
        seen.add(key)
        variants.append(Variant(per_channel, tuple(tensors), tuple(short_layers(layers[t]) for t in tensors)))
    return variants + [Variant(not per_channel), Variant(per_channel, activations="int16")]


def diagnose_tflite(model, calibration: np.ndarray, reference: Reference, contract, per_channel: bool = True,
                    artifact: str = "model_int8.tflite") -> Diagnosis:
    """Compares the int8 conversion of `model` with its float32 conversion op by op on the
    first DIAGNOSIS_IMAGES calibration images, and measures the fixes on the reference images."""
    quantizer = Quantizer(model, calibration)
    plain = build_and_measure(quantizer, Variant(per_channel), reference, contract)
    if plain.failure:
        raise DiagnosisError(f"{model.name}: the int8 conversion failed ({plain.failure})")
    float_data = tflite_bytes(model, "float32")
    images = np.asarray(calibration[:DIAGNOSIS_IMAGES], np.float32)
    ranked, quantized_ops, total = compare_ops(plain.data, float_data, images, model)
    granularity = "per-channel" if per_channel else "per-tensor"
    diagnosis = Diagnosis(artifact, f"{len(calibration)} {plural(len(calibration), 'image')}, {granularity}", compared=len(ranked),
                          quantized_ops=quantized_ops, total_ops=total)
    diagnosis.ops = sorted(ranked, key=lambda op: op.added, reverse=True)
    diagnosis.agreement = plain.agreement
    diagnosis.fixes = [plain] + [build_and_measure(quantizer, v, reference, contract)
                                 for v in fixes_to_try(diagnosis.ops, plain.data, per_channel)]
    ran = [m for m in diagnosis.fixes[1:] if not m.failure]
    failed = len(diagnosis.fixes) - 1 - len(ran)
    tried = f"{len(diagnosis.fixes) - 1} fixes tried" + (f", {failed} failed" if failed else "")
    best = max(ran, key=lambda m: m.agreement, default=None)
    diagnosis.fixed_agreement = best.agreement if best else None
    if best is not None and best.agreement > plain.agreement:
        diagnosis.suggestion = (f"{best.variant.describe()}: top-1 agreement {plain.agreement:.2%} -> {best.agreement:.2%} "
                                f"on the reference images (measured, {tried})")
    else:
        diagnosis.suggestion = (f"keep it as it is: no change tried beats its {plain.agreement:.2%} top-1 agreement "
                                f"({tried})")
    return diagnosis


def format_diagnosis(diagnosis: Diagnosis) -> str:
    shown = diagnosis.ops[:SHOWN_OPS]
    lines = [f"Quantization diagnosis of {diagnosis.artifact} (calibration {diagnosis.calibration}): each int8 op's "
             f"output against the float model's tensor, {diagnosis.compared} of {diagnosis.quantized_ops} quantized ops "
             f"({diagnosis.total_ops} in the graph) compared, "
             f"worst first" + (f" ({len(shown)} shown)" if len(shown) < len(diagnosis.ops) else "")]
    header = ("rank", "op", "layers", "error", "added", "scale", "largest/median unit")
    rows = [(str(i + 1), f"{op.op}#{op.index}", short_layers(op.layers), f"{op.error:.2%}", f"{op.added:+.2%}", f"{op.scale:.3g}",
             f"{op.outlier_ratio:.1f}x") for i, op in enumerate(shown)]
    lines += text_table(header, rows, rule=False)
    worst = diagnosis.ops[0] if diagnosis.ops else None
    if worst is not None and worst.added > WORST_OP_WARNING:
        cause = (f"one unit's output is {worst.outlier_ratio:.0f}x the median unit's, so the tensor's single "
                 f"activation scale ({worst.scale:.3g}) is coarse for all the others"
                 if worst.outlier_ratio > 10 else "its activations do not fit int8 well")
        lines.append(f"{short_layers(worst.layers)} ({worst.op}#{worst.index}) adds the most error ({worst.added:.1%}): {cause}.")
    if diagnosis.fixes:
        lines.append("Fixes measured on the reference images:")
        plain = diagnosis.fixes[0]
        rows = []
        for m in diagnosis.fixes:
            if m.failure:
                rows.append((m.variant.describe(), "-", "-", "-", m.failure[:80]))
                continue
            rows.append((m.variant.describe() + (" (as converted)" if m is plain else ""), f"{m.agreement:.2%}",
                         f"{m.size / 1024:.1f} KiB ({m.size / plain.size - 1:+.0%})",
                         f"{m.ms_per_image:.3f} ({m.ms_per_image / plain.ms_per_image:.1f}x)", ""))
        lines += text_table(("variant", "agreement", "size", "ms/image", "failure"), rows, rule=False)
    if diagnosis.suggestion:
        lines.append(f"Suggestion: {diagnosis.suggestion}.")
    return "\n".join(lines)
