"""The verdict on an artifact (runtime.verdict): a paired accuracy comparison that knows its
sample size and has three outcomes, a float tolerance with near-ties, and sanity checks before
any comparison. The rule's error rates are enumerated exactly and simulated with a fixed seed.
Built from exact counts, so nothing here depends on training noise."""

import math
import re

import numpy as np
import pytest

from runtime.evaluate.parity import compare
from runtime.store.bundles import Reference
from runtime.verdict import (Limits, PairedChange, agreement_status, judge, paired_status, reference_problems,
                             rejudge)
from verdict_rates import at_budget, outcome_rates

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


def test_one_flipped_image_of_18_is_unproven_and_says_what_would_settle_it():
    v = verdict(18, keras_wrong=5, lost=1, gained=0)
    assert v.status == "unproven" and v.passed and v.rule == "accuracy" and not v.failures
    assert v.summary.startswith("unproven: −5.56 pp (95%: no worse than −") and ", 18 images: " in v.summary
    assert "these images prove --max-drop " in v.summary
    assert re.search(r"about [\d,]+ images would settle the 1 pp budget at this rate of disagreement$", v.summary)


def test_a_loss_the_images_show_beyond_the_budget_is_refused_even_on_100_images():
    v = verdict(100, keras_wrong=10, lost=5, gained=0)
    assert v.status == "refused" and not v.passed, v.summary
    assert v.summary.startswith("refused: −5.00 pp (95%: no better than −")
    assert "beyond the 1 pp budget (--max-drop" in v.failures[0] and "on 100 images" in v.failures[0]
    assert verdict(100, keras_wrong=10, lost=5, gained=0, max_drop=0.06).status == "unproven"  # the user's budget decides


def test_the_same_loss_rate_is_refused_with_more_images_only_when_beyond_the_budget():
    assert verdict(1000, keras_wrong=80, lost=50, gained=0).status == "refused"  # 5 pp
    v = verdict(5000, keras_wrong=400, lost=60, gained=40)  # 0.4 pp, and 5,000 images show it within 1 pp
    assert v.status == "verified" and v.summary.startswith("verified: −0.40 pp (95%: no worse than −0.")
    assert v.summary.endswith(", 5,000 images") and not v.notes and not v.failures


def test_a_point_estimate_beyond_the_budget_is_never_verified():
    """Whatever the counts: lost - gained > max_drop * n is never "verified"."""
    n = 400
    lost, gained = np.meshgrid(np.arange(60), np.arange(60), indexing="ij")
    for budget in (0.0, 0.005, 0.01, 0.05):
        status = paired_status(lost, gained, n, budget)
        assert not np.any((status == "verified") & (lost - gained > budget * n)), budget


@pytest.mark.parametrize("lost, gained", [(0, 20), (0, 1), (3, 40)])
def test_a_gain_is_never_refused(lost, gained):
    v = verdict(200, keras_wrong=60, lost=lost, gained=gained)
    assert v.passed and v.status != "refused" and v.numbers["delta"] > 0 and not v.failures


def test_change_is_from_counts_so_5_of_1000_is_exactly_half_a_point():
    keras, artifact, labels = case(1000, keras_wrong=82, lost=5, gained=0)
    change = PairedChange.measure(keras.argmax(1), artifact.argmax(1), labels)
    assert change.delta == -0.005 and (change.lost, change.gained, change.keras_right) == (5, 0, 918)
    assert change.lower < change.delta < change.upper


def test_the_images_that_would_settle_it_do_and_the_budget_proven_is_verified():
    change = PairedChange(images=249, keras_right=220, artifact_right=216, lost=6, gained=2)
    assert change.status(0.01) == "unproven"
    needed = change.images_for(0.01)
    rates = np.array([change.lost, change.gained]) / change.images
    assert needed > 249 and paired_status(*(rates * needed), needed, 0.01) == "refused"  # −1.6 pp is beyond 1 pp
    assert paired_status(*(rates * (needed - 1)), needed - 1, 0.01) == "unproven"
    proven = change.proven_budget()
    assert change.status(proven) == "verified" and change.status(proven - 0.001) != "verified"
    better = PairedChange(images=249, keras_right=220, artifact_right=220, lost=2, gained=2)
    needed = better.images_for(0.01)
    assert paired_status(*(np.array([2, 2]) / 249 * needed), needed, 0.01) == "verified"


def test_non_finite_outputs_fail_before_any_comparison():
    keras, artifact, labels = case(100, keras_wrong=10, lost=0, gained=0)
    artifact[3, 2] = np.nan
    v = judge("int8", artifact, keras, labels, Limits())
    assert not v.passed and v.rule == "sanity" and "NaN or infinite values on 1 of 100 images" in v.failures[0]
    assert v.status == "refused" and v.summary.startswith("refused: output has NaN")
    always_zero = np.full_like(keras, np.nan)  # argmax of NaN rows is 0 for every image
    assert not judge("float32", always_zero, keras, labels, Limits()).passed


