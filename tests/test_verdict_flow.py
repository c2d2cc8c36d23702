"""Verified means proven, at the level a user sees (issue 32's acceptance): `convert all --keras
M --data D` on real digits, with the files it lists checked again on thousands of digits it
never saw (mnist-5k's 5,000 images, less those given as --data).

- A lossy MLP (the seed model with one outlier unit, whose int8 under TensorFlow's own
  post-training quantization loses several points): no listed file is verified unless it is
  within 1.5 pp of Keras on the held-out digits, and with 2,000 images the int8 files written
  (fixes) are verified. A fix meant for a microcontroller is judged on TFLite Micro.
- A sound model (the seed MLP) with 200 and 500 images is never refused.
- Seed retrains pass `convert all` and `convert micro`; a model at chance is refused.

The assertions are what the verdict's rule guarantees for models whose loss is far from the
1 pp budget (about 4 pp lost, or none), never a share that training noise could move across the
threshold. (NaN outputs and the Rescaling contract: tests/test_own_model.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

import runtime

from conftest import run_cli
from test_diagnose import add_outlier

pytestmark = pytest.mark.slow

OUTLIER_UNIT = 7
OUTLIER_BIAS = 600.0
"""The first hidden layer's unit 7 gets this bias and its outgoing weights zeroed: the float model
is unchanged, but the layer's single int8 activation scale stretches ~25x, and TensorFlow's int8
loses ~4 pp on the seed model (measured on 5,000 digits: -4.0 pp; 300 gave -1 pp, 1,000 -10 pp)."""
PREMISE_MIN_LOSS = 0.02
"""The lossy model's plain int8 must lose at least this much on the held-out digits, else the
test would show nothing."""
HELD_OUT_TOLERANCE = 0.015
"""A verified file is within 1.5 pp of Keras on the held-out digits (issue 32's acceptance)."""
LOSSY = ("int8", "float16", "dynamic")
LISTED = ("verified", "unproven")


@pytest.fixture(scope="module")
def digits():
    """mnist-5k's 5,000 digits and labels, in a fixed random order."""
    from train.data import load_dataset

    data = load_dataset("mnist-5k", None, log=lambda *a: None)
    x, y = np.concatenate([data.x_train, data.x_test]), np.concatenate([data.y_train, data.y_test])
    order = np.random.default_rng(32).permutation(len(x))
    return x[order], y[order]


def with_outlier(source, dest):
    import keras

    model = keras.models.load_model(source, compile=False)
    add_outlier(model, OUTLIER_UNIT, OUTLIER_BIAS)
    model.save(dest)
    return model


def keras_answers(model, x) -> np.ndarray:
    return model.predict(x / np.float32(255), verbose=0).argmax(1)


@pytest.fixture(scope="module")
def lossy(pipeline, digits, tmp_path_factory):
    """(the lossy MLP's .keras, its Keras answers on every digit), after checking the premise:
    TensorFlow's plain int8 of it loses at least PREMISE_MIN_LOSS on the digits."""
    from convert.tflite_export import ARTIFACT_INT8_OUTPUT, tflite_bytes

    x, y = digits
    path = tmp_path_factory.mktemp("lossy") / "outlier.keras"
    model = with_outlier(pipeline.models / "mnist_mlp.keras", path)
    answers = keras_answers(model, x)
    plain = path.parent / "plain_int8.tflite"
    plain.write_bytes(tflite_bytes(model, "int8", x[:200] / np.float32(255), output_type=ARTIFACT_INT8_OUTPUT))
    int8 = runtime.load(plain, isolate=False).predict(x).argmax(1)
    loss = np.mean(answers == y) - np.mean(int8 == y)
    assert loss >= PREMISE_MIN_LOSS, f"the outlier MLP's plain int8 loses only {loss:.2%}"
    return path, answers


def convert_with(keras_file, digits, count, folder):
    """`convert all --keras` with the first `count` digits as --data; the CLI's result."""
    x, y = digits
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "data.npz", x=x[:count], y=y[:count])
    return run_cli("convert", "all", "--keras", keras_file, "--data", folder / "data.npz", "--models", folder / "models",
                   timeout=1200)


def listed(models) -> list:
    manifest = json.loads((models / "manifest.json").read_text())
    return [a for a in manifest["artifacts"] if a["format"] not in ("keras", "c")]


@pytest.fixture(scope="module")
def lossy_runs(lossy, digits, tmp_path_factory):
    """count -> (models folder, CLI result) of the lossy MLP converted with that many digits."""
    keras_file, _ = lossy
    runs = {}
    for count in (300, 500, 2000):
        folder = tmp_path_factory.mktemp(f"lossy_{count}")
        runs[count] = folder / "models", convert_with(keras_file, digits, count, folder)
    return runs


