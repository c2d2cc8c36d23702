"""The int8 diagnosis: on a model made to quantize badly it names the layer and a measured fix;
best_int8 finds a variant within a budget that plain int8 misses."""

import json
import re

import numpy as np
import pytest

from runtime.store.files import sha256_file

from conftest import run_cli

OUTLIER_UNIT = 7
OUTLIER_BIAS = 300.0
"""Stretches the layer enough for the diagnosis to see it; the int8 loss is then ~1 pp."""
SHOWN_LOSS_BIAS = 1000.0
"""A loss of ~10 pp, which 1,000 images show beyond the 1 pp budget: conversion refuses it."""


def add_outlier(model, unit: int, bias_value: float) -> tuple:
    """Gives `unit` of the model's first Dense layer a huge bias and zeroes its outgoing weights
    (the float model is unchanged, the layer's int8 activation range is stretched); returns the
    two Dense layers."""
    first, second = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"][:2]
    kernel, bias = first.get_weights()
    bias[unit] = bias_value
    first.set_weights([kernel, bias])
    kernel, bias = second.get_weights()
    kernel[unit, :] = 0.0
    second.set_weights([kernel, bias])
    return first, second


def model_with_an_outlier(pipeline, dest, outlier_bias=OUTLIER_BIAS):
    """The trained model with one unit of the first hidden layer given a huge bias and its
    outgoing weights zeroed (so the float model still classifies well): that unit stretches
    the layer's int8 activation range, so every other unit gets steps of ~1 instead of ~0.04.
    The reference bundle is remade with this model's own outputs."""
    import keras

    models = pipeline.copy(dest)
    model = keras.models.load_model(models / "mnist_mlp.keras", compile=False)
    first, second = add_outlier(model, OUTLIER_UNIT, outlier_bias)
    model.save(models / "mnist_mlp.keras")
    with np.load(models / "reference.npz") as data:
        arrays = dict(data)
    arrays["probs"] = model.predict(arrays["images"] / np.float32(255), verbose=0).astype(np.float32)
    assert np.mean(arrays["probs"].argmax(1) == arrays["labels"]) > 0.85
    np.savez_compressed(models / "reference.npz", **arrays)
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["artifacts"][0]["sha256"] = sha256_file(models / "mnist_mlp.keras")
    manifest["reference"]["sha256"] = sha256_file(models / "reference.npz")
    (models / "manifest.json").write_text(json.dumps(manifest))
    return models, first.name, second.name


@pytest.mark.slow
def test_a_failing_int8_conversion_says_where(pipeline, tmp_path):
    models, _, _ = model_with_an_outlier(pipeline, tmp_path / "shown", SHOWN_LOSS_BIAS)
    result = run_cli("convert", "tflite", "--quantize", "int8", "--plain-int8", "--models", models)
    assert result.returncode == 1, result.stdout
    assert "REJECTED mnist_mlp_int8.tflite: accuracy −" in result.stdout and "beyond the 1 pp budget" in result.stdout
    assert "Quantization diagnosis of mnist_mlp_int8.tflite" in result.stdout  # printed without --diagnose


@pytest.mark.slow
def test_conversion_writes_the_cheapest_fix_that_meets_the_budget(pipeline, tmp_path):
    """Without --plain-int8, the int8 file that is refused is replaced by the first measured
    fix that is verified, judged again through the runtime, and the manifest says what
    was kept and what it costs."""
    models, _, _ = model_with_an_outlier(pipeline, tmp_path / "shown", SHOWN_LOSS_BIAS)
    result = run_cli("convert", "tflite", "--quantize", "int8", "--models", models)
    assert result.returncode == 0, result.stdout[-3000:]
    out = result.stdout
    assert "plain int8 is not verified (refused: " in out and "tried int8 per-channel: refused: " in out
    entry = next(a for a in json.loads((models / "manifest.json").read_text())["artifacts"]
                 if a["path"] == "mnist_mlp_int8.tflite")
    chosen = entry["quantization"]
    assert chosen["passed"] and chosen["variant"] != "int8 per-channel"
    assert chosen["float_ops"] or chosen["activations"] == "int16" or not chosen["per_channel"]
    assert entry["metrics"]["verdict"]["status"] in ("verified", "unproven"), entry["metrics"]["verdict"]["summary"]
    assert re.search(r"^note mnist_mlp_int8\.tflite: int8 fix: .+ \(verified of \d+ variants in ", out, re.M), out[-3000:]


