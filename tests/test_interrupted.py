"""Interrupted and concurrent writers: a conversion killed halfway leaves the earlier
artifacts and the manifest intact and consistent, and the next run cleans up after it."""

import json
import signal
import subprocess
import sys

import pytest

from runtime.store.files import folder_lock, sha256_file
from runtime.evaluate.parity import check_models

from conftest import ROOT, run_cli


def _fresh_training_outputs(pipeline, dest):
    """A models folder as `python -m train` leaves it: the manifest lists only the Keras model."""
    models = pipeline.copy(dest)
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["format"] == "keras"]
    (models / "manifest.json").write_text(json.dumps(manifest))
    for artifact in models.glob("mnist_mlp_*.*"):
        if artifact.suffix != ".keras":
            artifact.unlink()
    return models


def _assert_consistent(models):
    manifest = json.loads((models / "manifest.json").read_text())
    for entry in manifest["artifacts"]:
        assert sha256_file(models / entry["path"]) == entry["sha256"], entry["path"]
    listed = {a["path"] for a in manifest["artifacts"]}
    on_disk = {p.name for p in models.glob("mnist_mlp*") if not p.name.startswith(".")}
    assert on_disk == listed, "a visible model file that the manifest does not list"
    return manifest


@pytest.mark.slow
def test_conversion_killed_halfway(pipeline, tmp_path):
    models = _fresh_training_outputs(pipeline, tmp_path / "models")
    command = [sys.executable, "-m", "convert", "tflite", "--quantize", "float32", "int8", "float16", "dynamic",
               "--models", str(models)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("Converting") and "int8" in line:
            process.send_signal(signal.SIGKILL)  # in the middle of the second artifact
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "".join(seen)

    manifest = _assert_consistent(models)
    listed = [a["path"] for a in manifest["artifacts"]]
    assert listed[:2] == ["mnist_mlp.keras", "mnist_mlp_float32.tflite"]
    assert "mnist_mlp_dynamic.tflite" not in listed  # it was killed before the end
    report = check_models(models)
    assert report.passed and [r.artifact for r in report.results] == listed[1:]

    again = run_cli("convert", "tflite", "--quantize", "float32", "int8", "--models", models)
    assert again.returncode == 0, again.stdout + again.stderr
    _assert_consistent(models)
    assert not list(models.glob(".*.tmp.*")), "temporary files of the killed run were not cleaned up"


def test_a_second_writer_is_refused_while_one_runs(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    with folder_lock(models):
        result = run_cli("convert", "tflite", "--models", models)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {models} is being written by another train or convert run; wait for it to finish"
    )


@pytest.mark.slow
def test_keras_model_with_code_is_refused_by_safe_mode(pipeline, tmp_path):
    """A .keras file with a Lambda layer would run code on load; safe mode refuses it."""
    import keras

    models = pipeline.copy(tmp_path / "models")
    lambda_model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                     keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Dense(10, activation="softmax")])
    lambda_model.save(models / "mnist_mlp.keras")
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["artifacts"][0]["sha256"] = sha256_file(models / "mnist_mlp.keras")
    (models / "manifest.json").write_text(json.dumps(manifest))
    result = run_cli("convert", "tflite", "--models", models)
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: {models / 'mnist_mlp.keras'}: cannot load the Keras model in safe mode:")
    assert "Lambda" in error or "safe_mode" in error
