"""`python -m runtime watch SOURCE`: a video, a folder of frames, cameras that are missing,
streams that break; the per-frame JSON, the summary, memory over a long run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli
from camera_frames import digit_frames, write_folder, write_video

DIGITS, PER_DIGIT = 10, 4
MAX_ACCURACY_GAP = 0.05
"""The video's frame accuracy lies within 5 points of predict's on the same frames as stills."""
MIN_STILL_ACCURACY = 0.75
"""Clear reference digits (Keras > 95% sure) on a clean page, shaken: most are recognised."""
FRAME_KEYS = {"frame", "time", "source_time", "label", "reason", "confidence", "low_confidence", "probabilities"}


@pytest.fixture(scope="module")
def clip(reference, tmp_path_factory):
    """40 frames (10 digits x 4) as an MJPEG .avi, and the same frames as a folder of JPEGs."""
    folder = tmp_path_factory.mktemp("clip")
    frames, labels = digit_frames(reference, DIGITS, PER_DIGIT, seed=1)
    return {"video": write_video(frames, folder / "clip.avi"), "folder": write_folder(frames, folder / "frames"),
            "labels": labels, "frames": frames, "dir": folder}


def watch_json(pipeline, source, *extra):
    result = run_cli("runtime", "watch", source, "--models", pipeline.models, "--json", *extra)
    frames = [json.loads(line) for line in result.stdout.splitlines()]
    summary_lines = [line for line in result.stderr.splitlines() if line.startswith('{"summary"')]
    summary = json.loads(summary_lines[-1]) if summary_lines else None
    if summary is not None:
        assert summary["model"] == str(pipeline.models / "mnist_mlp_int8.tflite")  # which model answered
        summary = summary["summary"]
    return result, frames, summary


def accuracy(results, labels) -> float:
    return float(np.mean([r["label"] == label for r, label in zip(results, labels)]))


def test_video_and_folder_give_one_json_object_per_frame(pipeline, clip):
    for source in (clip["video"], clip["folder"]):
        result, frames, summary = watch_json(pipeline, source)
        assert result.returncode == 0, result.stderr
        assert [f["frame"] for f in frames] == list(range(len(clip["labels"])))
        for f in frames:
            assert set(f) == FRAME_KEYS
            if f["label"] is None:
                assert f["reason"] and f["confidence"] is None
            else:
                assert set(f["probabilities"]) == {str(k) for k in range(10)}
                assert f["confidence"] == max(f["probabilities"].values())
                assert f["low_confidence"] == (f["confidence"] < 0.7)
        assert summary["frames"] == len(clip["labels"]) and summary["stopped"] == "end of the stream"
        assert all(summary["latency_ms"][stage]["p50"] > 0 for stage in ("read", "prepare", "infer"))
        assert summary["latency_ms"]["read"]["p95"] >= summary["latency_ms"]["read"]["p50"]


def test_folder_frames_get_exactly_predicts_answers(pipeline, clip):
    _, frames, _ = watch_json(pipeline, clip["folder"])
    predicted = run_cli("runtime", "predict", clip["folder"], "--models", pipeline.models, "--json")
    stills = json.loads(predicted.stdout)["results"]
    assert len(stills) == len(frames)
    for frame, still in zip(frames, stills):
        assert frame["label"] == still.get("label")
        if frame["label"] is not None:
            assert frame["probabilities"] == still["probabilities"]


@pytest.mark.slow
def test_video_accuracy_is_within_five_points_of_predict_on_stills(pipeline, clip):
    _, video, _ = watch_json(pipeline, clip["video"])
    predicted = run_cli("runtime", "predict", clip["folder"], "--models", pipeline.models, "--json")
    stills = json.loads(predicted.stdout)["results"]
    still_accuracy = accuracy(stills, clip["labels"])
    assert still_accuracy >= MIN_STILL_ACCURACY, still_accuracy
    assert abs(accuracy(video, clip["labels"]) - still_accuracy) <= MAX_ACCURACY_GAP


def test_stride_and_limit(pipeline, clip):
    for source in (clip["video"], clip["folder"]):
        result, frames, summary = watch_json(pipeline, source, "--stride", "3", "--limit", "5")
        assert result.returncode == 0, result.stderr
        assert [f["frame"] for f in frames] == [0, 3, 6, 9, 12]
        assert summary["stopped"] == "frame limit" and summary["frames"] == 5


def test_text_output_shows_changes_fps_and_the_summary(pipeline, clip):
    result = run_cli("runtime", "watch", clip["video"], "--models", pipeline.models)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    changes = [line for line in lines if line.startswith("frame ")]
    assert 1 <= len(changes) < len(clip["labels"])  # a line per change, not per frame
    assert all(" fps " in line for line in changes)
    assert f"{len(clip['labels'])} frames in" in result.stdout and "frames/s" in result.stdout
    model, trained = re.escape(str(pipeline.models / "mnist_mlp_int8.tflite")), re.escape(pipeline.manifest["dataset"]["name"])
    assert re.fullmatch(rf"Watching {re.escape(str(clip['video']))}: .* with {model} \([\w-]+, trained on {trained}; "
                        r"10 classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9\); Ctrl\+C stops\.", lines[0]), lines[0]
    for stage in ("read", "prepare", "infer"):
        assert any(line.split()[:1] == [stage] and len(line.split()) == 4 for line in lines), stage
    shown = {line.split()[6] for line in changes}  # frame N  T s  F fps  LABEL (P%)
    assert len(shown & set(clip["labels"])) >= DIGITS // 2  # the digits change, and the lines say so


def test_frames_without_a_digit_or_unreadable_get_null_with_the_reason(pipeline, clip, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(clip["frames"][0]).save(folder / "a.jpg")
    Image.fromarray(np.full((480, 640), 200, np.uint8)).save(folder / "b_blank.png")
    (folder / "c_broken.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(clip["frames"][1]).save(folder / "d.jpg")
    result, frames, summary = watch_json(pipeline, folder)
    assert result.returncode == 0, result.stderr
    assert [f["label"] is None for f in frames] == [False, True, True, False]
    assert "no digit found" in frames[1]["reason"]
    assert "c_broken.jpg" in frames[2]["reason"] and "not a readable image" in frames[2]["reason"]
    assert summary["frames"] == 4 and summary["labelled"] == 2


def one_error_line(result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return errors[0]


@pytest.mark.parametrize("source, expected", [
    ("missing.avi", "no such video file"),
    ("/dev/video97", "no such camera"),
    ("97", "no such camera"),
    ("notes.avi", "not a readable video"),
    ("/dev/null", "not a V4L2 camera"),  # linuxpy opens it, and its first ioctl is refused
])
def test_sources_that_cannot_be_opened_are_one_line(pipeline, tmp_path, source, expected):
    (tmp_path / "notes.avi").write_text("not a video\n")
    result = run_cli("runtime", "watch", source, "--models", pipeline.models, cwd=tmp_path,
                     env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    assert expected in one_error_line(result)


def test_a_missing_reader_says_what_to_install(pipeline, clip):
    code = ("import sys; sys.modules['av'] = None; sys.modules['picamera2'] = None\n"
            "from runtime.__main__ import main; sys.exit(main(sys.argv[1:]))")
    for source, expected in ((clip["video"], 'pip install "edge-mnist[camera]"'), ("picamera2", "--system-site-packages")):
        result = subprocess.run([sys.executable, "-c", code, "watch", str(source), "--models", str(pipeline.models)],
                                capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert result.returncode == 2
        assert expected in one_error_line(result)


def test_a_truncated_video_ends_with_one_line_and_the_summary(pipeline, clip, tmp_path):
    data = clip["video"].read_bytes()
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(data[: len(data) // 2])
    result = run_cli("runtime", "watch", truncated, "--models", pipeline.models)
    assert result.returncode == 1
    assert "the video ended after" in one_error_line(result)
    assert "stopped: error" in result.stdout and "frames/s" in result.stdout
    read = int(result.stdout.split(" frames in ")[0].rsplit(" ", 1)[-1])
    assert 0 < read < len(clip["labels"])


def test_ctrl_c_prints_the_summary(pipeline, clip):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "runtime", "watch", str(clip["folder"]), "--models", str(pipeline.models),
                                "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    assert json.loads(first)["frame"] == 0
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    summary = json.loads(next(line for line in err.splitlines() if line.startswith('{"summary"')))["summary"]
    assert summary["stopped"] in ("interrupted", "end of the stream")
    assert summary["frames"] == 1 + len(out.splitlines())


def test_stage_percentiles_match_numpy_within_the_bin_width():
    from runtime.apps.watch import StageTimes

    rng = np.random.default_rng(0)
    samples = rng.lognormal(mean=np.log(0.01), sigma=0.5, size=5000)
    times = StageTimes()
    for s in samples:
        times.add(float(s))
    for q in (0.5, 0.95):
        assert times.percentile(q) == pytest.approx(np.quantile(samples, q), rel=0.02)
    assert StageTimes().percentile(0.5) is None


class RepeatedFrame:
    """A source that delivers one real 640x480 frame `count` times (the loop, not a reader, is measured)."""

    def __init__(self, pixels, count):
        self.pixels, self.count = pixels, count

    def __iter__(self):
        from runtime.apps.frames import Frame

        for k in range(self.count):
            yield Frame(k, self.pixels, f"frame {k}")


MAX_GROWTH_BYTES = 2 * 1024 * 1024
"""Resident memory may move by allocator noise, not grow with the frame count."""


@pytest.mark.slow
def test_memory_stays_flat_over_a_long_run(pipeline, clip, tmp_path):
    """In a process of its own (the runtime only, as on a device: no TensorFlow threads or
    caches beside it), resident memory after 4,000 frames is what it was after 1,000."""
    np.save(tmp_path / "frame.npy", np.asarray(Image.fromarray(clip["frames"][0]).convert("L")))
    script = f"""
