"""What every frame source of `python -m runtime watch` shares, and the sources that are image
files: `Frame`, `SourceOptions`, the `FrameSource` base, the errors, the reader packages; a
still image or an animation (Pillow, as `predict` reads files) and a folder of images (in name
order). Video files are runtime.apps.video's, cameras runtime.apps.cameras', and
runtime.apps.sources says which kind SOURCE is and opens it.

Each source yields `Frame`s with the pixels in one colour mode ("L" grayscale or "RGB"); the
model's input contract decides which mode is asked for. Every frame is held to the bounds of
every image (runtime.preprocess.images.check_image_size) before its pixels are decoded. The
reader libraries are imported only when a source of their kind is opened, and a missing one
is a FrameSourceError naming the package to install (`pip install "edge-mnist[camera]"`).

A source that cannot be opened (no such file or device, a device busy in another program)
raises FrameSourceError; one that breaks while it is read (a camera unplugged, a damaged
video) raises StreamBrokenError from its iterator, after the frames it could read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..errors import ImageError, ToolkitError, one_line
from ..preprocess.images import IMAGE_SUFFIXES, MAX_PIXELS, check_image_size, image_pixels, read_pixels
from ..store.files import open_regular
from ..tables import plural

MODES = ("L", "RGB")
CAMERA_SIZE = (640, 480)
"""Width and height asked of a camera: what TensorFlow's Raspberry Pi example captures."""
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "PPM", "TGA", "ICO")
"""Pillow's still-image formats (not its MPEG identifier): a file in one of them is an image source."""
VIDEO_SUFFIXES = (".avi", ".mkv", ".mp4", ".mov", ".webm", ".mjpeg", ".mjpg", ".y4m", ".m4v", ".ogv")
READERS = {"video": ("av", "PyAV"), "v4l2": ("linuxpy", "linuxpy"), "picamera2": ("picamera2", "python3-picamera2")}
"""Source kind -> (module, package that provides it)."""
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
"""ITU-R 601 luma, as Pillow's convert("L") and JPEG's Y use."""


class FrameSourceError(ToolkitError, ValueError):
    """A frame source cannot be opened: missing reader package, file or device, or a busy device."""


class StreamBrokenError(FrameSourceError):
    """A source stopped delivering frames before its end (a camera unplugged, a damaged file)."""


@dataclass
class Frame:
    """One frame as a source delivered it."""

    index: int
    """Position in the source (0-based), counting frames skipped by the stride."""
    pixels: Optional[np.ndarray]
    """0..255, uint8 (float32 from a folder, as `predict` reads files), (H, W) for mode "L", (H, W, 3)
    for "RGB"; None when this frame could not be read."""
    name: str
    """What an error about this frame names: the image file, or `SOURCE frame N`."""
    source_time: Optional[float] = None
    """The frame's own timestamp in seconds (a video's presentation time), when it has one."""
    error: Optional[str] = None
    """Why the frame could not be read (a damaged image in a folder)."""


@dataclass(frozen=True)
class SourceOptions:
    """How a frame source is opened."""

    mode: str = "L"
    """Colour mode of the frames: "L" or "RGB"."""
    stride: int = 1
    """Deliver every stride-th frame (1: all)."""
    size: tuple = CAMERA_SIZE
    """(width, height) asked of a camera; files keep their own size."""

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode: got {self.mode!r}, expected one of {', '.join(MODES)}")
        if self.stride < 1:
            raise ValueError(f"stride: got {self.stride}, expected a whole number >= 1")
        check_image_size(*self.size, "size (asked of a camera)")


def import_reader(kind: str):
    """The reader module for a source kind, or FrameSourceError saying what to install."""
    import importlib

    module, package = READERS[kind]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if kind == "picamera2":
            hint = ("on Raspberry Pi OS: sudo apt install python3-picamera2, and create the venv with "
                    "--system-site-packages so that it sees it")
        else:
            hint = f'pip install "edge-mnist[camera]" (or pip install {package})'
        raise FrameSourceError(f"reading {kind} frames needs {package}: {hint} ({one_line(err)})") from err


