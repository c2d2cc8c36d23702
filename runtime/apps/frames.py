"""Frame sources for `python -m runtime watch`: a video file (PyAV), a folder of images (in
name order), a V4L2 camera (linuxpy) or the Raspberry Pi camera (picamera2).

Each source yields `Frame`s with the pixels in one colour mode ("L" grayscale or "RGB"); the
model's input contract decides which mode is asked for. The reader
libraries are imported only when a source of their kind is opened, and a missing one is a
FrameSourceError naming the package to install (`pip install "edge-mnist[camera]"`).

A source that cannot be opened (no such file or device, a device busy in another program)
raises FrameSourceError; one that breaks while it is read (a camera unplugged, a damaged
video) raises StreamBrokenError from its iterator, after the frames it could read.
"""

from __future__ import annotations

import errno
import io
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..errors import ImageError, ToolkitError, one_line
from ..preprocess.images import IMAGE_SUFFIXES, read_pixels
from ..tables import plural

MODES = ("L", "RGB")
CAMERA_SIZE = (640, 480)
"""Width and height asked of a camera: what TensorFlow's Raspberry Pi example captures."""
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


def source_kind(source: str) -> str:
    """"folder", "video", "v4l2" or "picamera2", from what SOURCE looks like."""
    if source == "picamera2":
        return "picamera2"
    if re.fullmatch(r"\d+", source) or re.fullmatch(r"/dev/video\d+", source):
        return "v4l2"
    path = Path(source)
    if path.is_dir():
        return "folder"
    if path.suffix.lower() in VIDEO_SUFFIXES or path.is_file():
        return "video"
    if source.startswith("/dev/"):
        return "v4l2"
    raise FrameSourceError(f"SOURCE {source}: no such file, folder or camera; expected a video file, a folder of images, "
                           "/dev/videoN (or N) or picamera2")


def open_source(source: str, options: SourceOptions = SourceOptions()) -> FrameSource:
    """The frame source SOURCE names (see source_kind), opened; close() it when done (or use `with`)."""
    kind = source_kind(source)
    opener = {"folder": FolderSource, "video": VideoSource, "v4l2": V4l2Source, "picamera2": PiCameraSource}[kind]
    return opener(source, options)


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


