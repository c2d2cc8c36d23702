"""The golden set each converted file carries (runtime/store/golden.py), so a device checks the
file with nothing else: which reference images, how many, and sealing them into the file once
it has passed (convert/verify.py then loads it again, requires the same outputs on every
reference image, and runs the device's own check on it).

Which images: the few a device's check learns most from, taken in turn from five lists until
the set is full, each up to its share (QUOTAS): where this file's top-1 differs from Keras's
(does the device reproduce the disagreement?), nearest a tie between the file's two best
classes (where a different kernel would change the answer), the file's largest |Δp| against
Keras, one ordinary image per class (as confident as that class's median image: the everyday
case), and images spread evenly over the rest. How many: GOLDEN_IMAGES at most, fewer while the set would take more than
GOLDEN_SHARE of the file (so it never doubles a small model) or GOLDEN_MAX_BYTES; none when not
even MIN_IMAGES fit, with a note saying so."""

from __future__ import annotations

import math
import os
import platform
import shutil
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from runtime.store.golden import REASONS, GoldenSet
from runtime.tables import format_size, plural
from runtime.verdict import Limits

GOLDEN_IMAGES = 32
"""At most this many images (fewer when the reference bundle holds fewer)."""
GOLDEN_SHARE = 0.25
"""The set takes at most this share of the file it is in (as stored: base64 in ONNX)."""
GOLDEN_MAX_BYTES = 2 << 20
"""Nor more than 2 MiB, whatever the model's size (the device reads at most 4 MiB)."""
MIN_IMAGES = 4
"""Fewer would show too little: such a file carries no set."""


def _margins(probs: np.ndarray) -> np.ndarray:
    if probs.shape[1] < 2:
        return np.ones(len(probs))
    top = np.sort(probs.astype(np.float64), axis=1)
    return top[:, -1] - top[:, -2]


