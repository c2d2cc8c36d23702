"""The verdict on an artifact (runtime.verdict): a paired accuracy comparison that knows its
sample size, a float tolerance with near-ties, and sanity checks before any comparison.
Built from exact counts, so nothing here depends on training noise."""

import numpy as np
import pytest

from runtime.evaluate.parity import compare
from runtime.store.bundles import Reference
from runtime.verdict import Limits, PairedChange, judge, reference_problems, rejudge

CLASSES = 10


def outputs(labels: np.ndarray, right: np.ndarray) -> np.ndarray:
    """One-hot probabilities: the true class where `right`, the next class elsewhere."""
    answer = np.where(right, labels, (labels + 1) % CLASSES)
    return np.eye(CLASSES, dtype=np.float32)[answer]


def case(n: int, keras_wrong: int, lost: int, gained: int) -> tuple:
    """(keras probs, artifact probs, labels) on n images: Keras wrong on the first
    `keras_wrong`; the artifact loses `lost` images Keras gets right and gains `gained` of
    those Keras gets wrong."""
    labels = np.arange(n) % CLASSES
    keras_right = np.arange(n) >= keras_wrong
    artifact_right = keras_right.copy()
    artifact_right[:gained] = True
    artifact_right[keras_wrong : keras_wrong + lost] = False
    return outputs(labels, keras_right), outputs(labels, artifact_right), labels


def verdict(n, keras_wrong, lost, gained, max_drop=0.01, precision="int8"):
    keras, artifact, labels = case(n, keras_wrong, lost, gained)
    return judge(precision, artifact, keras, labels, Limits(max_drop=max_drop))


def test_one_flipped_image_of_18_is_not_a_failure_and_says_what_18_images_cannot_show():
    v = verdict(18, keras_wrong=5, lost=1, gained=0)
    assert v.passed and v.rule == "accuracy"
    assert v.summary.startswith("−5.56 pp (95%: no worse than −") and v.summary.endswith(", 18 images")
    assert len(v.notes) == 1 and "18 images cannot show that the loss is within the 1.00 pp budget" in v.notes[0]


def test_a_loss_the_images_show_beyond_the_budget_fails_even_on_100_images():
    v = verdict(100, keras_wrong=10, lost=5, gained=0)
    assert not v.passed, v.summary
    assert "beyond the 1.00 pp budget (--max-drop)" in v.failures[0] and "on 100 images" in v.failures[0]
    assert verdict(100, keras_wrong=10, lost=5, gained=0, max_drop=0.06).passed  # the user's budget decides


def test_the_same_loss_rate_fails_with_more_images_only_when_beyond_the_budget():
    assert not verdict(1000, keras_wrong=80, lost=50, gained=0).passed  # 5 pp
    assert verdict(1000, keras_wrong=80, lost=12, gained=8).passed  # 0.4 pp: shown, but within 1 pp


@pytest.mark.parametrize("lost, gained", [(0, 20), (0, 1), (3, 40)])
def test_a_gain_is_never_a_failure(lost, gained):
    v = verdict(200, keras_wrong=60, lost=lost, gained=gained)
    assert v.passed and v.numbers["delta"] > 0 and not v.failures


def test_change_is_from_counts_so_5_of_1000_is_exactly_half_a_point():
    keras, artifact, labels = case(1000, keras_wrong=82, lost=5, gained=0)
    change = PairedChange.measure(keras.argmax(1), artifact.argmax(1), labels)
    assert change.delta == -0.005 and (change.lost, change.gained, change.keras_right) == (5, 0, 918)
    assert change.lower < change.delta < change.upper


def test_images_for_the_budget_would_indeed_show_it():
    change = PairedChange(images=120, keras_right=100, artifact_right=99, lost=1, gained=0)
    needed = change.images_for(0.01)
    assert needed and needed > 120
    rate = needed / 120
    scaled = PairedChange(needed, int(100 * rate), int(99 * rate), round(1 * rate), 0)
    assert scaled.lower >= -0.01 - 1e-3


def test_non_finite_outputs_fail_before_any_comparison():
    keras, artifact, labels = case(100, keras_wrong=10, lost=0, gained=0)
    artifact[3, 2] = np.nan
    v = judge("int8", artifact, keras, labels, Limits())
    assert not v.passed and v.rule == "sanity" and "NaN or infinite values on 1 of 100 images" in v.failures[0]
    always_zero = np.full_like(keras, np.nan)  # argmax of NaN rows is 0 for every image
    assert not judge("float32", always_zero, keras, labels, Limits()).passed


