"""The runtime's `c` backend: the C engine of `python -m convert micro` built by this machine's
C compiler, cached by content, called through ctypes. parity, predict, info and bench run it
like every backend, its outputs are TFLite Micro's bytes, it needs numpy and nothing else, a
missing compiler or a source that does not compile is one line, and the cache loads only
what it can check again (tests/test_c_cache.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT, run_cli
from photos import write_clear_photos

ENGINE = "micro/mnist_mlp_int8.c"
HEADER = "micro/mnist_mlp_int8.h"
TFLM = "mnist_mlp_int8_micro.tflite"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of this test's own, for the CLI's children too."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("EDGE_MNIST_CACHE", str(folder))
    return folder / "c-engines"


def test_parity_runs_the_c_engine_by_default_and_alone_with_backend_c(micro_models, cache):
    models, _ = micro_models
    result = run_cli("runtime", "parity", "--models", models, "--json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    rows = {a["artifact"]: a for a in report["artifacts"]}
    assert rows[ENGINE]["passed"] and rows[ENGINE]["backend"].startswith("c gcc ")
    assert report["platform"]["c"].startswith("gcc ")
    assert rows[ENGINE]["agreement"] == rows[TFLM]["agreement"] and rows[ENGINE]["max_abs_dp"] == rows[TFLM]["max_abs_dp"]
    assert len(list(cache.glob("*.so"))) == 1

    only = run_cli("runtime", "parity", "--models", models, "--backend", "c")
    assert only.returncode == 0, only.stdout[-2000:] + only.stderr[-2000:]
    assert "PASS: 1 of 1 artifact verified" in only.stdout
    assert "skipped mnist_mlp_int8.tflite: --backend c does not run .tflite files" in only.stdout
    assert "skipped mnist_mlp_int8.onnx: --backend c does not run .onnx files" in only.stdout


def test_its_outputs_are_tflite_micros_bytes(micro_models, reference, cache):
    import runtime

    models, _ = micro_models
    engine = runtime.load(models / ENGINE)
    tflm = runtime.load(models / TFLM, backend="tflite-micro")
    assert engine.backend.name == "c" and engine.entry.path == ENGINE and engine.contract_source.startswith("from ")
    assert engine.input.scale == tflm.input.scale and engine.input.zero_point == tflm.input.zero_point
    assert engine.output.scale == tflm.output.scale and engine.output.zero_point == tflm.output.zero_point
    assert np.array_equal(engine.predict(reference.images), tflm.predict(reference.images))
    assert engine.backend.library.origin == "built"
    assert runtime.load(models / ENGINE, backend="c").backend.library.origin == "built"  # this process's copy
    again = subprocess.run([sys.executable, "-c", f"import runtime; print(runtime.load({str(models / ENGINE)!r})"
                                                  ".backend.library.origin)"], capture_output=True, text=True, cwd=ROOT)
    assert again.stdout.strip() == "cache", again.stderr


def test_predict_info_and_a_file_copied_alone(micro_models, reference, cache, tmp_path):
    models, _ = micro_models
    photos = write_clear_photos(reference, tmp_path)
    result = run_cli("runtime", "predict", *photos, "--model", models / ENGINE, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backend"] == "c" and {r["file"]: r["label"] for r in data["results"]} == photos
    info = json.loads(run_cli("runtime", "info", models / ENGINE, "--json").stdout)
    assert info["backend"].startswith("c gcc ") and info["input"]["dtype"] == "int8" and info["manifest"] is not None

    alone = tmp_path / "alone"  # NAME.c and NAME.h without a manifest: MNIST's default contract
    alone.mkdir()
    for name in (ENGINE, HEADER):
        shutil.copy(models / name, alone)
    result = run_cli("runtime", "predict", *photos, "--model", alone / "mnist_mlp_int8.c", "--json")
    assert result.returncode == 0, result.stderr
    assert {r["file"]: r["label"] for r in json.loads(result.stdout)["results"]} == photos


def test_bench_measures_it_beside_its_bare_calls(micro_models, cache):
    """bench's child for one artifact (`python -m runtime.apps.bench PATH BACKEND THREADS RUNS MODELS BATCH`)."""
    models, _ = micro_models
    result = run_cli("runtime.apps.bench", models / ENGINE, "c", 0, 20, models, 32)
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads(result.stdout)
    assert row["artifact"] == ENGINE and row["backend"].startswith("c gcc ") and row["batch_sizes"] == [1, 32]
    for who in ("runtime", "bare"):
        assert row["timings"][who]["p50_us"] > 0 and row["timings"][who]["images_per_s"]["32"] > 0


