"""convert/verify.py, the one way a file is verified before it is listed: conversion and micro call
verify(), the int8 fixes reach it as its fallback, and it alone commits or rejects a file. On real
files through the real runtime (no TensorFlow here): a sound file is committed with the same
manifest entry conversion writes, a broken one is rejected with its reason and nothing written,
a fallback is judged like the file it replaces."""

import ast
import json
import shutil

import pytest

import runtime
from convert.verify import Candidate, verify, with_candidate
from runtime.errors import ModelFileError
from runtime.store.files import sha256_file
from runtime.store.folder import ModelsFolder
from runtime.verdict import Limits

from conftest import ROOT

NAME = "copy_float32.tflite"


def calls(path, attribute: bool) -> set:
    """Names of the functions (or, with `attribute`, methods) that a module calls."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            if attribute and isinstance(func, ast.Attribute):
                found.add(func.attr)
            elif not attribute and isinstance(func, ast.Name):
                found.add(func.id)
    return found


def test_conversion_and_micro_call_verify_and_only_verify_commits_or_rejects():
    convert = {path.stem: path for path in (ROOT / "convert").glob("*.py")}
    callers = {name for name, path in convert.items() if "verify" in calls(path, attribute=False)}
    assert {"conversion", "micro"} <= callers
    writers = {name for name, path in convert.items() if {"commit", "reject"} & calls(path, attribute=True)}
    assert writers == {"verify"}
    conversion = ast.parse(convert["conversion"].read_text())
    verify_calls = [node for node in ast.walk(conversion) if isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name) and node.func.id == "verify"]
    assert len(verify_calls) == 1 and "fallback" in {k.arg for k in verify_calls[0].keywords}  # the int8 fixes
    fallbacks = [node for node in ast.walk(conversion) if isinstance(node, ast.Assign)
                 and [getattr(t, "id", None) for t in node.targets] == ["fallback"] and isinstance(node.value, ast.Call)]
    assert "int8_fix" in [getattr(node.value.func, "id", None) for node in fallbacks]
    for top in ("convert", "train"):  # and nothing there writes a manifest itself
        for path in (ROOT / top).rglob("*.py"):
            assert "write_manifest" not in calls(path, attribute=False), path


def candidate(source, precision="float32", name=NAME):
    """A candidate whose file is a copy of `source`, loaded back with the MNIST contract."""
    return Candidate(name=name, format="tflite", precision=precision, write=lambda tmp: shutil.copyfile(source, tmp),
                     open=lambda tmp: runtime.load(tmp, contract=runtime.InputContract()))


def test_a_sound_file_is_committed_with_the_entry_conversion_writes(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    lines = []
    with ModelsFolder.writing(models) as folder:
        verified = verify(candidate(models / "mnist_mlp_float32.tflite"), folder, Limits(), log=lambda *a, **k: lines.append(a[0]))
    assert verified.committed and verified.status == "verified" and verified.result.passed
    assert lines and lines[0].startswith("  checked with litert: verified: max |Δp| ")
    listed = json.loads((models / "manifest.json").read_text())
    entries = {a["path"]: a for a in listed["artifacts"]}
    assert entries[NAME]["sha256"] == sha256_file(models / NAME) and entries[NAME]["metrics"]["verdict"]["passed"]
    assert set(entries[NAME]) == set(entries["mnist_mlp_float32.tflite"]) - {"golden_set"}  # one record for every file
    # (conversion's files also record the golden set they carry: test_the_file_committed_is_the_sealed_file_judged)
    assert entries[NAME]["input"]["tensor"] == entries["mnist_mlp_float32.tflite"]["input"]["tensor"]


def test_a_broken_file_is_rejected_with_its_reason_and_not_written(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    int8_as_float = candidate(models / "mnist_mlp_int8.tflite")  # an int8 file is no float32 file: |Δp| is too large
    with ModelsFolder.writing(models) as folder:
        verified = verify(int8_as_float, folder, Limits(), log=lambda *a, **k: None)
    assert verified.status == "rejected" and not verified.committed and not (models / NAME).exists()
    assert not list(models.glob(".*.tmp*"))
    rejection = ModelsFolder.open(models).manifest.rejection(NAME)
    assert rejection is not None and rejection.reason.startswith("max |Δp| ") and "> 0.0001" in rejection.reason
    with pytest.raises(ModelFileError, match=r"conversion rejected it \(float32\), so it was not written: max \|Δp\|"):
        runtime.load(models / NAME)


def test_a_fallback_is_judged_in_place_of_the_candidate_it_replaces(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    broken = candidate(models / "mnist_mlp_int8.tflite")
    fixed = with_candidate(broken, write=lambda tmp: shutil.copyfile(models / "mnist_mlp_float32.tflite", tmp),
                           extra={"quantization": {"variant": "a test's"}}, notes=("the fix",))
    asked = []
    with ModelsFolder.writing(models) as folder:
        verified = verify(broken, folder, Limits(), fallback=lambda judged: asked.append(judged.result) or fixed,
                          log=lambda *a, **k: None)
    assert len(asked) == 1 and not asked[0].passed  # asked once, with the failed judgement
    assert verified.committed and "the fix" in verified.result.notes
    assert ModelsFolder.open(models).entry(NAME).extra["quantization"] == {"variant": "a test's"}


def test_an_error_rejects_the_file_or_stops_the_command(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")

    def damaged(tmp):
        tmp.write_bytes(b"not a model")

    with ModelsFolder.writing(models) as folder:
        verified = verify(with_candidate(candidate(None), write=damaged), folder, Limits(), log=lambda *a, **k: None)
        assert verified.status == "rejected" and str(models / NAME) in verified.result.failures[0]
        with pytest.raises(ModelFileError):  # micro's way: a file TFLite Micro cannot run stops the command
            verify(with_candidate(candidate(None), write=damaged, errors_reject=False), folder, Limits())
    assert ModelsFolder.open(models).manifest.rejection(NAME) is not None and not (models / NAME).exists()


def test_the_file_committed_is_the_sealed_file_judged(pipeline, reference, tmp_path):
    """A seal (the golden set) is committed only when the sealed file, loaded again, gives the
    judged outputs bit for bit and passes the device's check of its set; a seal that changes
    what the file computes (here: it puts another model in its place) rejects it."""
    from convert.golden import golden_sealer
    from runtime.store.embedded import read_golden

    models = pipeline.copy(tmp_path / "models")
    source = models / "mnist_mlp_int8.tflite"
    plain = tmp_path / "plain.tflite"
    shutil.copyfile(source, plain)
    from golden_files import rewrite_golden

    rewrite_golden(plain, None)  # the file as conversion wrote it before sealing
    sealed = with_candidate(candidate(plain, "int8"), seal=golden_sealer("tflite", "int8", reference))
    with ModelsFolder.writing(models) as folder:
        verified = verify(sealed, folder, Limits(), log=lambda *a, **k: None)
    assert verified.committed and read_golden(models / NAME).intact
    entry = ModelsFolder.open(models).entry(NAME)
    assert entry.extra["golden_set"]["images"] == 32 and entry.sha256 == sha256_file(models / NAME)

    def replaced(path, model, probs, result):
        shutil.copyfile(models / "mnist_mlp_float32.tflite", path)
        return {"images": 1}, "replaced"

    with ModelsFolder.writing(models) as folder:
        verified = verify(with_candidate(sealed, seal=replaced), folder, Limits(), log=lambda *a, **k: None)
    assert verified.status == "rejected"
    assert verified.result.failures == ["embedding its golden set changed what it computes on the reference images"]
