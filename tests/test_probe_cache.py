"""A file no manifest lists is probed in a child once per content, backend and version
(runtime/backends/probe_cache.py): a pass is remembered, a failure never is, and a cache that cannot be
written never fails a load. (A cache that is tampered with: tests/test_hostile_caches.py.)"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from runtime.errors import ModelFileError
from runtime.backends.probe import probe
from runtime.backends.probe_cache import SECRET_NAME, ProbeCache, probe_key

MODEL = "mnist_mlp_int8.tflite"


@pytest.fixture
def unlisted(pipeline, tmp_path):
    """The int8 model copied out of its models folder: no manifest vouches for it."""
    path = tmp_path / "unlisted" / "model.tflite"
    path.parent.mkdir()
    shutil.copy(pipeline.models / MODEL, path)
    return path


def test_a_file_that_passed_is_remembered_by_its_content(unlisted, tmp_path):
    folder = tmp_path / "probed"
    cache = ProbeCache(folder)
    key = probe_key(unlisted, "litert")
    assert not cache.passed(key)
    probe(unlisted, "litert", cache=cache)
    assert cache.passed(key) and sorted(os.listdir(folder)) == sorted([key, SECRET_NAME])
    assert (folder / key).stat().st_size == 64 and (folder / SECRET_NAME).stat().st_mode & 0o777 == 0o600
    assert ProbeCache(folder).passed(key)  # what the next process finds
    changed = unlisted.with_name("changed.tflite")
    changed.write_bytes(unlisted.read_bytes() + b"\0")
    assert probe_key(changed, "litert") != key and probe_key(unlisted, "onnxruntime") != key


def test_a_file_that_fails_is_never_remembered(unlisted, tmp_path):
    unlisted.write_bytes(unlisted.read_bytes()[:200])
    folder = tmp_path / "probed"
    cache = ProbeCache(folder)
    for _ in range(2):  # probed again, and refused again
        with pytest.raises(ModelFileError, match=r"model\.tflite"):
            probe(unlisted, "litert", cache=cache)
    assert not cache.passed(probe_key(unlisted, "litert")) and not folder.exists()


def test_an_unwritable_cache_never_fails_a_load(unlisted, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    cache = ProbeCache(blocker / "probed")
    probe(unlisted, "litert", cache=cache)  # no error
    assert cache.passed(probe_key(unlisted, "litert")) and blocker.is_file()  # remembered in memory only


def test_load_remembers_a_pass_in_the_users_cache_folder(unlisted, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "EDGE_MNIST_CACHE"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(ROOT))
    code = ("import json, sys, runtime; m = runtime.load(sys.argv[1]); "
            "print(json.dumps({'backend': m.backend.name}))")
    for _ in range(2):
        child = subprocess.run([sys.executable, "-c", code, str(unlisted)], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr
    backend = json.loads(child.stdout)["backend"]
    assert sorted(os.listdir(tmp_path / "xdg" / "edge-mnist" / "probed")) == sorted([probe_key(unlisted, backend), SECRET_NAME])


def test_a_pass_recorded_by_other_backend_code_is_not_this_codes_pass(tmp_path):
    """Same file, same Python and interpreter, a runtime whose backend code differs by one
    comment: another key, so a pass an older runtime recorded is checked again."""
    model = tmp_path / "model.tflite"
    model.write_bytes(b"any bytes: the key does not read them as a model")
    other = tmp_path / "other"
    shutil.copytree(ROOT / "runtime", other / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "runtime" / "backends" / "tflite.py", "a") as source:
        source.write("\n# another version of the code that opens a file\n")
    code = "import sys; from runtime.backends.probe_cache import probe_key; print(probe_key(sys.argv[1], 'litert'))"
    keys = [subprocess.run([sys.executable, "-c", code, model], cwd=root, capture_output=True, text=True, check=True,
                           env=dict(os.environ, PYTHONPATH=str(root))).stdout.strip()
            for root in (ROOT, other, ROOT)]
    assert keys[0] == keys[2] == probe_key(model, "litert") and keys[1] != keys[0] and len(keys[1]) == 64