@pytest.mark.parametrize("count", [300, 500, 2000])
def test_no_lossy_file_is_verified_beyond_its_loss_on_digits_it_never_saw(lossy, lossy_runs, digits, count):
    _, answers = lossy
    x, y = digits
    models, result = lossy_runs[count]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    held_x, held_y, keras_right = x[count:], y[count:], np.mean(answers[count:] == y[count:])
    assert len(held_y) >= 3000
    entries = listed(models)
    assert {a["path"] for a in entries} == {f"outlier_{p}.{f}" for p in ("float32", "int8") for f in ("tflite", "onnx")}
    for entry in entries:
        status = entry["metrics"]["verdict"]["status"]
        assert status in LISTED
        change = np.mean(runtime.load(models / entry["path"]).predict(held_x).argmax(1) == held_y) - keras_right
        print(f"{count} images: {entry['path']}: {status}, {change * 100:+.2f} pp on {len(held_y):,} held-out digits")
        if status == "verified":
            assert abs(change) <= HELD_OUT_TOLERANCE, (entry["path"], change, entry["metrics"]["verdict"]["summary"])
    int8 = {a["path"]: a for a in entries if a["precision"] == "int8"}
    for entry in int8.values():  # plain int8 loses ~4 pp: it is never verified
        assert "quantization" in entry or entry["metrics"]["verdict"]["status"] == "unproven", entry["metrics"]
    if count == 2000:  # 1,800 reference images show plain int8's loss: the fixes, which lose nothing, are verified
        assert all("quantization" in a and a["metrics"]["verdict"]["status"] == "verified" for a in int8.values()), \
            result.stdout[-4000:]
        assert "trying the measured fixes" in result.stdout and "chose " in result.stdout


def test_the_search_prints_what_each_try_cost(lossy_runs):
    models, result = lossy_runs[2000]  # plain int8's loss is shown there, so the search runs whatever the training
    tries = [line for line in result.stdout.splitlines() if line.startswith("  tried ")]
    assert tries and all(line.endswith(" s") for line in tries), tries
    assert any(line.startswith("  chose ") and " variants in " in line for line in result.stdout.splitlines())
    entry = next(a for a in listed(models) if a["path"] == "outlier_int8.tflite")
    search = entry["quantization"]["search"]
    assert search["tried"] >= 2 and search["seconds"] >= 0 and entry["quantization"]["seconds"] >= 0


def test_a_microcontrollers_fix_is_judged_on_tflite_micro(lossy_runs, tmp_path):
    """convert micro on the lossy MLP: plain int8 is refused on TFLite Micro, so the fixes that
    keep every op integer are tried and the one written was judged on TFLite Micro itself."""
    import shutil

    source, _ = lossy_runs[2000]
    models = shutil.copytree(source, tmp_path / "models")
    result = run_cli("convert", "micro", "--models", models, "--engine", "none", timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    entry = next(a for a in listed(models) if a["format"] == "tflite-micro")
    assert entry["metrics"]["verified_with"].startswith("tflite-micro "), entry["metrics"]
    assert entry["metrics"]["verdict"]["status"] == "verified" and "quantization" in entry
    assert not entry["quantization"]["float_ops"]  # a microcontroller's fix keeps every op integer
    assert "checked with tflite-micro: verified" in result.stdout
    parity = run_cli("runtime", "parity", "--models", models, "--backend", "tflite-micro", "--json")
    rows = {a["artifact"]: a for a in json.loads(parity.stdout)["artifacts"]}
    assert rows[entry["path"]]["status"] == "verified", parity.stdout[-2000:]


@pytest.mark.parametrize("count", [200, 500])
def test_a_sound_model_is_never_refused(pipeline, digits, count, tmp_path):
    result = convert_with(pipeline.models / "mnist_mlp.keras", digits, count, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    entries = listed(tmp_path / "models")
    assert len(entries) == 4 and all(a["metrics"]["verdict"]["status"] in LISTED for a in entries)
    assert "REJECTED" not in result.stdout


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seed_retrains_pass_convert_all_and_micro(seed, tmp_path):
    models = tmp_path / "models"
    trained = run_cli("train", "--dataset", "mnist-5k", "--seed", seed, "--models", models)
    assert trained.returncode == 0, trained.stderr[-2000:]
    for command in (("all",), ("micro",)):
        result = run_cli("convert", *command, "--models", models, timeout=1200)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert all(a["metrics"]["verdict"]["status"] in LISTED for a in listed(models))


def test_a_model_at_chance_is_refused_before_anything_is_written(digits, tmp_path):
    """An untrained seed MLP scores at chance on its own held-out digits: nothing could be
    judged against it, so nothing is written."""
    import keras

    from train.networks import build_model

    keras.utils.set_random_seed(0)
    model = build_model()
    model.save(tmp_path / "untrained.keras")
    result = convert_with(tmp_path / "untrained.keras", digits, 500, tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "chance" in result.stderr and "nothing was written" in result.stderr, result.stderr
    assert not (tmp_path / "models" / "manifest.json").exists()