import json, os
import numpy as np
import runtime
from runtime.apps.frames import Frame
from runtime.apps.watch import WatchOptions, watch

pixels = np.load({str(tmp_path / "frame.npy")!r})
model = runtime.load({str(pipeline.models / "mnist_mlp_int8.tflite")!r})
rss = {{}}

def frames():
    for k in range(4000):
        yield Frame(k, pixels, f"frame {{k}}")

def emit(result, summary):
    json.dumps(result)
    if summary.frames in (1000, 4000):
        with open("/proc/self/statm") as statm:
            rss[summary.frames] = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

summary = watch(model, frames(), WatchOptions(), emit)
print(json.dumps({{"frames": summary.frames, "labelled": summary.labelled, "rss": rss}}))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["frames"] == 4000 and measured["labelled"] == 4000
    rss = measured["rss"]
    assert rss["4000"] - rss["1000"] < MAX_GROWTH_BYTES, rss


def test_watch_never_imports_tensorflow(pipeline, clip):
    from test_runtime import BLOCK_TENSORFLOW

    script = BLOCK_TENSORFLOW + (
        "from runtime.__main__ import main\n"
        f"status = main(['watch', {str(clip['video'])!r}, '--models', {str(pipeline.models)!r}, '--limit', '3', '--json'])\n"
        "print('modules', sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')), status)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "modules [] 0"
    assert len(result.stdout.splitlines()) == 4  # three frames, then the check
