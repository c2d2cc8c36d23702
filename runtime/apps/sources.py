"""Which kind of frame source SOURCE names for `python -m runtime watch`, and the source opened:
a folder of images or an image file (runtime.apps.frames), a video file (runtime.apps.video), a
V4L2 camera or the Raspberry Pi camera (runtime.apps.cameras)."""

from __future__ import annotations

import re
from pathlib import Path

from .cameras import PiCameraSource, V4l2Source
from .frames import VIDEO_SUFFIXES, FolderSource, FrameSource, FrameSourceError, ImageSource, SourceOptions, image_format
from .video import VideoSource

def source_kind(source: str) -> str:
    """"folder", "image", "video", "v4l2" or "picamera2", from what SOURCE looks like: a file
    Pillow reads as an image (whatever its name) is one, as `predict` would read it."""
    if source == "picamera2":
        return "picamera2"
    if re.fullmatch(r"\d+", source) or re.fullmatch(r"/dev/video\d+", source):
        return "v4l2"
    path = Path(source)
    if path.is_dir():
        return "folder"
    if path.is_file() and image_format(path) is not None:
        return "image"
    if path.suffix.lower() in VIDEO_SUFFIXES or path.is_file():
        return "video"
    if source.startswith("/dev/"):
        return "v4l2"
    raise FrameSourceError(f"SOURCE {source}: no such file, folder or camera; expected a video file, a folder of images, "
                           "/dev/videoN (or N) or picamera2")


def open_source(source: str, options: SourceOptions = SourceOptions()) -> FrameSource:
    """The frame source SOURCE names (see source_kind), opened; close() it when done (or use `with`)."""
    kind = source_kind(source)
    opener = {"folder": FolderSource, "image": ImageSource, "video": VideoSource, "v4l2": V4l2Source,
              "picamera2": PiCameraSource}[kind]
    return opener(source, options)
