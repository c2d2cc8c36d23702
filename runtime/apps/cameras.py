"""Cameras for `python -m runtime watch`: a V4L2 camera (a USB webcam, /dev/videoN) read with
linuxpy, and the Raspberry Pi camera module through picamera2 (libcamera). A camera's JPEG
frame is held to the bounds of every image before it is decoded."""

from __future__ import annotations

import errno
import io
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import ImageError, one_line
from ..preprocess.images import image_pixels
from .frames import Frame, FrameSource, FrameSourceError, SourceOptions, StreamBrokenError, import_reader, to_mode

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
                    if self.pixel_format == "MJPG":  # the JPEG's own header says its size: bounded first
                        with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
                            pixels = image_pixels(im, name, self.options.mode).astype(np.uint8)
                    else:
                        pixels = yuyv_pixels(data, frame.width, frame.height, self.options.mode)
                except ImageError as err:
                    yield Frame(index, None, name, error=str(err))
                except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
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
