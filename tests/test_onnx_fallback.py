"""ONNX int8 within the budget (convert/onnx_fallback.py) on a model whose plain int8 loses
~10 pp: the seed MLP with one hidden unit stretched (tests/test_diagnose.py), which onnxruntime's
MinMax calibration quantizes as badly as TensorFlow's. Judged by conversion's own verdict, so
the outcomes asserted are "refused" for a loss 1,000 images show and "listed" for the fix,
never a share that training noise could move."""

from __future__ import annotations

import numpy as np
import pytest

import runtime

from test_diagnose import SHOWN_LOSS_BIAS, model_with_an_outlier

pytestmark = pytest.mark.slow

LISTED = ("verified", "unproven")


@pytest.fixture(scope="module")
def outlier(pipeline, tmp_path_factory):
    """(float ONNX path, calibration inputs, reference, contract, judge) of the stretched MLP."""
    import keras

    from convert.onnx_export import export_onnx
    from runtime.evaluate.parity import compare
    from runtime.store.bundles import load_reference
    from runtime.store.manifest import read_manifest

    models, _, _ = model_with_an_outlier(pipeline, tmp_path_factory.mktemp("onnx-fallback") / "models", SHOWN_LOSS_BIAS)
    model = keras.models.load_model(models / "mnist_mlp.keras", compile=False)
    export_onnx(model, models / "float.onnx")
    reference = load_reference(models)
    contract = read_manifest(models).keras.contract
    with np.load(models / "calibration.npz") as data:
        calibration = contract.model_input(data["images"][:500])

    def judge(probs):
        verdict = compare("mnist_mlp_int8.onnx", "int8", 0, probs, reference)
        return verdict.passed, verdict.summary

    return models / "float.onnx", calibration, reference, contract, judge


def float_weights(data: bytes) -> int:
    """How many 2-D weight matrices a QDQ .onnx keeps in float."""
    import onnx

    model = onnx.load_from_string(data)
    return sum(1 for t in model.graph.initializer if len(t.dims) == 2 and t.data_type == onnx.TensorProto.FLOAT)


def test_the_stretched_layer_ranks_first(outlier):
    from convert.onnx_export import prepare_for_quantization, quantize_prepared
    from convert.onnx_fallback import rank_node_groups

    float_path, calibration, _, _, _ = outlier
    work = float_path.parent
    prepare_for_quantization(float_path, work / "prepared.onnx")
    quantize_prepared(work / "prepared.onnx", work / "plain.onnx", calibration)
    ranked = rank_node_groups(work / "prepared.onnx", work / "plain.onnx", calibration[:100])
    worst = ranked[0]
    assert [n.split("/")[0] for n in worst.nodes] == ["MatMul_1", "Relu_1"], ranked  # the first Dense and its ReLU
    assert worst.added == pytest.approx(worst.error) and worst.error > 10 * ranked[1].added, ranked
    reader = next(g for g in ranked if worst.tensor in g.inputs)  # the second Dense reads the stretched tensor
    assert reader.added < worst.added


def test_best_onnx_int8_writes_the_cheapest_fix_the_verdict_lists(outlier, tmp_path):
    from convert.onnx_export import finish_onnx
    from convert.onnx_fallback import best_onnx_int8
    from runtime.evaluate.parity import compare

    float_path, calibration, reference, contract, judge = outlier
    lines = []
    search = best_onnx_int8(float_path, calibration, reference, judge, contract, log=lines.append)
    plain = search.tried[0]
    assert plain.variant.describe() == "int8 per-channel" and plain.summary.startswith("refused: "), search.summary()
    assert search.chosen is not None and search.chosen is search.tried[-1], search.summary()
    tried = [line for line in lines if line.startswith("  tried ")]  # and one line for the ranking
    assert len(tried) == len(search.tried) and search.summary().startswith("int8 within budget: ")
    chosen = search.chosen
    assert chosen.summary.split(":")[0] in LISTED
    assert chosen.variant.float_ops and float_weights(chosen.measured.data) == 2, chosen.describe()  # two Dense in float
    assert chosen.size_ratio > 1 and chosen.to_json()["passed"] and chosen.to_json()["float_ops"]
    path = tmp_path / "mnist_mlp_int8.onnx"  # shipped as convert ships ONNX: pixel input, contract and labels inside
    path.write_bytes(search.data)
    finish_onnx(path, contract, [str(d) for d in range(10)], "mnist_mlp")
    model = runtime.load(path)
    assert model.takes_pixels
    again = compare(path.name, "int8", path.stat().st_size, model.predict(reference.images), reference)
    assert again.status in LISTED, again.summary


def test_best_onnx_int8_tries_every_fix_in_order_and_refuses_with_the_numbers(outlier):
    from convert.onnx_fallback import best_onnx_int8

    float_path, calibration, reference, contract, _ = outlier
    shapes = []

    def never(probs):
        shapes.append(probs.shape)
        return False, "refused by the test"

    search = best_onnx_int8(float_path, calibration, reference, never, contract, max_float_groups=2)
    assert search.chosen is None and search.data is None
    variants = [c.variant for c in search.tried]
    assert variants[0].per_channel and not variants[0].float_ops and variants[0].activations == "int8"
    assert variants[1].reduce_range and variants[1].per_channel and not variants[1].float_ops  # 7-bit weights: free
    assert not variants[2].per_channel and not variants[2].reduce_range and not variants[2].float_ops
    in_float = [len(v.float_layers) for v in variants[3:-1]]
    assert in_float == sorted(in_float) and 1 <= len(in_float) and max(in_float) <= 2
    assert variants[-1].activations == "int16" and variants[-1].describe().endswith("(16x16)")
    assert not any(c.measured.failure for c in search.tried), search.summary()  # onnxruntime runs every one
    assert all(shape == reference.probs.shape for shape in shapes) and len(shapes) == len(search.tried)
    assert search.summary().startswith(f"no int8 variant within budget after {len(search.tried)} tries")


def test_bad_arguments_are_refused_by_name(outlier):
    from convert.onnx_export import quantize_prepared
    from convert.onnx_fallback import OnnxVariant, best_onnx_int8

    float_path, calibration, reference, contract, judge = outlier
    with pytest.raises(TypeError, match="judge: got float"):
        best_onnx_int8(float_path, calibration, reference, 0.99, contract)
    with pytest.raises(ValueError, match="max_float_groups: got -1"):
        best_onnx_int8(float_path, calibration, reference, judge, contract, max_float_groups=-1)
    with pytest.raises(ValueError, match="calibration_images: got no images"):
        best_onnx_int8(float_path, calibration[:0], reference, judge, contract)
    with pytest.raises(ValueError, match="activations: got 'int4'"):
        quantize_prepared(float_path, float_path.parent / "x.onnx", calibration, activations="int4")
    with pytest.raises(ValueError, match="float_ops: nodes are kept in float only with int8 activations"):
        OnnxVariant(float_ops=("Relu_1",), activations="int16")
