"""`runtime bench` as a Raspberry Pi needs it: a --batch-size, a largest batch bounded by
the memory an image takes, latency samples bounded by time, and an artifact that cannot be
measured skipped with its reason while the others are measured."""

import json

import pytest

from runtime.apps.bench import MEMORY_BUDGET_MIB, PROBE_BATCH, batch_sizes_for, memory_bounded_batch
from runtime.evaluate.timing import MAX_RUNS, MIN_BATCH_CALLS, MIN_RUNS, Measured, paired_timings, runs_for

from conftest import run_cli


@pytest.mark.parametrize("image_mib, expected", [
    (0.0, 1000),  # nothing measurable: the full batch
    (0.1, 1000),
    (2.0, MEMORY_BUDGET_MIB // 2),
    (MEMORY_BUDGET_MIB / 10, PROBE_BATCH),  # never below the batch that measured it
])
def test_the_largest_batch_fits_the_memory_budget(image_mib, expected):
    assert memory_bounded_batch(image_mib) == expected
    assert memory_bounded_batch(image_mib) * image_mib <= max(MEMORY_BUDGET_MIB, PROBE_BATCH * image_mib)


def test_batch_sizes_and_run_counts():
    assert batch_sizes_for(1000) == [1, 32, 1000] and batch_sizes_for(8) == [1, 8] and batch_sizes_for(1) == [1]
    assert runs_for(1e-6) == MAX_RUNS and runs_for(10.0) == MIN_RUNS and runs_for(0.01) == 200


def test_paired_timings_let_each_implementation_go_first_as_often_as_second():
    calls = []

    def implementation(name):
        return Measured(0.0, 0.0, lambda: calls.append((name, 1)), {8: lambda: calls.append((name, 8))})

    runtime, bare = paired_timings(implementation("a"), implementation("b"), runs=40)
    assert len(runtime.images_per_s) == len(bare.images_per_s) == 1
    singles = [name for name, batch in calls if batch == 1]
    assert singles.count("a") == singles.count("b") == 40
    chunks = singles[::4]  # ten chunks of 4 calls each, taken turn about
    assert chunks.count("a") == chunks.count("b") and all(x != y for x, y in zip(chunks[::2], chunks[1::2]))
    turn_leaders = chunks[::2]
    assert abs(turn_leaders.count("a") - turn_leaders.count("b")) <= 1
    batched = [name for name, batch in calls if batch == 8][4:]  # after both warmed up twice
    pairs = [batched[i:i + 2] for i in range(0, len(batched), 2)]
    assert len(pairs) >= MIN_BATCH_CALLS and all(sorted(p) == ["a", "b"] for p in pairs)
    firsts = [p[0] for p in pairs]
    assert abs(firsts.count("a") - firsts.count("b")) <= 1


@pytest.mark.slow  # bench measures every other file in full
def test_bench_skips_a_bad_artifact_and_measures_the_others(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    damaged = models / "mnist_mlp_float32.tflite"
    damaged.write_bytes(damaged.read_bytes()[:-16])
    result = run_cli("runtime", "bench", "--models", models, "--batch-size", "8", "--runs", str(MIN_RUNS),
                     "--no-startup", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert [s["artifact"] for s in report["skipped"]] == ["mnist_mlp_float32.tflite"]
    assert "sha256" in report["skipped"][0]["reason"] and "Traceback" not in report["skipped"][0]["reason"]
    assert sorted(r["artifact"] for r in report["rows"]) == ["mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx",
                                                             "mnist_mlp_int8.tflite"]
    for row in report["rows"]:
        assert row["batch_sizes"] == [1, 8]
        for timings in row["timings"].values():
            assert set(timings["images_per_s"]) == {"1", "8"} and all(v > 0 for v in timings["images_per_s"].values())
    table = run_cli("runtime", "bench", "--models", models, "--batch-size", "8", "--runs", str(MIN_RUNS), "--no-startup")
    assert table.returncode == 1
    assert any(line.startswith("artifact") and "b=8 img/s" in line for line in table.stdout.splitlines()), table.stdout
    assert "skipped mnist_mlp_float32.tflite on litert: " in table.stdout and "batch 8 at" in table.stdout


def test_bench_refuses_a_batch_size_below_one(pipeline):
    result = run_cli("runtime", "bench", "--models", pipeline.models, "--batch-size", "0")
    assert result.returncode == 2 and "--batch-size: expected a whole number >= 1, got 0" in result.stderr


@pytest.mark.slow
def test_conversion_cost_benchmark_measures_both_conversions(pipeline):
    import subprocess
    import sys

    from conftest import ROOT

    before = {p.name: p.stat().st_mtime_ns for p in pipeline.models.iterdir()}
    result = subprocess.run([sys.executable, "benchmarks/conversion_cost.py", "--models", str(pipeline.models), "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    ours, theirs = data["convert_all"], data["tensorflow"]
    assert ours["exit_status"] == 0 and theirs["exit_status"] == 0, (ours["stderr_tail"], theirs["stderr_tail"])
    assert set(theirs["steps"]) == {"import and load", "tflite float32", "tflite int8", "onnx float32", "onnx int8"}
    assert all(v > 0 for v in theirs["steps"].values())
    # Both processes import TensorFlow (~490 MiB alone): a peak below that would be a wrong measurement.
    assert ours["peak_mib"] > 300 and theirs["peak_mib"] > 300
    assert data["time_ratio"] == pytest.approx(ours["seconds"] / theirs["seconds"])
    assert {p.name: p.stat().st_mtime_ns for p in pipeline.models.iterdir()} == before  # it worked on a copy
