"""ONNX int8 that meets the user's budget: when onnxruntime's plain int8 quantization is not
verified, the measured fixes, cheapest first, until the caller's judge verifies one. The twin
of convert/int8_fallback.py for ONNX files, with the same judge, records and order of cost.

7-bit weights (`reduce_range`) and the other weight granularity cost nothing at run time.
7-bit weights come first: onnxruntime's x86 int8 kernels without VNNI multiply u8 activations
by s8 weights in pairs summed in 16 bits, which saturate (its documentation recommends
reduce_range there); measured on tests/zoo.py's MobileNetV2, top-1 agreement with Keras went
from 92.5% to 97.3% on 1,002 held-out pictures. Keeping nodes in float costs their
weights at 4 bytes instead of 1 and float kernels: the nodes are ranked by the error their
quantization adds, tensor by tensor (onnxruntime.quantization.qdq_loss_debug collects both
models' activations; the error is convert/diagnose.py's, per unit), then the worst node group
is kept in float (`nodes_to_exclude`), then it and the groups that read its output (a
stretched range is also their input's range), then the 4, 8 ... worst. 16-bit activations come
last, with 16-bit weights (convert/onnx_export.ONNX_ACTIVATIONS says why not 8-bit ones).

A node group is the nodes between two tensors the QDQ model quantizes (a Gemm and the Relu
fused after it): keeping one of them in float while its neighbour's output is still
quantized changes nothing."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from runtime.store.bundles import Reference
from runtime.tables import plural

from .diagnose import DIAGNOSIS_IMAGES, HARMFUL, UnitSums
from .int8_fallback import MAX_FLOAT_SHARE, MIN_FLOAT_OPS, Int8Search, Judge
from .int8_variants import Measured, measure
from .onnx_export import ONNX_ACTIVATIONS, image_reader, prepare_for_quantization, quantize_prepared


@dataclass(frozen=True)
class OnnxVariant:
    """One way to quantize an ONNX model with onnxruntime's quantize_static (QDQ)."""

    per_channel: bool = True
    """Weights with one scale per output channel (False: one per tensor)."""
    float_ops: tuple = ()
    """Names of the prepared model's nodes kept in float (quantize_static's nodes_to_exclude)."""
    float_layers: tuple = ()
    """What those nodes compute, for people to read: "Gemm_1+Relu_1" per group."""
    activations: str = "int8"
    """int8, or int16 (16x16): convert.onnx_export.ONNX_ACTIVATIONS."""
    reduce_range: bool = False
    """7-bit int8 weights (onnxruntime's reduce_range)."""

    def __post_init__(self):
        if self.activations not in ONNX_ACTIVATIONS:
            raise ValueError(f"activations: got {self.activations!r}, expected one of {', '.join(ONNX_ACTIVATIONS)}")
        if self.float_ops and self.activations != "int8":
            raise ValueError("float_ops: nodes are kept in float only with int8 activations")

    def describe(self) -> str:
        weights = ("7-bit weights " if self.reduce_range else "") + ("per-channel" if self.per_channel else "per-tensor")
        if self.activations == "int16":
            return f"int16 activations, int16 weights {weights} (16x16)"
        if self.float_ops:
            groups = len(self.float_layers)
            return (f"int8 {weights}, {groups} node {plural(groups, 'group')} in float ({', '.join(self.float_layers)}; "
                    f"{len(self.float_ops)} {plural(len(self.float_ops), 'node')})")
        return f"int8 {weights}"


@dataclass(frozen=True)
class NodeGroup:
    """The nodes that compute one tensor the QDQ model quantizes, from the quantized tensors
    they read, with the error their quantization adds."""

    tensor: str
    """The quantized tensor they produce."""
    nodes: tuple
    """The prepared model's node names, in graph order."""
    inputs: tuple
    """The quantized tensors they read (the graph input's included)."""
    error: float
    """Mean over units of RMS(QDQ - float) / RMS(float) at `tensor` (convert/diagnose.py)."""
    added: float
    """error minus the largest error among its inputs."""

    @property
    def label(self) -> str:
        return "+".join(self.nodes)


def unit_error(float_values, qdq_values, units: int) -> float:
    """convert/diagnose.py's error between the float model's tensor and the QDQ model's, over
    the images. qdq_loss_debug saves each image's tensor flattened; `units` is the size of its
    axis 1 (ONNX's channels, or a Dense layer's features), 1 when unknown."""
    ref, q = _by_unit(float_values, units), _by_unit(qdq_values, units)
    sums = UnitSums(units)
    sums.add(q, ref)
    return sums.error()