def test_float_artifacts_keep_a_tight_tolerance_with_near_ties_only():
    keras, _, labels = case(50, keras_wrong=5, lost=0, gained=0)
    keras = keras * 0.9 + 0.01
    close = keras + np.float32(2e-5)
    v = judge("float32", close, keras, labels, Limits())
    assert v.passed and v.status == "verified" and v.summary.startswith("verified: max |Δp| 2.00e-05 (limit 0.0001)")
    v = judge("float32", keras + np.float32(2e-3), keras, labels, Limits())
    assert not v.passed and v.status == "refused" and v.summary.startswith("refused: ")  # float is never unproven
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
    v = judge("int8", artifact, keras, None, Limits())  # 95%: at most 1.25% disagree
    assert v.status == "unproven" and v.passed and v.rule == "agreement" and "no labels" in v.summary
    assert v.summary.startswith("unproven: top-1 differs from Keras on 2 of 500 images") and "would settle" in v.summary
    keras, artifact, _ = case(1000, keras_wrong=0, lost=2, gained=0)
    assert judge("int8", artifact, keras, None, Limits()).status == "verified"  # 95%: at most 0.63%
    keras, artifact, _ = case(500, keras_wrong=0, lost=50, gained=0)
    v = judge("int8", artifact, keras, None, Limits())
    assert v.status == "refused" and not v.passed and v.summary.startswith("refused: ")


def test_a_recorded_verdict_is_judged_again_with_other_limits():
    v = verdict(1000, keras_wrong=80, lost=30, gained=5)  # 2.5 pp, shown beyond 1 pp
    assert v.status == "refused" and v.to_json()["status"] == "refused" and not v.to_json()["passed"]
    again = rejudge(v.to_json(), Limits(max_drop=0.03))
    assert again.status == "unproven" and again.passed and again.numbers["limits"]["max_drop"] == 0.03
    assert rejudge(v.to_json(), Limits(max_drop=0.08)).status == "verified"
    assert rejudge(v.to_json(), Limits(max_drop=0.01)).status == "refused"
    assert rejudge({"rule": "accuracy"}, Limits()) is None and rejudge(None, Limits()) is None


def test_a_verdict_recorded_before_there_were_three_outcomes_is_judged_from_its_counts():
    """A manifest written before `status` existed: passed, an Agresti-Min bound, no status."""
    old = {"passed": True, "rule": "accuracy", "summary": "−1.61 pp (95%: no worse than −4.13 pp), 249 images",
           "images": 249, "limits": {"max_drop": 0.01, "float_max_dp": 1e-4}, "keras_right": 220, "artifact_right": 216,
           "lost": 6, "gained": 2, "delta": -0.0161, "lower": -0.0413, "upper": 0.0091}
    again = rejudge(old, Limits())
    assert again.status == "unproven" and again.summary.startswith("unproven: −1.61 pp (95%: no worse than −")
    assert again.numbers["lower"] != old["lower"]  # the bound is computed again, not copied
    old_agreement = {"passed": True, "rule": "agreement", "summary": "...", "images": 500, "top1_differ": 2,
                     "disagreement_lower": 0.001, "disagreement_upper": 0.0099}
    assert rejudge(old_agreement, Limits()).status == "unproven"  # the exact bound is 1.25%
    float_entry = {"passed": True, "rule": "float", "summary": "...", "images": 10, "max_abs_dp": 1e-6,
                   "top1_differ": 0, "near_ties": 0}
    assert rejudge(float_entry, Limits()).status == "verified"


def test_compare_records_the_verdict_beside_the_old_metrics():
    keras, artifact, labels = case(1000, keras_wrong=82, lost=6, gained=0)
    result = compare("m_int8.tflite", "int8", 1, artifact, Reference(np.zeros((1000, 28, 28), np.uint8), labels, keras))
    assert result.accuracy == 0.912 and result.delta_accuracy == -0.006 and result.passed  # not shown beyond 1 pp
    assert result.verdict["rule"] == "accuracy" and result.verdict["lost"] == 6 and result.verdict["images"] == 1000
    assert result.status == result.verdict["status"] == "unproven"  # nor within: 95%, no worse than −1.19 pp
    strict = compare("m_int8.tflite", "int8", 1, artifact, Reference(np.zeros((1000, 28, 28), np.uint8), labels, keras),
                     Limits(max_drop=0.001))
    assert not strict.passed and strict.status == "refused" and strict.verdict["limits"]["max_drop"] == 0.001


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


SIZES = (30, 50, 100, 200, 300, 500, 1000, 2000, 5000)
"""Reference images the rule is checked at."""
DISCORDANCE = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
"""Share of images on which exactly one of Keras and the file is right."""
ERROR_BOUND = 0.05
"""Either claim is a one-sided 95% score test, so each may err 5% of the time at the budget's
edge, and no more: asserted at 5% exactly, with no margin. (Scanning every n from 10 to 5,000,
benchmarks/verdict_error_rates.py --scan finds the worst case at 5.03%, at 0.5 pp and n = 934.)"""


def rates_at(n: int, budget: float, cases: list) -> list:
    return outcome_rates(lambda lost, gained, m: paired_status(lost, gained, m, budget), n, cases)


