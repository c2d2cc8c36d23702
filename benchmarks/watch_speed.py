"""Speed and memory of `python -m runtime watch` on 640x480 camera-like frames: reference
digits on a page with camera shake and flicker (tests/camera_frames.py), as an MJPEG video.
Device side: no TensorFlow.

    python benchmarks/watch_speed.py [--models DIR] [--model PATH] [--frames N] [--threads N] [--json]

Prints (1) the loop in this process over --frames frames (the clip played again and again):
frames/s and p50/p95/mean of each stage (read = MJPEG decode, prepare = the input contract's
preparation, infer = the model), and resident memory after the first 1,000 frames and at the
end; (2) the whole process, `python -m runtime watch CLIP --json` from start to exit; (3) frame
accuracy of watch on the video against predict on the same frames as JPEG stills.
Target (issue 23): 30 frames/s or more in the loop with the seed int8 model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import runtime  # noqa: E402
from camera_frames import digit_frames, write_folder, write_video  # noqa: E402
from runtime.errors import ToolkitError  # noqa: E402
from runtime.apps.frames import SourceOptions  # noqa: E402
from runtime.apps.video import VideoSource  # noqa: E402
from runtime.store.bundles import load_reference  # noqa: E402
from runtime.apps.watch import WatchOptions, frame_mode, watch  # noqa: E402

MEMORY_AFTER = 1000
"""Resident memory is read after this many frames (warm) and at the end."""


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Replayed:
    """The clip's frames again and again, numbered on, for a run longer than the clip."""

    def __init__(self, path, options):
        self.path, self.options = str(path), options

    def __iter__(self):
        from dataclasses import replace

        offset = 0
        while True:
            with VideoSource(self.path, self.options) as source:
                count = 0
                for frame in source:
                    count += 1
                    yield replace(frame, index=offset + frame.index)
            offset += count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="models", help="folder with manifest.json and reference.npz (default: models)")
    parser.add_argument("--model", default=None, help="artifact to run (default: MODELS/mnist_mlp_int8.tflite)")
    parser.add_argument("--frames", type=int, default=10_000, help="frames the in-process loop runs (default: 10000)")
    parser.add_argument("--digits", type=int, default=10, help="digits in the clip, 30 frames each (default: 10)")
    parser.add_argument("--threads", type=int, default=None, help="interpreter threads (default: the interpreter's)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    model_path = args.model or str(Path(args.models) / "mnist_mlp_int8.tflite")
    try:
        model = runtime.load(model_path, num_threads=args.threads)
        reference = load_reference(args.models)
    except (ToolkitError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        frames, labels = digit_frames(reference, args.digits, 30, seed=7)
        clip = write_video(frames, Path(tmp) / "clip.avi")
        stills = write_folder(frames, Path(tmp) / "stills")
        del frames

        memory = {}
        sink = open(os.devnull, "w")

        def emit(result, summary):
            print(json.dumps(result), file=sink)  # what --json does with each frame
            if summary.frames == MEMORY_AFTER:
                memory["warm"] = resident_bytes()

        loop = watch(model, Replayed(clip, SourceOptions(mode=frame_mode(model.contract))),
                     WatchOptions(limit=args.frames), emit)
        memory["end"] = resident_bytes()

        started = time.perf_counter()
        command = [sys.executable, "-m", "runtime", "watch", str(clip), "--model", model_path, "--json"]
        if args.threads:
            command += ["--threads", str(args.threads)]
        whole = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if whole.returncode != 0:
            print(f"error: runtime watch failed: {whole.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return 1
        video = [json.loads(line)["label"] for line in whole.stdout.splitlines()]
        predicted = subprocess.run([sys.executable, "-m", "runtime", "predict", str(stills), "--model", model_path, "--json"],
                                   cwd=ROOT, capture_output=True, text=True)
        still = [r.get("label") for r in json.loads(predicted.stdout)["results"]]

    def accuracy(found):
        return sum(a == b for a, b in zip(found, labels)) / len(labels)

    report = {
        "model": model_path, "backend": model.backend.name, "frame_size": "640x480", "loop": loop.to_json(),
        "resident_mb": {"after_1000_frames": round(memory["warm"] / 2**20, 1) if "warm" in memory else None, "end": round(memory["end"] / 2**20, 1)},
        "whole_process": {"frames": len(video), "seconds": round(seconds, 2), "fps": round(len(video) / seconds, 1)},
        "accuracy": {"frames": len(labels), "watch_video": accuracy(video), "predict_stills": accuracy(still)},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{model_path} on {model.backend.name}, 640x480 MJPEG frames of {args.digits} digits with shake and flicker\n")
    print(loop.format(f"in-process loop ({args.frames} frames)"))
    if "warm" in memory:
        print(f"  resident memory: {report['resident_mb']['after_1000_frames']} MB after {MEMORY_AFTER} frames, "
              f"{report['resident_mb']['end']} MB after {loop.frames}")
    w = report["whole_process"]
    print(f"whole process (`python -m runtime watch clip.avi --json`, start-up included): {w['frames']} frames in "
          f"{w['seconds']} s, {w['fps']} frames/s")
    a = report["accuracy"]
    print(f"frame accuracy on {a['frames']} frames: watch on the video {a['watch_video']:.1%}, "
          f"predict on the same frames as JPEG stills {a['predict_stills']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
