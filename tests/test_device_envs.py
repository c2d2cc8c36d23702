"""The device side in two clean virtual environments with no TensorFlow, as on a Raspberry Pi
running Raspberry Pi OS bookworm (Python 3.11):

- tflite-runtime: numpy<2 + tflite-runtime 2.14 (its last release, built against NumPy 1.x)
- litert: numpy 2 + ai-edge-litert + onnxruntime

Each installs the project from this checkout with only its device extras, and runs the
installed `python -m runtime` from outside the checkout on the artifacts that the training
environment built. The venvs and the source copy are removed when the module ends, passed or
failed (EDGE_MNIST_KEEP_VENVS=1 keeps them, to debug inside one)."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from photos import write_clear_photos
from venvs import remove_unless_kept

pytestmark = pytest.mark.venvs

FLAVOURS = {
    "tflite-runtime": {"extras": "tflite-runtime,images", "numpy_major": "1", "tflite_backend": "tflite-runtime"},
    "litert": {"extras": "litert,onnxruntime,images", "numpy_major": "2", "tflite_backend": "litert"},
}


def _run(cmd, **kwargs):
    """Without the checkout on PYTHONPATH (as `export PYTHONPATH=$PWD` puts it), or the venv
    would import the checkout's runtime instead of the installed one."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, env=env, **kwargs)


_ENVS = {}
"""flavour -> its venv's python, and "source" -> the checkout's copy: built once per module."""
_FOLDERS = []
"""What the module made in the temp folder: removed at its end."""


@pytest.fixture(scope="module", autouse=True)
def venvs_removed_at_the_end():
    """The module's venvs (hundreds of MB) do not outlive it, whether its tests passed or not."""
    yield
    remove_unless_kept(*_FOLDERS)
    _FOLDERS.clear()
    _ENVS.clear()


def source_copy(tmp_path_factory):
    """The checkout's committed kind of files, copied: pip builds in the source folder, and its
    build/ must not land in the checkout."""
    if "source" not in _ENVS:
        dest = tmp_path_factory.mktemp("source") / "edge-mnist"
        _FOLDERS.append(dest.parent)
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv", "models", "build", "*.egg-info", "__pycache__", ".pytest_cache", "node_modules"))
        _ENVS["source"] = dest
    return _ENVS["source"]


def build_env(flavour, tmp_path_factory):
    """The python of a fresh venv with the project installed from this checkout (built once)."""
    if flavour not in _ENVS:
        venv = tmp_path_factory.mktemp(f"venv-{flavour}")
        _FOLDERS.append(venv)
        created = _run([sys.executable, "-m", "venv", venv])
        assert created.returncode == 0, created.stderr
        python = venv / "bin" / "python"
        installed = _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          f"{source_copy(tmp_path_factory)}[{FLAVOURS[flavour]['extras']}]"])
        assert installed.returncode == 0, installed.stderr[-3000:]
        _ENVS[flavour] = python
    return _ENVS[flavour]


@pytest.fixture(scope="module", params=sorted(FLAVOURS))
def device_env(request, tmp_path_factory):
    """(flavour, python) for each device flavour."""
    return request.param, build_env(request.param, tmp_path_factory)


def test_env_has_no_tensorflow_and_the_expected_numpy(device_env, tmp_path):
    flavour, python = device_env
    probe = ("import importlib.util as u, numpy, runtime; "
             "print([m for m in ('tensorflow', 'keras', 'tf_keras', 'tf2onnx', 'playwright') if u.find_spec(m)]); "
             "print(numpy.__version__); print(runtime.__file__)")
    result = _run([python, "-c", probe], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    missing, numpy_version, location = result.stdout.split("\n")[:3]
    assert missing == "[]"
    assert numpy_version.split(".")[0] == FLAVOURS[flavour]["numpy_major"]
    assert "site-packages" in location and str(ROOT) not in location


def test_parity_passes_in_the_device_env(device_env, pipeline, tmp_path):
    flavour, python = device_env
    result = _run([python, "-m", "runtime", "parity", "--models", pipeline.models, "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    rows = {a["artifact"]: a for a in report["artifacts"]}
    backend = FLAVOURS[flavour]["tflite_backend"]
    for name in ("mnist_mlp_float32.tflite", "mnist_mlp_int8.tflite"):
        assert rows[name]["passed"] and rows[name]["backend"].startswith(backend + " ")
    if flavour == "litert":
        assert rows["mnist_mlp_float32.onnx"]["passed"] and rows["mnist_mlp_int8.onnx"]["passed"]
        assert report["skipped"] == []
    else:
        assert [s["artifact"] for s in report["skipped"]] == ["mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"]
        assert "pip install onnxruntime" in report["skipped"][0]["reason"]
    assert report["platform"]["numpy"].split(".")[0] == FLAVOURS[flavour]["numpy_major"]


def test_predict_works_on_image_files(device_env, pipeline, reference, tmp_path):
    flavour, python = device_env
    expected = write_clear_photos(reference, tmp_path)
    result = _run([python, "-m", "runtime", "predict", *expected, "--model",
                   pipeline.models / "mnist_mlp_int8.tflite", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backend"] == FLAVOURS[flavour]["tflite_backend"]
    assert {r["file"]: r["label"] for r in data["results"]} == expected


def test_missing_interpreter_names_the_package(pipeline, tmp_path_factory, tmp_path):
    python = build_env("tflite-runtime", tmp_path_factory)  # the flavour without onnxruntime
    result = _run([python, "-m", "runtime", "info", pipeline.models / "mnist_mlp_float32.onnx"], cwd=tmp_path)
    assert result.returncode == 2
    assert re.search(r"error: cannot run .*mnist_mlp_float32\.onnx: no interpreter for \.onnx files is installed; pip install onnxruntime", result.stderr)
