"""A file conversion rejected is named as rejected, with the manifest's reason: by `runtime
predict` asked to run it, and by `convert web`, which then runs the float ONNX file and says
why. The manifest's "rejected" list ({"path", "precision", "reason"}) is read tolerantly. A
file whose verdict is unproven is named as such wherever it is used, and the default choices
prefer a verified file."""

import json
import re

import pytest

import runtime
from runtime.errors import ModelFileError
from runtime.store.folder import missing_file_reason
from runtime.store.manifest import rejections_in

from conftest import run_cli

REASON = "agreement 97.10% < 99.00% on 1000 reference images"


def reject(models, name: str, precision: str = "int8", reason: str = REASON):
    """As conversion leaves a folder whose `name` failed: the file gone, its entry moved to "rejected"."""
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["path"] != name]
    manifest.setdefault("rejected", []).append({"path": name, "precision": precision, "reason": reason})
    (models / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (models / name).unlink()


def test_predict_names_a_rejected_file_and_its_reason(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    reject(models, "mnist_mlp_int8.tflite")
    digit = tmp_path / "digit.png"
    from PIL import Image

    from runtime.store.bundles import load_reference

    image = load_reference(models).images[0]
    Image.fromarray(image.squeeze(-1) if image.ndim == 3 else image).save(digit)
    result = run_cli("runtime", "predict", digit, "--model", models / "mnist_mlp_int8.tflite")
    assert result.returncode == 2
    assert re.fullmatch(r"error: .*mnist_mlp_int8\.tflite: conversion rejected it \(int8\), so it was not written: "
                        + re.escape(REASON) + r" \(recorded in .*manifest\.json\)\n", result.stderr), result.stderr
    assert "model file not found" not in result.stderr
    default = run_cli("runtime", "predict", digit, "--models", models)  # without --model: the next artifact, and why
    assert default.returncode == 0, default.stderr
    assert f"note: conversion rejected mnist_mlp_int8.tflite ({REASON}); using mnist_mlp_float32.tflite" in default.stderr


def test_a_file_the_manifest_does_not_know_is_said_to_be_unlisted(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    with pytest.raises(ModelFileError, match=r"not_converted_int8\.tflite: not listed in .*manifest\.json "
                                             r"\(it was not written or was removed\)"):
        runtime.load(models / "not_converted_int8.tflite")
    (models / "mnist_mlp_float32.onnx").unlink()
    with pytest.raises(ModelFileError, match=r"manifest\.json lists it, but the file is gone"):
        runtime.load(models / "mnist_mlp_float32.onnx")
    with pytest.raises(ModelFileError, match=r"elsewhere\.tflite: model file not found"):  # no manifest there
        runtime.load(tmp_path / "elsewhere.tflite")


@pytest.mark.parametrize("rejected", [None, "not a list", [1, "x", {"precision": "int8"}], {"path": 3}])
def test_malformed_rejection_lists_mean_no_rejections(tmp_path, rejected):
    data = {"artifacts": []} if rejected is None else {"artifacts": [], "rejected": rejected}
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    assert rejections_in(data) == []
    unlisted = f"not listed in {tmp_path / 'manifest.json'} (it was not written or was removed)"
    assert missing_file_reason(tmp_path / "m_int8.tflite") == unlisted
    (tmp_path / "manifest.json").write_text("{not json")
    assert missing_file_reason(tmp_path / "m_int8.tflite") == unlisted


def test_web_says_it_runs_the_float_file_and_why(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    reject(models, "mnist_mlp_int8.onnx")
    result = run_cli("convert", "web", "--models", models)
    assert result.returncode == 0, result.stderr
    assert json.loads((models / "web" / "model.json").read_text())["artifact"]["file"] == "mnist_mlp_float32.onnx"
    assert re.search(r"^Note: the page runs the float32 ONNX file \(.*\): there is no int8 one; conversion rejected "
                     r"mnist_mlp_int8\.onnx: " + re.escape(REASON) + "$", result.stdout, re.M), result.stdout
    asked = run_cli("convert", "web", "--models", models, "--artifact", "mnist_mlp_int8.onnx")
    assert asked.returncode == 2 and f"--artifact mnist_mlp_int8.onnx: conversion rejected it: {REASON}" in asked.stderr


@pytest.mark.slow  # follows the advice: converts the ONNX files again
def test_web_without_any_onnx_file_gives_advice_that_works(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    for name in ("mnist_mlp_int8.onnx", "mnist_mlp_float32.onnx"):
        manifest = json.loads((models / "manifest.json").read_text())
        manifest["artifacts"] = [a for a in manifest["artifacts"] if a["path"] != name]
        (models / "manifest.json").write_text(json.dumps(manifest, indent=2))
        (models / name).unlink()
    result = run_cli("convert", "web", "--models", models)
    advice = re.search(r"run `(python -m convert onnx --models \S+)` first", result.stderr)
    assert result.returncode == 2 and advice, result.stderr
    followed = run_cli(*advice[1].split()[2:])  # the advice, as typed
    assert followed.returncode == 0, followed.stdout[-2000:] + followed.stderr[-2000:]
    assert run_cli("convert", "web", "--models", models).returncode == 0
    reject(models, "mnist_mlp_int8.onnx")
    reject(models, "mnist_mlp_float32.onnx", "float32", "max |Δp| 3.1e-02 > 1e-05")
    result = run_cli("convert", "web", "--models", models)
    assert result.returncode == 2 and "conversion rejected every ONNX file (mnist_mlp_int8.onnx: " in result.stderr
    assert "the page runs only files that passed verification" in result.stderr


def test_web_without_a_rejection_record_says_the_int8_file_is_not_in_the_manifest(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["path"] != "mnist_mlp_int8.onnx"]
    (models / "manifest.json").write_text(json.dumps(manifest, indent=2))
    result = run_cli("convert", "web", "--models", models)
    assert result.returncode == 0, result.stderr
    assert (f"there is no int8 one; mnist_mlp_int8.onnx is not in the manifest: it was not converted, or conversion "
            f"rejected it (`python -m convert onnx --models {models}` converts it and says which)") in result.stdout


UNPROVEN_SUMMARY = ("unproven: −0.50 pp (95%: no worse than −1.80 pp), 1,000 images: these images prove --max-drop "
                    "1.8 pp; about 2,400 images would settle the 1 pp budget at this rate of disagreement")


def make_unproven(models, name: str) -> None:
    """As conversion lists a file whose images could not show it within the budget."""
    manifest = json.loads((models / "manifest.json").read_text())
    verdict = next(a for a in manifest["artifacts"] if a["path"] == name)["metrics"]["verdict"]
    verdict.update(status="unproven", summary=UNPROVEN_SUMMARY)
    (models / "manifest.json").write_text(json.dumps(manifest, indent=2))


def digit_file(models, tmp_path):
    from PIL import Image

    from runtime.store.bundles import load_reference

    image = load_reference(models).images[0]
    Image.fromarray(image.squeeze(-1) if image.ndim == 3 else image).save(tmp_path / "digit.png")
    return tmp_path / "digit.png"


def test_predict_prefers_a_verified_file_and_names_an_unproven_one(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    for name in ("mnist_mlp_float32.tflite", "mnist_mlp_int8.tflite", "mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"):
        verdict = pipeline.artifact(name)["metrics"]["verdict"]
        if verdict["status"] != "verified":  # a retrain's int8 file may be unproven already: verified here
            manifest = json.loads((models / "manifest.json").read_text())
            next(a for a in manifest["artifacts"] if a["path"] == name)["metrics"]["verdict"]["status"] = "verified"
            (models / "manifest.json").write_text(json.dumps(manifest, indent=2))
    make_unproven(models, "mnist_mlp_int8.tflite")
    digit = digit_file(models, tmp_path)
    default = run_cli("runtime", "predict", digit, "--models", models)
    assert default.returncode == 0, default.stderr
    assert (f"note: mnist_mlp_int8.tflite is {UNPROVEN_SUMMARY}; using mnist_mlp_float32.tflite, whose verdict is "
            "verified") in default.stderr
    assert f"Model: {models / 'mnist_mlp_float32.tflite'} " in default.stderr
    asked = run_cli("runtime", "predict", digit, "--model", models / "mnist_mlp_int8.tflite", "--json")
    assert asked.returncode == 0 and json.loads(asked.stdout)["model_status"] == "unproven", asked.stderr
    assert f"note: mnist_mlp_int8.tflite is {UNPROVEN_SUMMARY}\n" in asked.stderr
    for name in ("mnist_mlp_float32.tflite", "mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"):
        make_unproven(models, name)  # nothing verified: the int8 TFLite file, named as unproven
    default = run_cli("runtime", "predict", digit, "--models", models)
    assert f"Model: {models / 'mnist_mlp_int8.tflite'} " in default.stderr
    assert f"note: mnist_mlp_int8.tflite is {UNPROVEN_SUMMARY}\n" in default.stderr and "using" not in default.stderr
    watched = run_cli("runtime", "watch", tmp_path, "--models", models, "--json")
    assert watched.returncode == 0 and f"note: mnist_mlp_int8.tflite is {UNPROVEN_SUMMARY}" in watched.stderr, watched.stderr
    assert json.loads(watched.stderr.strip().splitlines()[-1])["model_status"] == "unproven"


def test_web_prefers_a_verified_file_and_the_page_names_an_unproven_one(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    make_unproven(models, "mnist_mlp_int8.onnx")
    float_verified = pipeline.artifact("mnist_mlp_float32.onnx")["metrics"]["verdict"]["status"] == "verified"
    result = run_cli("convert", "web", "--models", models)
    assert result.returncode == 0, result.stderr
    config = json.loads((models / "web" / "model.json").read_text())
    assert float_verified and config["artifact"]["file"] == "mnist_mlp_float32.onnx"  # float32 files are verified or refused
    assert config["artifact"]["status"] == "verified"
    assert f"Note: the page runs the float32 ONNX file (" in result.stdout
    assert f"mnist_mlp_int8.onnx is {UNPROVEN_SUMMARY}" in result.stdout
    asked = run_cli("convert", "web", "--models", models, "--artifact", "mnist_mlp_int8.onnx")
    assert asked.returncode == 0, asked.stderr
    config = json.loads((models / "web" / "model.json").read_text())
    assert config["artifact"]["status"] == "unproven" and config["artifact"]["verdict"] == UNPROVEN_SUMMARY
    assert f"Note: the page runs mnist_mlp_int8.onnx, whose check was {UNPROVEN_SUMMARY}" in asked.stdout
    assert 'artifact.status === "unproven"' in (models / "web" / "app.js").read_text()  # the page says it (test_web's browser tests run it)