def _by_unit(images, units: int) -> np.ndarray:
    """(values, units) from each image's flattened (units, ...) tensor."""
    return np.concatenate([np.asarray(v, np.float64).reshape(units, -1).T for v in images])


def _units(graph) -> dict:
    """Tensor name -> the size of its axis 1, where shape inference knows it."""
    found = {}
    for info in [*graph.value_info, *graph.output, *graph.input]:
        dims = info.type.tensor_type.shape.dim
        if len(dims) >= 2 and dims[1].HasField("dim_value") and dims[1].dim_value > 0:
            found[info.name] = int(dims[1].dim_value)
    return found


def rank_node_groups(prepared: Path, quantized: Path, images: np.ndarray) -> list:
    """Every NodeGroup of the prepared float model, worst first by the error it adds, measured
    on `images` (float32 model inputs) through both models with every tensor kept."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, create_activation_matching,
                                                         modify_model_output_intermediate_tensors)

    graph = onnx.load(str(prepared)).graph
    with tempfile.TemporaryDirectory() as work:
        activations = {}
        for name, path in (("float", prepared), ("qdq", quantized)):
            augmented = Path(work) / f"{name}.onnx"
            modify_model_output_intermediate_tensors(str(path), str(augmented))
            activations[name] = collect_activations(str(augmented), image_reader(graph.input[0].name, images))
    matched = create_activation_matching(activations["qdq"], activations["float"])
    units = _units(graph)
    errors = {tensor: unit_error(pair["float"], pair["post_qdq"], units.get(tensor, 1)) for tensor, pair in matched.items()
              if pair.get("float") and pair.get("post_qdq")}
    return sorted(_groups(graph, errors), key=lambda g: g.added, reverse=True)


def _groups(graph, errors: dict) -> list:
    producer = {output: node for node in graph.node for output in node.output}
    order = {node.name: k for k, node in enumerate(graph.node)}
    groups = []
    for tensor in errors:
        if tensor not in producer:
            continue  # the graph input: quantized, but no node of ours computes it
        nodes, inputs, stack = set(), set(), [producer[tensor]]
        while stack:
            node = stack.pop()
            if node.name in nodes:
                continue
            nodes.add(node.name)
            for name in node.input:
                if name in errors:
                    inputs.add(name)
                elif name in producer:  # an intermediate tensor left in float between quantized ones
                    stack.append(producer[name])
        largest = max((errors[i] for i in inputs), default=0.0)
        groups.append(NodeGroup(tensor, tuple(sorted(nodes, key=order.get)), tuple(sorted(inputs)), errors[tensor],
                                errors[tensor] - largest))
    return groups


def variants_after_plain(ranked: list, per_channel: bool, max_groups: int) -> list:
    """Cheapest first: 7-bit weights; the other granularity; the worst group in float; it and
    the groups that read its tensor; the 4, 8 ... worst, up to max_groups; int16 activations.
    Only groups that add more than HARMFUL error are kept in float."""
    return [*free_variants(per_channel), *float_group_variants(ranked, per_channel, max_groups),
            OnnxVariant(per_channel, activations="int16")]


def free_variants(per_channel: bool) -> list:
    """The fixes that cost nothing at run time: 7-bit weights, the other weight granularity."""
    return [OnnxVariant(per_channel, reduce_range=True), OnnxVariant(not per_channel)]


def float_group_variants(ranked: list, per_channel: bool, max_groups: int) -> list:
    """The worst group in float; it and the groups that read its tensor; the 4, 8 ... worst,
    up to max_groups (groups that add more than HARMFUL error only)."""
    harmful = [g for g in ranked if g.added > HARMFUL]
    sets = []
    if harmful:
        worst = harmful[0]
        sets += [[worst], [worst] + [g for g in ranked if worst.tensor in g.inputs]]
        k = 4
        while k <= len(harmful):
            sets.append(harmful[:k])
            k *= 2
    variants, seen = [], set()
    for groups in sets:
        names = frozenset(g.tensor for g in groups)
        if len(groups) > max_groups or names in seen:
            continue
        seen.add(names)
        nodes = tuple(n for g in groups for n in g.nodes)
        variants.append(OnnxVariant(per_channel, nodes, tuple(g.label for g in groups)))
    return variants


def best_onnx_int8(float_path: Path, calibration_images: np.ndarray, reference: Reference, judge: Judge, contract,
                   per_channel: bool = True, max_float_groups: Optional[int] = None, log=None,
                   plain: Optional[Measured] = None) -> Int8Search:
    """The cheapest quantization of the float ONNX file `float_path` that `judge` verifies on
    the reference images (the contract of convert.int8_fallback.best_int8).

    calibration_images: float32 model inputs (the contract's model_input of training images).
    reference: the images and Keras outputs the judge's probabilities are for.
    judge: judge(probs) -> Judgement, or (passed, summary); probs the runtime's (N, classes) float32.
    contract: the runtime's input contract, to feed the reference images.
    per_channel: the granularity plain int8 uses (the first try).
    max_float_groups: most node groups kept in float (default MAX_FLOAT_SHARE of the groups).
    log: called with one line per variant tried, if given.
    plain: plain int8 as the caller already built and ran it (OnnxVariant(per_channel)).
    Returns an Int8Search whose candidates hold QDQ .onnx bytes (float32 input and output, no
    metadata: convert.onnx_export.finish_onnx makes the file to ship); `chosen` is None when
    no variant was verified, and `best` is then the one to write as unproven (or None)."""
    if not callable(judge):
        raise TypeError(f"judge: got {type(judge).__name__}, expected a callable judge(probs) -> (passed, summary)")
    if max_float_groups is not None and max_float_groups < 0:
        raise ValueError(f"max_float_groups: got {max_float_groups}, expected >= 0")
    calibration = np.asarray(calibration_images, np.float32)
    if len(calibration) == 0:
        raise ValueError("calibration_images: got no images, expected float32 model inputs to calibrate int8")
    search = Int8Search()
    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        prepare_for_quantization(float_path, prepared)

        def attempt(variant: OnnxVariant) -> bool:
            started = time.perf_counter()
            measured = _build_and_measure(prepared, variant, calibration, reference, contract)
            return search.attempt(measured, judge, log, time.perf_counter() - started)

        if search.attempt(plain, judge, log) if plain is not None else attempt(OnnxVariant(per_channel)):
            return search
        for variant in free_variants(per_channel):
            if attempt(variant):
                return search
        if not search.tried[0].measured.failure:
            ranked = _ranked(prepared, Path(work), calibration, per_channel, log)
            limit = max(MIN_FLOAT_OPS, int(MAX_FLOAT_SHARE * len(ranked))) if max_float_groups is None else max_float_groups
            for variant in float_group_variants(ranked, per_channel, limit):
                if attempt(variant):
                    return search
        attempt(OnnxVariant(per_channel, activations="int16"))
    return search


def _ranked(prepared: Path, work: Path, calibration: np.ndarray, per_channel: bool, log) -> list:
    """rank_node_groups against plain int8 of the prepared model, timed and logged."""
    started = time.perf_counter()
    plain = work / "plain.onnx"
    quantize_prepared(prepared, plain, calibration, per_channel)
    ranked = rank_node_groups(prepared, plain, calibration[:DIAGNOSIS_IMAGES])
    if log:
        images = min(len(calibration), DIAGNOSIS_IMAGES)
        log(f"  ranked {len(ranked)} node {plural(len(ranked), 'group')} by the error their int8 output adds, on "
            f"{images} calibration {plural(images, 'image')} ({time.perf_counter() - started:.1f} s)")
    return ranked


def _build_and_measure(prepared: Path, variant: OnnxVariant, calibration: np.ndarray, reference: Reference,
                       contract) -> Measured:
    """The variant quantized and run through the runtime (onnxruntime); when it cannot be
    made or run, a Measured with `failure` saying why, in one line."""
    from runtime.errors import ToolkitError, one_line

    try:
        with tempfile.TemporaryDirectory() as work:
            path = Path(work) / "candidate.onnx"
            quantize_prepared(prepared, path, calibration, variant.per_channel, variant.float_ops, variant.activations,
                              variant.reduce_range)
            data = path.read_bytes()
        return measure(data, variant, reference, contract, name="candidate.onnx")
    except (ToolkitError, RuntimeError, ValueError) as err:  # what onnxruntime's quantizer and sessions raise
        return Measured(variant, b"", None, 0.0, float("nan"), failure=f"{type(err).__name__}: {one_line(err)[:300]}")
