"""A .keras file that is garbage, truncated or damaged is called that, with its path, in one
`error:` line, by every convert subcommand that reads a Keras model; nothing is written.
(Keras itself calls a file that is not a zip archive "File not found".)"""

import json
import re
import zipfile

import pytest

from conftest import run_cli
from convert.keras_file import KerasFileError, check_keras_archive
from runtime.store.files import sha256_file


def _garbage(path, good):
    path.write_bytes(bytes(range(256)) * 2)


def _truncated(path, good):
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])


def _not_a_model(path, good):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "a zip archive, but not of a model")


def _bad_checksum(path, good):
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo("config.json")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start:start + 20] = b"#" * 20  # inside config.json's stored bytes: its CRC no longer matches
    path.write_bytes(bytes(data))


DAMAGES = [
    (_garbage, r"not a Keras model file, or a damaged one \(a \.keras file is a zip archive"),
    (_truncated, r"not a Keras model file, or a damaged one \(a \.keras file is a zip archive"),
    (_not_a_model, r"not a Keras model file \(a zip archive without config\.json\)"),
    (_bad_checksum, r"a damaged Keras model file \(config\.json in it fails its checksum\)"),
]
IDS = ["garbage", "truncated", "zip of no model", "bad checksum"]


@pytest.mark.parametrize("damage, message", DAMAGES, ids=IDS)
def test_check_names_what_is_wrong(pipeline, tmp_path, damage, message):
    bad = tmp_path / "model.keras"
    damage(bad, pipeline.models / "mnist_mlp.keras")
    with pytest.raises(KerasFileError, match=message):
        check_keras_archive(bad)


def test_a_good_file_passes_the_check(pipeline):
    check_keras_archive(pipeline.models / "mnist_mlp.keras")


@pytest.mark.parametrize("subcommand", ["all", "tflite", "onnx", "micro", "diagnose"])
def test_convert_with_keras_says_the_file_is_damaged(pipeline, tmp_path, subcommand):
    bad = tmp_path / "model.keras"
    _truncated(bad, pipeline.models / "mnist_mlp.keras")
    result = run_cli("convert", subcommand, "--keras", bad, "--data", pipeline.models / "reference.npz",
                     "--models", tmp_path / "out", timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and errors[0].startswith(f"error: {bad}: not a Keras model file, or a damaged one")
    assert "File not found" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage, message", DAMAGES, ids=IDS)
def test_convert_of_a_models_folder_says_its_keras_file_is_damaged(pipeline, tmp_path, damage, message):
    """The training output replaced (its manifest checksum updated, so only the file is wrong)."""
    models = pipeline.copy(tmp_path / "models")
    damage(models / "mnist_mlp.keras", pipeline.models / "mnist_mlp.keras")
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["artifacts"][0]["sha256"] = sha256_file(models / "mnist_mlp.keras")
    (models / "manifest.json").write_text(json.dumps(manifest))
    before = sorted(p.name for p in models.iterdir())
    result = run_cli("convert", "tflite", "--models", models, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and str(models / "mnist_mlp.keras") in errors[0]
    assert re.search(message, errors[0]), errors[0]
    assert sorted(p.name for p in models.iterdir()) == before
