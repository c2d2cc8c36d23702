"""A camera's view of handwritten digits, made by the tests: 640x480 frames of reference
digits written on a page (tests/photos.py), held for a number of frames each, with camera
shake (the page moves and turns a little from frame to frame) and flicker (the light's
brightness changes), written as an MJPEG video, a folder of JPEG frames, or a .y4m file
(what Chromium's fake camera plays)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from photos import case_style, render_photo

WIDTH, HEIGHT = 640, 480
SHAKE = 0.03
"""The digit's centre moves by up to this share of the frame, per frame."""
TURN = 4.0
"""...and turns by up to this many degrees."""
FLICKER = 0.15
"""The light's brightness varies by up to this share, per frame."""


def digit_frames(reference, digits: int, per_digit: int, seed: int = 0, first: int = 0):
    """(list of uint8 RGB frames (480, 640, 3), list of their labels): `digits` reference digits
    the Keras model is sure of (> 95%), of different classes where possible (from the
    `first`-th such digit on), each held for `per_digit` frames with shake and flicker."""
    rng = np.random.default_rng(seed)
    sure = np.flatnonzero((reference.probs.max(1) > 0.95) & (reference.probs.argmax(1) == reference.labels))
    chosen, seen = [], set()
    for i in sure:  # one of each class first, then any
        if reference.labels[i] not in seen:
            chosen.append(int(i))
            seen.add(reference.labels[i])
    chosen += [int(i) for i in sure if int(i) not in chosen]
    frames, labels = [], []
    for i in chosen[first : first + digits]:
        base = replace(case_style("clean", rng), height=HEIGHT, width=WIDTH,
                       digit_height=float(rng.uniform(0.35, 0.5)), center=(0.5, 0.5))
        for _ in range(per_digit):
            shaken = replace(base, center=(0.5 + float(rng.uniform(-SHAKE, SHAKE)), 0.5 + float(rng.uniform(-SHAKE, SHAKE))),
                             rotation=float(rng.uniform(-TURN, TURN)))
            photo = render_photo(reference.images[i], shaken, rng).astype(np.float32)
            photo *= 1 + float(rng.uniform(-FLICKER, FLICKER / 2))
            frames.append(np.clip(np.round(photo), 0, 255).astype(np.uint8))
            labels.append(str(reference.labels[i]))
    return frames, labels


def write_video(frames, path, fps: int = 30, codec: str = "mjpeg") -> Path:
    """The frames as a video file written by PyAV: MJPEG in .avi/.mkv by default; codec
    "rawvideo" in a .y4m file for Chromium's fake camera."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "mjpeg":
            stream.options = {"q:v": "3"}
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_folder(frames, folder, quality: int = 90) -> Path:
    """The frames as folder/frame_00000.jpg ..., in order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for k, pixels in enumerate(frames):
        Image.fromarray(pixels).save(folder / f"frame_{k:05d}.jpg", quality=quality)
    return folder


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        description="Write a camera-like clip of reference digits (640x480, shake and flicker) to try `runtime watch` on.",
        epilog="example: python tests/camera_frames.py clip.avi --models models  (or clip.y4m for Chromium's fake camera, "
               "or a folder name for JPEG frames)")
    parser.add_argument("output", help="FILE.avi or FILE.mkv (MJPEG), FILE.y4m (raw), or a folder (JPEG frames)")
    parser.add_argument("--models", default="models", help="folder with reference.npz (default: models)")
    parser.add_argument("--digits", type=int, default=10, help="digits, one after the other (default: 10)")
    parser.add_argument("--per-digit", type=int, default=30, help="frames of each digit (default: 30: a second at 30 frames/s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from runtime.store.bundles import load_reference

    frames, labels = digit_frames(load_reference(args.models), args.digits, args.per_digit, seed=args.seed)
    out = Path(args.output)
    if out.suffix.lower() in (".avi", ".mkv"):
        write_video(frames, out)
    elif out.suffix.lower() == ".y4m":
        write_video(frames, out, codec="rawvideo")
    else:
        write_folder(frames, out)
    print(f"{out}: {len(frames)} frames of the digits {' '.join(labels[::args.per_digit])}")
