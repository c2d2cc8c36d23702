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