@pytest.mark.slow
def test_the_diagnosis_names_the_stretched_layer(pipeline, tmp_path):
    models, first, second = model_with_an_outlier(pipeline, tmp_path / "models")
    result = run_cli("convert", "tflite", "--quantize", "int8", "--diagnose", "--models", models)
    out = result.stdout
    ranking = re.search(r"^rank .*\n((?:\d+ .*\n)+)", out, re.M).group(1).splitlines()
    op, layer = ranking[0].split()[1:3]
    assert op.startswith("FULLY_CONNECTED#") and layer == first, out  # the stretched layer is ranked first
    assert re.search(rf"{first} \(FULLY_CONNECTED#\d+\) adds the most error \(\d+\.\d%\): one unit's output is "
                     r"\d+x the median unit's", out), out
    match = re.search(r"Suggestion: (.+): top-1 agreement (\d+\.\d+)% -> (\d+\.\d+)% on the reference images", out)
    assert match and float(match.group(3)) > float(match.group(2)), out
    assert first in match.group(1) or "per-" in match.group(1)


@pytest.mark.slow
def test_diagnose_on_demand_on_a_healthy_model(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    result = run_cli("convert", "diagnose", "--calibration-samples", "300", "--models", models)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Quantization diagnosis of mnist_mlp_int8.tflite (calibration 300 images, per-channel)" in result.stdout
    rows = re.findall(r"^\d+ +FULLY_CONNECTED#\d+ +(\w+) +(\d+\.\d+)% ", result.stdout, re.M)
    assert len(rows) == 3 and all(float(error) < 5 for _, error in rows), result.stdout  # a few percent at most
    assert "adds the most error" not in result.stdout
    # The agreement the suggestion starts from is the int8 model's, as conversion measured it.
    agreement = pipeline.artifact("mnist_mlp_int8.tflite")["metrics"]["agreement"]
    measured = re.search(r"Suggestion: (?:keep it as it is: no change tried beats its (\d+\.\d+)%|.+: top-1 agreement "
                         r"(\d+\.\d+)% -> )", result.stdout)
    assert measured, result.stdout
    assert float(measured.group(1) or measured.group(2)) == pytest.approx(agreement * 100, abs=0.6)
    assert json.loads((models / "manifest.json").read_text()) == json.loads((pipeline.models / "manifest.json").read_text())


@pytest.mark.slow
def test_diagnose_ranks_conv_layers_of_a_cnn(tmp_path):
    """A user's CNN (the shapes model): every Conv2D and Dense layer is paired with its int8 op."""
    from shapes import train_shape_cnn, write_shape_folder

    keras_file = train_shape_cnn(tmp_path / "shapes.keras", epochs=3)
    data = write_shape_folder(tmp_path / "data", 40)
    result = run_cli("convert", "diagnose", "--keras", keras_file, "--data", data, "--models", tmp_path / "models")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    import keras

    saved = keras.models.load_model(keras_file)
    expected = [layer.name for layer in saved.layers if layer.__class__.__name__ in ("Conv2D", "Dense")]
    layers = re.findall(r"^\d+ +(?:CONV_2D|FULLY_CONNECTED)#\d+ +(\w+) .*\d+\.\d+% ", result.stdout, re.M)
    assert len(expected) == 4 and sorted(layers) == sorted(expected), result.stdout
    assert "Quantization diagnosis of shapes_int8.tflite" in result.stdout


@pytest.mark.slow
def test_diagnose_analyses_batchnorm_folded_into_its_convolution(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Reshape((28, 28, 1)),
                              keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(), keras.layers.ReLU(),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")], name="bn")
    model.save(tmp_path / "bn.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.integers(0, 256, (50, 28, 28), dtype=np.uint8))
    result = run_cli("convert", "diagnose", "--keras", tmp_path / "bn.keras", "--data", tmp_path / "data.npz",
                     "--preprocess", "mnist-digit", "--models", tmp_path / "models")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Quantization diagnosis of bn_int8.tflite" in result.stdout, result.stdout
    conv = next(layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert re.search(rf"^\d+ +CONV_2D#\d+ +{conv} \(\+\d\) ", result.stdout, re.M), result.stdout  # conv+bn(+relu): one op
    assert "No quantization diagnosis" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_best_int8_meets_a_budget_that_plain_int8_misses(pipeline, tmp_path):
    import keras

    from convert.int8_fallback import best_int8
    from runtime.evaluate.parity import compare
    from runtime.store.bundles import load_reference
    from runtime.store.manifest import read_manifest

    models, first, _ = model_with_an_outlier(pipeline, tmp_path / "models", SHOWN_LOSS_BIAS)
    model = keras.models.load_model(models / "mnist_mlp.keras", compile=False)
    reference = load_reference(models)
    contract = read_manifest(models).keras.contract
    with np.load(models / "calibration.npz") as data:
        calibration = contract.model_input(data["images"][:500])

    def judge(probs):  # conversion's: refused when the images show a loss beyond 1 pp
        verdict = compare("mnist_mlp_int8.tflite", "int8", 0, probs, reference)
        return verdict.passed, verdict.summary

    search = best_int8(model, calibration, reference, judge, contract)
    assert not search.tried[0].passed and search.tried[0].summary.startswith("refused: "), search.summary()
    assert search.chosen is not None, search.summary()
    assert judge(search.chosen.measured.probs)[0]
    assert search.summary().startswith("int8 within budget: ")