class VideoSource(FrameSource):
    """A video file, decoded by PyAV (FFmpeg): MJPEG .avi/.mkv, H.264 .mp4, .y4m and more. A
    frame that fails to decode is a frame with an error; a file that stops being readable
    mid-way ends the stream with StreamBrokenError."""

    kind = "video"

    def __init__(self, source: str, options: SourceOptions):
        self.source, self.options = source, options
        self.av = import_reader("video")
        if not Path(source).is_file():
            raise FrameSourceError(f"SOURCE {source}: no such video file")
        try:
            self.container = self.av.open(source)
        except (self.av.error.FFmpegError, OSError, ValueError) as err:
            raise FrameSourceError(f"SOURCE {source}: not a readable video ({one_line(err)})") from err
        if not self.container.streams.video:
            self.container.close()
            raise FrameSourceError(f"SOURCE {source}: the file holds no video stream")
        self.stream = self.container.streams.video[0]

    def describe(self) -> str:
        codec = self.stream.codec_context
        count = f"{self.stream.frames} {plural(self.stream.frames, 'frame')}, " if self.stream.frames else ""
        return f"{self.source}: {count}{codec.width}x{codec.height} {codec.name}"

    def __iter__(self) -> Iterator[Frame]:
        fmt = "gray" if self.options.mode == "L" else "rgb24"
        index = 0
        packets = self.container.demux(self.stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                if self.stream.frames and index < self.stream.frames:
                    raise StreamBrokenError(f"{self.source}: the video ended after {index} of the {self.stream.frames} "
                                            "frames its header announces (a truncated file?)") from None
                return
            except (self.av.error.FFmpegError, OSError) as err:
                raise StreamBrokenError(f"{self.source}: the video stopped being readable after frame {index} "
                                        f"({one_line(err)})") from err
            try:
                decoded = packet.decode()
            except self.av.error.FFmpegError as err:
                if packet.size:
                    if index % self.options.stride == 0:
                        yield Frame(index, None, f"{self.source} frame {index}", error=f"{self.source} frame {index}: "
                                    f"could not be decoded ({one_line(err)})")
                    index += 1
                continue
            for frame in decoded:
                if index % self.options.stride == 0:
                    pixels = frame.to_ndarray(format=fmt)
                    yield Frame(index, pixels, f"{self.source} frame {index}", source_time=self._time(frame, index))
                index += 1

    def _time(self, frame, index: int) -> Optional[float]:
        """The frame's presentation time, else (AVI files often carry none) index / frame rate."""
        if frame.time is not None:
            return round(float(frame.time), 4)
        rate = self.stream.average_rate or self.stream.guessed_rate
        return round(index / float(rate), 4) if rate else None

    def close(self):
        self.container.close()


def camera_path(source: str) -> str:
    """"/dev/video0" for "0" or "/dev/video0"."""
    return f"/dev/video{source}" if source.isdigit() else source


class V4l2Source(FrameSource):
    """A V4L2 camera (a USB webcam; /dev/videoN) read with linuxpy, asked for MJPEG (decoded
    by Pillow) or, when it has none, YUYV (its luma is the grayscale frame)."""

    kind = "v4l2"

    def __init__(self, source: str, options: SourceOptions):
        self.source, self.options = camera_path(source), options
        import_reader("v4l2")
        from linuxpy.video.device import Device, V4L2Error, VideoCapture

        self.errors = (OSError, V4L2Error)

        if not Path(self.source).exists():
            raise FrameSourceError(f"SOURCE {source}: no such camera ({self.source} does not exist; "
                                   "`ls /dev/video*` lists the cameras; a Raspberry Pi camera module is `picamera2`)")
        self.device = Device(self.source)
        try:
            self.device.open()
            self.capture = VideoCapture(self.device)
            self.pixel_format = self._choose_format()
            width, height = options.size
            self.capture.set_format(width, height, self.pixel_format)
            self.format = self.capture.get_format()
            self.capture.open()
        except FrameSourceError:
            self.device.close()
            raise
        except self.errors as err:
            self.device.close()
            raise FrameSourceError(f"SOURCE {source}: {self.source} cannot be opened: {_device_problem(err)}") from err

    def _choose_format(self) -> str:
        offered = {getattr(f.pixel_format, "name", str(f.pixel_format)) for f in self.device.info.formats}
        for name in ("MJPEG", "YUYV"):
            if name in offered:
                return "MJPG" if name == "MJPEG" else name
        raise FrameSourceError(f"SOURCE {self.source}: the camera offers {', '.join(sorted(offered)) or 'no format'}; "
                               "expected MJPEG or YUYV")

    def describe(self) -> str:
        return f"camera {self.source}: {self.format.width}x{self.format.height} {self.pixel_format}"

    def __iter__(self) -> Iterator[Frame]:
        from PIL import Image

        index = 0
        frames = iter(self.capture)
        while True:
            try:
                frame = next(frames)
                data = bytes(frame.data)
            except StopIteration:
                return
            except self.errors as err:
                raise StreamBrokenError(f"camera {self.source} stopped after frame {index}: {_device_problem(err)}") from err
            if index % self.options.stride == 0:
                name = f"{self.source} frame {index}"
                try:
                    if self.pixel_format == "MJPG":
                        with Image.open(io.BytesIO(data)) as im:
                            pixels = np.asarray(im.convert(self.options.mode))
                    else:
                        pixels = yuyv_pixels(data, frame.width, frame.height, self.options.mode)
                except (OSError, ValueError) as err:
                    yield Frame(index, None, name, error=f"{name}: could not be decoded ({one_line(err)})")
                else:
                    yield Frame(index, pixels, name, source_time=time.monotonic())
            index += 1

    def close(self):
        try:
            self.capture.close()
        except (OSError, ValueError, AttributeError):
            pass  # the device is gone (unplugged): nothing left to release
        self.device.close()


def yuyv_pixels(data: bytes, width: int, height: int, mode: str) -> np.ndarray:
    """A YUYV 4:2:2 frame as uint8 grayscale (its Y samples) or RGB (ITU-R 601)."""
    packed = np.frombuffer(data, np.uint8, count=width * height * 2).reshape(height, width // 2, 4)
    y = packed[..., [0, 2]].reshape(height, width)
    if mode == "L":
        return y.copy()
    u = np.repeat(packed[..., 1], 2, axis=1).astype(np.float32) - 128
    v = np.repeat(packed[..., 3], 2, axis=1).astype(np.float32) - 128
    y = y.astype(np.float32)
    rgb = np.stack([y + 1.402 * v, y - 0.344136 * u - 0.714136 * v, y + 1.772 * u], axis=-1)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def _device_problem(err) -> str:
    """What a V4L2 error means for the user (linuxpy raises OSError from its ioctls, V4L2Error from its own checks)."""
    if "VIDEO_CAPTURE capability" in str(err):
        return ("it is not a capture device (a USB camera's second /dev/video node carries metadata): "
                "try the camera's first node, e.g. /dev/video0")
    if getattr(err, "errno", None) == errno.ENOTTY:
        return f"not a V4L2 camera ({one_line(err)})"
    err_no = getattr(err, "errno", None)
    if err_no == errno.EBUSY:
        return "the camera is busy (another program is using it)"
    if err_no in (errno.ENODEV, errno.ENXIO, errno.EIO):
        return f"the camera is gone (unplugged?) ({one_line(err)})"
    if err_no == errno.EACCES:
        return "permission denied (add yourself to the `video` group: sudo usermod -aG video $USER, then log in again)"
    return one_line(err)


class PiCameraSource(FrameSource):
    """The Raspberry Pi camera module through picamera2 (libcamera), 640x480 RGB."""

    kind = "picamera2"

    def __init__(self, source: str, options: SourceOptions):
        self.source, self.options = source, options
        module = import_reader("picamera2")
        try:
            self.camera = module.Picamera2()
            config = self.camera.create_video_configuration(main={"size": tuple(options.size), "format": "RGB888"})
            self.camera.configure(config)
            self.camera.start()
        except (RuntimeError, IndexError, OSError, ValueError) as err:
            raise FrameSourceError(f"SOURCE picamera2: the camera cannot be started ({one_line(err)}); "
                                   "`rpicam-hello --list-cameras` lists the cameras libcamera sees") from err

    def describe(self) -> str:
        return f"Raspberry Pi camera (picamera2): {self.options.size[0]}x{self.options.size[1]}"

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            try:
                bgr = self.camera.capture_array("main")
            except (RuntimeError, OSError) as err:
                raise StreamBrokenError(f"picamera2 stopped after frame {index} ({one_line(err)})") from err
            if index % self.options.stride == 0:
                rgb = np.ascontiguousarray(bgr[..., 2::-1])  # picamera2's "RGB888" is B, G, R in memory
                yield Frame(index, to_mode(rgb, self.options.mode), f"picamera2 frame {index}", source_time=time.monotonic())
            index += 1

    def close(self):
        try:
            self.camera.stop()
        finally:
            self.camera.close()