def test_float_artifacts_keep_a_tight_tolerance_with_near_ties_only():
    keras, _, labels = case(50, keras_wrong=5, lost=0, gained=0)
    keras = keras * 0.9 + 0.01
    close = keras + np.float32(2e-5)
    assert judge("float32", close, keras, labels, Limits()).passed
    assert not judge("float32", keras + np.float32(2e-3), keras, labels, Limits()).passed
    tie = keras.copy()
    tie[0, :2] = 0.455  # Keras's two best are equal here
    flipped = tie.copy()
    flipped[0, 1] += np.float32(1e-5)
    v = judge("float32", flipped, tie, labels, Limits())
    assert v.passed and v.numbers["near_ties"] == 1 and "except 1 near-tie" in v.summary
    real = keras.copy()
    real[1] = real[1][::-1]
    v = judge("float32", real, keras, labels, Limits())
    assert not v.passed and "top-1 differs from Keras on 1 of 50 images that are not near-ties" in v.failures


def test_without_labels_the_disagreement_bounds_the_loss():
    keras, artifact, _ = case(500, keras_wrong=0, lost=2, gained=0)
    v = judge("int8", artifact, keras, None, Limits())
    assert v.passed and v.rule == "agreement" and "no labels" in v.summary
    keras, artifact, _ = case(500, keras_wrong=0, lost=50, gained=0)
    assert not judge("int8", artifact, keras, None, Limits()).passed


def test_a_recorded_verdict_is_judged_again_with_other_limits():
    v = verdict(1000, keras_wrong=80, lost=30, gained=5)  # 2.5 pp, shown
    assert not v.passed
    again = rejudge(v.to_json(), Limits(max_drop=0.03))
    assert again.passed and again.numbers["limits"]["max_drop"] == 0.03
    assert not rejudge(v.to_json(), Limits(max_drop=0.01)).passed
    assert rejudge({"rule": "accuracy"}, Limits()) is None and rejudge(None, Limits()) is None


def test_compare_records_the_verdict_beside_the_old_metrics():
    keras, artifact, labels = case(1000, keras_wrong=82, lost=6, gained=0)
    result = compare("m_int8.tflite", "int8", 1, artifact, Reference(np.zeros((1000, 28, 28), np.uint8), labels, keras))
    assert result.accuracy == 0.912 and result.delta_accuracy == -0.006 and result.passed  # 0.6 pp < 1 pp budget
    assert result.verdict["rule"] == "accuracy" and result.verdict["lost"] == 6 and result.verdict["images"] == 1000
    strict = compare("m_int8.tflite", "int8", 1, artifact, Reference(np.zeros((1000, 28, 28), np.uint8), labels, keras),
                     Limits(max_drop=0.005))
    assert not strict.passed and strict.verdict["limits"]["max_drop"] == 0.005


def test_reference_problems_name_nan_below_and_at_chance():
    labels = np.arange(200) % 5
    good = np.eye(5, dtype=np.float32)[labels]
    assert reference_problems(good, labels) == (None, None)
    assert reference_problems(np.eye(5, dtype=np.float32)[(labels + 1) % 5], labels)[1] == "below-chance"
    rng = np.random.default_rng(0)
    guess = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 200)]
    assert reference_problems(guess, labels)[1] in ("at-chance", "below-chance")
    nan = good.copy()
    nan[0, 0] = np.nan
    assert reference_problems(nan, labels)[1] == "non-finite"


def test_predict_shows_logits_as_scores_not_percentages(tmp_path):
    """A model file whose outputs are logits (no softmax): `predict` names them as scores,
    never as 3567%, and --min-confidence does not mark them."""
    import json

    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from PIL import Image

    from conftest import run_cli

    rng = np.random.default_rng(3)
    weights = rng.normal(0, 1.0, (28 * 28, 10)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["image"], ["flat"], axis=1), helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "logits", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [numpy_helper.from_array(weights, "w")])
    path = tmp_path / "logits.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    image = np.full((28, 28), 255, np.uint8)
    image[6:22, 12:16] = 0
    Image.fromarray(image).save(tmp_path / "one.png")
    result = run_cli("runtime", "predict", tmp_path / "one.png", "--model", path, "--top", "2")
    assert result.returncode == 0, result.stderr
    assert "%" not in result.stdout and "(score " in result.stdout, result.stdout
    assert "outputs scores that are not probabilities" in result.stderr and "--min-confidence does not apply" in result.stderr
    as_json = json.loads(run_cli("runtime", "predict", tmp_path / "one.png", "--model", path, "--json").stdout)
    first = as_json["results"][0]
    assert first["confidence"] is None and first["low_confidence"] is None and not first["probabilities_shown"]
    assert len(first["scores"]) == 10 and "probabilities" not in first