def candidate_lists(probs: np.ndarray, keras: np.ndarray) -> dict:
    """Reason (REASONS) -> reference indices, most telling first."""
    n = len(probs)
    top, top_keras = probs.argmax(1), keras.argmax(1)
    margin, keras_margin = _margins(probs), _margins(keras)
    dp = np.abs(probs.astype(np.float64) - keras).max(axis=1)
    disagree = np.flatnonzero(top != top_keras)
    ordinary = []
    for label in np.unique(top_keras):
        same = np.flatnonzero((top_keras == label) & (top == label))
        if len(same):
            ordered = same[np.argsort(margin[same], kind="stable")]
            ordinary.append(int(ordered[len(ordered) // 2]))
    return {
        "disagrees": [int(i) for i in disagree[np.argsort(-keras_margin[disagree], kind="stable")]],
        "near-tie": [int(i) for i in np.argsort(margin, kind="stable")],
        "largest-dp": [int(i) for i in np.argsort(-dp, kind="stable")],
        "ordinary": ordinary,
        "spread": [int(i) for i in np.unique(np.linspace(0, n - 1, min(n, GOLDEN_IMAGES * 4)).round().astype(int))],
    }


QUOTAS = {"disagrees": 0.25, "near-tie": 0.25, "largest-dp": 0.125, "ordinary": 0.5, "spread": 1.0}
"""The share of the set each reason may take first (ordinary: one per class within it); room a
short list leaves is then filled from each list in turn."""


def choose_images(probs: np.ndarray, keras: np.ndarray, count: int) -> list:
    """[(reference index, reason)] of `count` images (fewer if there are fewer): from each
    reason's list in turn up to its quota, then from each in turn while there is room, skipping
    images already taken."""
    lists = candidate_lists(probs, keras)
    count = min(count, len(probs))
    positions = {reason: 0 for reason in REASONS}
    chosen, taken = [], set()

    def take(reason: str, most: int) -> int:
        items, got = lists[reason], 0
        while got < most and len(chosen) < count:
            while positions[reason] < len(items) and items[positions[reason]] in taken:
                positions[reason] += 1
            if positions[reason] >= len(items):
                break
            chosen.append((items[positions[reason]], reason))
            taken.add(items[positions[reason]])
            got += 1
        return got

    for reason in REASONS:
        take(reason, math.ceil(QUOTAS[reason] * count))
    while len(chosen) < count and sum(take(reason, 1) for reason in REASONS):
        pass
    return chosen


def output_step(path: Path, probs: np.ndarray) -> Optional[float]:
    """The quantization step of the file's probabilities, read from its graph (the scale of the
    int8 tensor a final DEQUANTIZE or DequantizeLinear turns into them), and kept only when
    every output on the reference images lies on that grid; None otherwise."""
    try:
        scale, zero_point = _final_dequantize(path)
    except (ImportError, ValueError, KeyError, IndexError, RuntimeError):
        return None
    if not scale > 0:
        return None
    codes = probs.astype(np.float64) / scale + zero_point
    return float(scale) if np.abs(codes - np.round(codes)).max() < 1e-3 else None


def _final_dequantize(path: Path) -> tuple:
    if path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        interpreter = Interpreter(model_content=path.read_bytes(),  # not mapped: the file is rewritten next
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        output = int(interpreter.get_output_details()[0]["index"])
        tensors = {int(t["index"]): t for t in interpreter.get_tensor_details()}
        if tensors[output]["quantization"][0] > 0:
            return tensors[output]["quantization"]
        op = next(op for op in interpreter._get_ops_details() if output in [int(i) for i in op["outputs"]])
        return tensors[int(op["inputs"][0])]["quantization"] if op["op_name"] == "DEQUANTIZE" else (0.0, 0)
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    node = next(n for n in graph.node if graph.output[0].name in n.output)
    if node.op_type != "DequantizeLinear":
        return 0.0, 0
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    scale = constants[node.input[1]]
    zero_point = constants[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(1)
    if scale.size != 1:
        return 0.0, 0
    return float(scale.reshape(-1)[0]), int(zero_point.reshape(-1)[0])


def golden_set(chosen: list, probs: np.ndarray, reference, precision: str, result, step: Optional[float], backend: str,
               graph_sha256: str) -> GoldenSet:
    """The set of the `chosen` reference images, with `probs` (the file's outputs on every
    reference image) and the conversion's verdict in `result` (a ParityResult)."""
    index = np.array([i for i, _ in chosen])
    return GoldenSet(
        inputs=reference.images[index], keras=reference.probs[index].astype(np.float32),
        outputs=probs[index].astype(np.float32), reasons=tuple(reason for _, reason in chosen), precision=precision,
        graph_sha256=graph_sha256, verdict=dict(result.verdict), limits=result.verdict.get("limits", Limits().to_json()),
        max_abs_dp=float(np.abs(probs.astype(np.float64) - reference.probs).max()), output_step=step,
        workstation={"backend": backend, "machine": platform.machine(), "python": platform.python_version(),
                     "numpy": np.__version__},
        reference_index=tuple(int(i) for i in index))


def stored_size(data: bytes, fmt: str) -> int:
    """The set's size inside the file: base64 in ONNX."""
    return (len(data) + 2) // 3 * 4 if fmt == "onnx" else len(data)


def sized(make_set: Callable[[int], bytes], fmt: str, file_bytes: int, most: int = GOLDEN_IMAGES) -> tuple:
    """(count, bytes) of the largest set, up to `most` images, within GOLDEN_SHARE of the file
    and GOLDEN_MAX_BYTES; (0, b"") when not even MIN_IMAGES fit."""
    budget = min(GOLDEN_MAX_BYTES, GOLDEN_SHARE * file_bytes)
    count = most
    while count >= MIN_IMAGES:
        data = make_set(count)
        size = stored_size(data, fmt)
        if size <= budget:
            return count, data
        count = min(count - 1, int(count * budget / size))
    return 0, b""


def golden_sealer(fmt: str, precision: str, reference, most: int = GOLDEN_IMAGES):
    """verify's Candidate.seal for a converted file: embeds its golden set into the judged file
    at `path` (replaced by a new file), from its outputs `probs` on the reference images and its
    verdict in `result`. Returns (the manifest's record of it, a note); ({}, note) when none fits."""
    from .embed import onnx_with_golden_set, tflite_with_golden_set

    def seal(path: Path, model, probs: np.ndarray, result) -> tuple:
        if most < MIN_IMAGES:
            return {}, None
        step = model.output.scale if model.output.quantized else output_step(path, probs)
        backend = f"{model.backend.name} {model.backend.version}"
        file_bytes = path.stat().st_size
        made = {}

        def make(digest: str) -> bytes:
            def build(count: int) -> bytes:
                chosen = choose_images(probs, reference.probs, count)
                return golden_set(chosen, probs, reference, precision, result, step, backend, digest).to_bytes()

            made["count"], made["data"] = sized(build, fmt, file_bytes, min(most, len(reference.images)))
            return made["data"]

        work = path.with_name(f".{path.stem}.sealing{path.suffix}")  # a new file: the judged model may map the old one
        try:
            shutil.copyfile(path, work)
            if fmt == "tflite":
                work.write_bytes(tflite_with_golden_set(work.read_bytes(), make))
            else:
                onnx_with_golden_set(work, make)
            os.replace(work, path)
        finally:
            work.unlink(missing_ok=True)
        count = made["count"]
        if not count:
            return {}, (f"no golden set: even {MIN_IMAGES} images would take more than {GOLDEN_SHARE:.0%} of the file; "
                        "a device checks it with the models folder (`python -m runtime parity --models DIR`)")
        size = stored_size(made["data"], fmt)
        record = {"images": count, "bytes": size, "share": round(size / path.stat().st_size, 4)}
        return record, (f"golden set: {count} {plural(count, 'image')}, {format_size(size)} "
                        f"({size / path.stat().st_size:.1%} of the file); `python -m runtime parity FILE` checks it on a device")

    return seal