def test_it_needs_numpy_and_nothing_else(micro_models, reference, cache):
    """Loaded and run in a process that cannot import TensorFlow: the only modules outside the
    standard library are numpy and the runtime itself."""
    from test_runtime import BLOCK_TENSORFLOW

    models, _ = micro_models
    script = BLOCK_TENSORFLOW + textwrap.dedent(f"""
        before = {{m.split(".")[0] for m in sys.modules}}  # what Python itself started with (site, editable finders)
        import numpy as np, runtime
        from runtime.store.bundles import load_reference
        images = load_reference({str(models)!r}).images
        probs = runtime.load({str(models / ENGINE)!r}).predict(images)
        print(int((probs.argmax(1) == runtime.load({str(models / ENGINE)!r}).predict(images).argmax(1)).sum()))
        print(sorted({{m.split(".")[0] for m in sys.modules}} - before - set(sys.stdlib_module_names) - {{"runtime", "numpy"}}))
        """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    count, others = result.stdout.splitlines()
    assert count == "1000" and others == "[]"


def test_without_a_compiler_one_line_names_the_package(micro_models, cache, tmp_path):
    """No cc, gcc or clang on PATH: predict stops in one line, parity skips the engine saying
    what to install and checks the rest."""
    models, _ = micro_models
    env = {"PATH": str(tmp_path / "empty"), "CC": ""}
    result = run_cli("runtime", "predict", "--model", models / ENGINE, ROOT / "README.md", env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (f"error: cannot run {models / ENGINE}: no C compiler found (looked for $CC, cc, gcc and "
                                     "clang): install one: sudo apt install gcc (Debian, Raspberry Pi OS; or build-essential)")
    parity = run_cli("runtime", "parity", "--models", models, "--json", env=env)
    assert parity.returncode == 0, parity.stderr[-2000:]
    skipped = {s["artifact"]: s["reason"] for s in json.loads(parity.stdout)["skipped"]}
    assert skipped[ENGINE].endswith("install one: sudo apt install gcc (Debian, Raspberry Pi OS; or build-essential)")
    named = run_cli("runtime", "predict", "--model", models / ENGINE, ROOT / "README.md", env={"CC": "no-such-cc"})
    assert named.returncode == 2 and "no C compiler found (looked for 'no-such-cc', $CC)" in named.stderr


def test_a_source_that_does_not_compile_is_one_line(micro_models, cache, tmp_path):
    models = shutil.copytree(micro_models[0], tmp_path / "models")
    with open(models / ENGINE, "a") as f:
        f.write("\nint broken(void) { return \x1b[31m; }\n")
    result = run_cli("runtime", "predict", "--model", models / ENGINE, "--no-verify", ROOT / "README.md")
    assert result.returncode == 2 and result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and "\x1b" not in line
    assert line.startswith(f"error: {models / ENGINE}: gcc ") and " could not compile it: mnist_mlp_int8.c:" in line
    changed = run_cli("runtime", "predict", "--model", models / ENGINE, ROOT / "README.md")
    assert changed.returncode == 2 and "does not match the manifest's" in changed.stderr  # without --no-verify


def test_missing_c_headers_are_named(micro_models, cache, tmp_path):
    """A compiler without the C library's headers gets the package that brings them: gcc with
    only its own headers (-nostdinc, then gcc's include folder) is what a machine with gcc and
    without libc6-dev has."""
    compiler = tmp_path / "cc-without-headers"
    compiler.write_text('#!/bin/sh\nexec gcc -nostdinc -isystem "$(gcc -print-file-name=include)" "$@"\n')
    compiler.chmod(0o755)
    result = run_cli("runtime", "predict", "--model", micro_models[0] / ENGINE, ROOT / "README.md", env={"CC": str(compiler)})
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "could not compile it" in line and "stdint.h" in line, line
    assert line.endswith("(the C library's headers are missing: sudo apt install libc6-dev (or build-essential))"), line


def test_a_header_changed_since_conversion_is_refused(micro_models, cache, tmp_path):
    models = shutil.copytree(micro_models[0], tmp_path / "models")
    header = models / HEADER
    header.write_text(header.read_text().replace("_INPUT_ZERO_POINT (-128)", "_INPUT_ZERO_POINT (-127)"))
    result = run_cli("runtime", "parity", "--models", models, "--backend", "c", "--json")
    assert result.returncode == 1
    row = json.loads(result.stdout)["artifacts"][0]
    assert row["artifact"] == ENGINE and f"{header}: sha256 " in row["failures"][0]
    header.unlink()
    missing = run_cli("runtime", "predict", "--model", models / ENGINE, "--no-verify", ROOT / "README.md")
    assert missing.returncode == 2 and missing.stderr.strip() == (
        f"error: {models / ENGINE}: its header {header}: not found (a C engine is NAME.c with its NAME.h beside it)")
