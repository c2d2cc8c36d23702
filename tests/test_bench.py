"""The benchmarks run and their output is well-formed. Speed itself is not asserted here:
the numbers are printed for people (docs/runtime.md, "Benchmarks"), not checked by timed tests."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

TENSORFLOW_FREE_MIB = 250
"""Peak memory a benchmark child stays under when it never imports TensorFlow (measured: ~60-80 MiB)."""
TIMING_FIELDS = {"load_ms", "first_ms", "p50_us", "p99_us", "images_per_s"}
EXPECTED_ROWS = {("mnist_mlp_float32.tflite", "litert"), ("mnist_mlp_int8.tflite", "litert"),
                 ("mnist_mlp_float32.onnx", "onnxruntime"), ("mnist_mlp_int8.onnx", "onnxruntime")}


def _check_timings(timings: dict):
    assert set(timings) == TIMING_FIELDS
    assert set(timings["images_per_s"]) == {"1", "32", "1000"}
    assert all(v > 0 for v in timings["images_per_s"].values())
    assert timings["load_ms"] > 0 and timings["first_ms"] > 0
    # Two measurements of the same single-image call, taken separately: the throughput loop at
    # batch 1 and the median latency must be in the same unit. A factor of 100 catches a unit
    # slip (1000x) and stays clear of a busy machine's noise (a loaded run measured over 10x).
    per_call = 1e6 / timings["images_per_s"]["1"]
    assert timings["p50_us"] / 100 <= per_call <= timings["p50_us"] * 100, (per_call, timings["p50_us"])


@pytest.fixture(scope="module")
def bench_json(pipeline):
    result = run_cli("runtime", "bench", "--models", pipeline.models, "--runs", "30", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_bench_covers_every_artifact_and_backend(bench_json):
    machine = bench_json["machine"]
    assert machine["cores"] >= 1 and machine["cpu"] and machine["python"] and machine["numpy"] and machine["litert"]
    rows = {(r["artifact"], r["backend"].split()[0]): r for r in bench_json["rows"]}
    assert set(rows) == EXPECTED_ROWS
    for row in rows.values():
        assert list(row["timings"]) == ["runtime", "bare"]
        for timings in row["timings"].values():
            _check_timings(timings)
        assert row["bytes"] > 0
        # The child that measured the row ran the device runtime only: far below the ~490 MiB
        # that importing TensorFlow alone takes (a stray TensorFlow import would show here).
        assert 0 < row["peak_rss_mib"] < TENSORFLOW_FREE_MIB, row


def test_bench_says_what_doctor_recommends_here(bench_json):
    from runtime.doctor import advise, inspect_device, recommendation

    assert bench_json["doctor"] == recommendation(advise(inspect_device()))


def test_bench_measures_startup(bench_json):
    startup = bench_json["startup"]
    assert startup["predict_command"].startswith("python -m runtime predict digit.png")
    assert startup["baseline_command"] == 'python -c "import numpy, ai_edge_litert.interpreter"'
    for key in ("predict_wall_ms", "predict_peak_mib", "baseline_wall_ms", "baseline_peak_mib"):
        assert startup[key] > 0


def test_bench_table(pipeline):
    result = run_cli("runtime", "bench", "--models", pipeline.models, "--runs", "20", "--no-startup", "--threads", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("CPU: ") and "cores" in lines[0]
    from runtime.doctor import advise, inspect_device, recommendation

    assert lines[1] == f"Doctor recommends here: {recommendation(advise(inspect_device()))}"  # what `doctor` says here
    assert lines[1].startswith("Doctor recommends here: ai-edge-litert for .tflite, onnxruntime for .onnx; install: pip install ")
    assert any(line.startswith("artifact") and "p50 µs" in line and "b=1000 img/s" in line for line in lines)
    ratios = [line for line in lines if "x the bare time" in line]
    assert len(ratios) == len(EXPECTED_ROWS) and "Start-up" not in result.stdout
    assert "measuring mnist_mlp_int8.tflite on litert ..." in result.stderr


def test_keras_benchmark_script(pipeline):
    result = subprocess.run([sys.executable, "benchmarks/keras_vs_runtime.py", "--models", str(pipeline.models),
                             "--runs", "20", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    keras_row = data["rows"][0]
    assert keras_row["artifact"] == "mnist_mlp.keras" and list(keras_row["timings"]) == ["model.predict", "model(x)"]
    for timings in keras_row["timings"].values():
        _check_timings(timings)
    assert len(data["rows"]) == 1 + len(EXPECTED_ROWS) and data["keras_import_ms"] > 0


def test_onnx_optimizers_benchmark_script(pipeline):
    """Each optimization level and each transformer left out gets its row, and the runtime's own
    session gives the float32 file within the float32 limit of Keras (onnxruntime 1.32 here; the
    1.21 it was written for runs under emulation, tests/test_pi_emulation.py)."""
    from runtime.verdict import DEFAULT_FLOAT_MAX_DP

    result = subprocess.run([sys.executable, "benchmarks/onnx_optimizers.py", "--models", str(pipeline.models),
                             "--runs", "10"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    float32 = result.stdout.split("mnist_mlp_float32.onnx:")[1].split("mnist_mlp_int8.onnx:")[0].splitlines()
    rows = {line[:50].strip(): [float(v) for v in line[50:].split()] for line in float32[1:] if line.startswith("  ORT_")
            or line.startswith("  the runtime's")}
    assert len(rows) == 9 and "ORT_ENABLE_ALL less WeightBiasQuantization" in rows
    assert rows["the runtime's options"][1] <= DEFAULT_FLOAT_MAX_DP
    assert sum("x), median of" in line for line in result.stdout.splitlines()) == 4