def to_mode(rgb: np.ndarray, mode: str) -> np.ndarray:
    """uint8 RGB (H, W, 3) in the mode asked for: itself, or its luma (rounded, as Pillow's "L")."""
    if mode == "RGB":
        return rgb
    return np.round(rgb.astype(np.float32) @ LUMA).astype(np.uint8)


class FrameSource:
    """What every source has: `kind`, describe(), iteration over Frames, close() and `with`."""

    kind = ""

    def describe(self) -> str:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def image_format(path) -> Optional[str]:
    """Pillow's name for the image format of the file (header only), None when it is none of
    IMAGE_FORMATS or Pillow is missing."""
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with open_regular(path) as handle, Image.open(handle, formats=IMAGE_FORMATS) as im:
            return im.format
    except Image.DecompressionBombError:
        return "too large"  # an image all the same: ImageSource refuses it as predict does
    except (OSError, ValueError, SyntaxError):
        return None


class ImageSource(FrameSource):
    """An image file, read by Pillow as `predict` reads it (within its bounds): one frame, or
    every frame of an animation (GIF, APNG, WebP). Never handed to FFmpeg, which would read a
    JPEG followed by gigabytes of anything as one endless picture."""

    kind = "image"

    def __init__(self, source: str, options: SourceOptions):
        from PIL import Image

        self.source, self.options = source, options
        self.image = None
        try:
            self.handle = open_regular(source)
        except OSError as err:
            raise FrameSourceError(f"SOURCE {source}: cannot be read ({one_line(err)})") from err
        try:
            self.image = Image.open(self.handle, formats=IMAGE_FORMATS)
        except Image.DecompressionBombError as err:
            self.close()
            raise FrameSourceError(f"SOURCE {source}: refused, more pixels than the {MAX_PIXELS:,} allowed "
                                   f"({one_line(err)})") from err
        except (OSError, ValueError, SyntaxError) as err:
            self.close()
            raise FrameSourceError(f"SOURCE {source}: not a readable image ({one_line(err)})") from err
        try:
            check_image_size(*self.image.size, f"SOURCE {source}")
        except ImageError as err:
            self.close()
            raise FrameSourceError(str(err)) from err
        self.frames = int(getattr(self.image, "n_frames", 1))

    def describe(self) -> str:
        width, height = self.image.size
        frames = f"{self.frames} {plural(self.frames, 'frame')}, " if self.frames > 1 else ""
        return f"{self.source}: {frames}{width}x{height} {self.image.format}"

    def __iter__(self) -> Iterator[Frame]:
        for index in range(0, self.frames, self.options.stride):
            name = self.source if self.frames == 1 else f"{self.source} frame {index}"
            try:
                self.image.seek(index)
                pixels = image_pixels(self.image, name, self.options.mode)
            except ImageError as err:
                yield Frame(index, None, name, error=str(err))
                continue
            except (OSError, ValueError, SyntaxError, EOFError) as err:
                yield Frame(index, None, name, error=f"{name}: not a readable image ({one_line(err)})")
                continue
            yield Frame(index, pixels, name)

    def close(self):
        if self.image is not None:
            self.image.close()
        self.handle.close()


class FolderSource(FrameSource):
    """The image files of a folder, in name order, each read as `predict` reads it. A file that
    cannot be read is a frame with an error, not the end of the stream."""

    kind = "folder"

    def __init__(self, source: str, options: SourceOptions):
        self.source, self.options = source, options
        folder = Path(source)
        self.paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise FrameSourceError(f"SOURCE {source}: the folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")

    def describe(self) -> str:
        return f"{len(self.paths)} {plural(len(self.paths), 'image')} in {self.source}"

    def __iter__(self) -> Iterator[Frame]:
        for index in range(0, len(self.paths), self.options.stride):
            path = self.paths[index]
            try:
                pixels = read_pixels(path, self.options.mode)
            except (ImageError, ImportError) as err:
                yield Frame(index, None, str(path), error=str(err))
                continue
            yield Frame(index, pixels, str(path))