@pytest.mark.parametrize("budget", [0.01, 0.05])
def test_the_rule_errs_at_most_5_percent_either_way_at_any_number_of_images(budget):
    """Exact rates. The hardest file loses exactly the budget: it is sound, so refusing it is
    an error; and the chance of verifying a file that loses more can only be smaller, and tends
    to this one as the loss tends to the budget. Where fewer images differ than the budget,
    the hardest sound file loses on every one of them."""
    for n in SIZES:
        cases = [at_budget(budget, q) for q in DISCORDANCE]
        for q, rates in zip(DISCORDANCE, rates_at(n, budget, cases)):
            assert rates["mass"] > 1 - 1e-9
            assert rates.get("refused", 0) <= ERROR_BOUND, (n, q, rates)
            if q >= budget:
                assert rates.get("verified", 0) <= ERROR_BOUND, (n, q, rates)


def test_the_rule_still_verifies_sound_files_and_refuses_lossy_ones_given_the_images():
    """Not a rule that says "unproven" to everything: exact rates on files far from the edge."""
    (same,) = rates_at(2000, 0.01, [(0.005, 0.005)])  # no change, 1% of images differ
    assert same["verified"] >= 0.95 and same.get("refused", 0) < 1e-6
    (small,) = rates_at(300, 0.01, [(0.01, 0.01)])  # no change, 2% differ: 300 images rarely settle it
    assert small.get("refused", 0) < 1e-3
    (lossy,) = rates_at(1000, 0.01, [(0.03, 0.0)])  # loses 3 pp
    assert lossy["refused"] >= 0.95 and lossy.get("verified", 0) < 1e-6
    (issue,) = rates_at(249, 0.01, [(0.04, 0.0)])  # issue 32's MLP: 4 pp, 249 images
    assert issue.get("verified", 0) < 1e-6 and issue["refused"] >= 0.5


def test_a_seeded_simulation_of_files_agrees_with_the_exact_rates():
    """Sound and lossy files drawn at random (fixed seed): each simulated rate is within four
    standard errors of the exact one, so no draw decides the outcome."""
    rng = np.random.default_rng(32)
    draws, budget = 20_000, 0.01
    files = [(200, at_budget(budget, 0.02)), (500, at_budget(budget, 0.01)), (1000, at_budget(budget, 0.05)),
             (1000, (0.01, 0.01)), (500, (0.04, 0.01)), (5000, at_budget(budget, 0.1))]
    for n, (p_lost, p_gained) in files:
        counts = rng.multinomial(n, [p_lost, p_gained, 1 - p_lost - p_gained], size=draws)
        simulated = paired_status(counts[:, 0], counts[:, 1], n, budget)
        (exact,) = rates_at(n, budget, [(p_lost, p_gained)])
        for status in ("verified", "unproven", "refused"):
            p = exact.get(status, 0.0)
            se = math.sqrt(max(p * (1 - p), 1e-4) / draws)
            assert abs(np.mean(simulated == status) - p) <= 4 * se, (n, p_lost, p_gained, status)


def test_judge_gives_the_rules_outcome_on_real_outputs():
    rng = np.random.default_rng(7)
    for _ in range(12):
        n = int(rng.integers(50, 3000))
        keras_wrong = int(rng.integers(0, n // 10))
        lost = int(rng.integers(0, min(40, n - keras_wrong)))
        gained = int(rng.integers(0, min(40, keras_wrong) + 1))
        v = verdict(n, keras_wrong, lost, gained)
        assert v.status == paired_status(lost, gained, n, 0.01) and v.to_json()["status"] == v.status


def test_one_image_never_moves_a_file_from_verified_to_refused():
    """Either claim needs the images to show it; one image more lost or gained can move a file
    by one step (verified, unproven, refused), never two."""
    rank = {"verified": 0, "unproven": 1, "refused": 2}
    for n in (30, 200, 1000, 5000):
        lost, gained = np.meshgrid(np.arange(150), np.arange(150), indexing="ij")
        status = np.vectorize(rank.get)(paired_status(lost, gained, n, 0.01))
        assert np.abs(np.diff(status, axis=0)).max() <= 1 and np.abs(np.diff(status, axis=1)).max() <= 1


def test_without_labels_the_exact_bounds_err_at_most_5_percent():
    """Exact rates of the agreement rule, at a disagreement of exactly the budget: the loss
    cannot exceed the disagreement, so verifying it is the error to bound; and the rate at which
    the images show the disagreement beyond the budget (refusing) is bounded too."""
    budget = 0.01
    for n in SIZES:
        top = min(n, int(n * budget + 12 * math.sqrt(n * budget) + 30))
        k = np.arange(top + 1)
        log_choose = np.concatenate([[0.0], np.cumsum(np.log((n - k[1:] + 1) / k[1:]))])
        pmf = np.exp(log_choose + k * math.log(budget) + (n - k) * math.log1p(-budget))
        status = np.array([agreement_status(int(j), n, budget) for j in k])
        assert pmf.sum() > 1 - 1e-9
        assert pmf[status == "verified"].sum() <= ERROR_BOUND and pmf[status == "refused"].sum() <= ERROR_BOUND, n
