"""`parity` while `convert` rewrites the same folder: the writer renames a file into place
and rewrites the manifest under the folder's exclusive manifest lock, readers hold it
shared, so a deployment gate never fails because it read one run's file with another
run's entry."""

import json
import subprocess
import sys
import threading
import time

import pytest

from runtime.store.files import atomic_path, commit_file, manifest_lock, sha256_file
from runtime.store.layout import MANIFEST_LOCK_NAME
from runtime.store.manifest import read_manifest, write_manifest
from runtime.evaluate.parity import check_models

from conftest import ROOT, run_cli

MISMATCH = "does not match the manifest's"
READ_SECONDS = 8.0
"""How long parity is run again and again while the writer rewrites the folder."""


def _writer(models, name, stop):
    """Rewrites `name` in turn as two different, valid files (the model, and the model with
    bytes after its end), each followed by its manifest entry, as convert commits one."""
    path = models / name
    original = path.read_bytes()
    versions = [original + b"\0" * 64, original]
    k = 0
    while not stop.is_set():
        data = versions[k % 2]
        k += 1
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
            manifest = read_manifest(models)
            entry = manifest.find(name)
            entry.sha256, entry.bytes = sha256_file(tmp), len(data)
            with manifest_lock(models, shared=False):
                commit_file(tmp, path)
                manifest.put(entry)
                write_manifest(models, manifest)
        time.sleep(0.005)


@pytest.mark.slow
def test_parity_never_sees_a_file_and_an_entry_from_different_writes(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(models, "mnist_mlp_float32.tflite", stop), daemon=True)
    writer.start()
    runs, failures = 0, []
    try:
        started = time.monotonic()
        while time.monotonic() - started < READ_SECONDS:
            report = check_models(models)
            runs += 1
            failures += [f for r in report.results for f in r.failures]
    finally:
        stop.set()
        writer.join(timeout=30)
    assert runs >= 3
    assert failures == [], failures[:3]
    assert sha256_file(models / "mnist_mlp_float32.tflite") == read_manifest(models).find("mnist_mlp_float32.tflite").sha256


def test_a_read_only_folder_is_read_without_the_lock(pipeline, tmp_path):
    """A copy on a device, read-only with no lock file: parity runs, and makes none."""
    models = pipeline.copy(tmp_path / "models")
    (models / MANIFEST_LOCK_NAME).unlink(missing_ok=True)
    models.chmod(0o555)
    try:
        if _writable(models):
            pytest.skip("this user can write to a read-only folder (root)")
        assert check_models(models).passed
        assert not (models / MANIFEST_LOCK_NAME).exists()
    finally:
        models.chmod(0o755)


def _writable(folder) -> bool:
    try:
        (folder / "probe").write_text("")
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


def test_a_writer_that_keeps_the_lock_gives_readers_a_clear_error(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    with manifest_lock(models, shared=False):
        from runtime.errors import ManifestError

        with pytest.raises(ManifestError, match=r"is being written by convert and stayed locked for 0.2 s; try again"):
            with manifest_lock(models, shared=True, timeout=0.2):
                pass


@pytest.mark.slow
def test_parity_cli_while_convert_rewrites_the_folder(pipeline, tmp_path):
    """The real thing: int8 files from different calibration sizes, so each convert writes
    different bytes, while `runtime parity` runs again and again."""
    models = pipeline.copy(tmp_path / "models")
    writer = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys\n"
         "for n in (100, 200, 100):\n"
         "    subprocess.run([sys.executable, '-m', 'convert', 'tflite', '--quantize', 'int8', '--calibration-samples', "
         "str(n), '--models', sys.argv[1]], check=True, capture_output=True)\n", str(models)],
        cwd=ROOT)
    outputs = []
    try:
        while writer.poll() is None:
            result = run_cli("runtime", "parity", "--models", models, "--json", timeout=300)
            outputs.append(result)
    finally:
        writer.wait(timeout=600)
    assert writer.returncode == 0
    assert len(outputs) >= 3
    for result in outputs:
        assert MISMATCH not in result.stdout + result.stderr
        assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
        assert json.loads(result.stdout)["passed"]
