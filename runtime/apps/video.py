"""Video files for `python -m runtime watch`, decoded by PyAV (FFmpeg), bounded and interruptible.

FFmpeg reads the file through `BoundedInput`, a Python file object, so that every read passes
through here:

- a budget: MAX_BYTES_PER_FRAME may be read without a packet coming out (a frame of the largest
  size allowed, uncompressed); then the file ends there. A video with gigabytes of zeros
  appended would otherwise make FFmpeg read on for minutes, growing one packet without end.
- Ctrl+C: while FFmpeg runs, `InterruptibleCalls` turns SIGINT into a flag that the next read
  answers with the end of the file, so FFmpeg returns at once and KeyboardInterrupt is raised
  in Python; Python's own handler would wait until FFmpeg returned, after its whole scan.

FFmpeg's decoders are also told the largest picture they may allocate (`decoder_options`), the
bound `predict` holds every image to (runtime.preprocess.images.MAX_PIXELS).
"""

from __future__ import annotations

import contextlib
import io
import re
import signal
import threading
from pathlib import Path
from typing import Iterator, Optional

from ..errors import ImageError, one_line
from ..preprocess.images import MAX_PIXELS, check_image_size
from ..store.files import open_regular
from ..tables import plural
from .frames import Frame, FrameSource, FrameSourceError, SourceOptions, StreamBrokenError, import_reader

MAX_BYTES_PER_FRAME = 4 * MAX_PIXELS
"""Bytes FFmpeg may read without a packet coming out: an uncompressed RGBA frame of MAX_PIXELS."""
TOO_LARGE = "exceeds specified max pixel count"
"""FFmpeg's words when a picture is larger than `max_pixels` (its error log, in PyAV's message)."""


def decoder_options() -> dict:
    """FFmpeg options that bound what a decoder allocates: no picture over MAX_PIXELS."""
    return {"max_pixels": str(MAX_PIXELS)}


class BoundedInput(io.RawIOBase):
    """A regular file as FFmpeg reads it: MAX_BYTES_PER_FRAME at most between two packets
    (`packet_seen`), and nothing once Ctrl+C was pressed. Either is the end of the file for
    FFmpeg from then on (`exhausted`, `interrupted`), so it stops at once, with what it has."""

    def __init__(self, handle, budget: int = MAX_BYTES_PER_FRAME):
        super().__init__()
        self._handle = handle
        self.budget = budget
        self.read_since_packet = 0
        self.exhausted = False
        """The budget ran out: FFmpeg read it all without finding a frame, and reads no more."""
        self.interrupted = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def packet_seen(self) -> None:
        self.read_since_packet = 0

    def readinto(self, buffer) -> int:
        if self.interrupted or self.exhausted:
            return 0
        left = self.budget - self.read_since_packet
        if left <= 0:
            self.exhausted = True
            return 0
        count = self._handle.readinto(memoryview(buffer)[:left]) or 0
        self.read_since_packet += count
        return count

    def read(self, size: int = -1) -> bytes:
        buffer = bytearray(max(0, size) if size is not None and size >= 0 else io.DEFAULT_BUFFER_SIZE)
        count = self.readinto(buffer)
        return bytes(buffer[:count])

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def close(self) -> None:
        self._handle.close()
        super().close()


class InterruptibleCalls:
    """Installs a SIGINT handler for as long as it is open (in the main thread; elsewhere
    Python's own stays): outside a `call()` block Ctrl+C is KeyboardInterrupt as always,
    inside one it sets `reader.interrupted`, and the block raises KeyboardInterrupt when FFmpeg
    has returned."""

    def __init__(self, reader: BoundedInput):
        self.reader = reader
        self._in_call = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError):
                self._previous = signal.signal(signal.SIGINT, self._on_interrupt)

    def _on_interrupt(self, signum, frame):
        if self._in_call:
            self.reader.interrupted = True
        elif callable(self._previous):
            self._previous(signum, frame)
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        """Around one call into FFmpeg: KeyboardInterrupt when Ctrl+C came during it."""
        self._in_call = True
        try:
            yield
        except Exception:  # FFmpeg's own error for the end of the file it was given instead
            if self.reader.interrupted:
                raise KeyboardInterrupt from None
            raise
        finally:
            self._in_call = False
        if self.reader.interrupted:
            raise KeyboardInterrupt

    def close(self) -> None:
        if self._previous is not None:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signal.SIGINT, self._previous)
            self._previous = None


class VideoSource(FrameSource):
    """A video file, decoded by PyAV (FFmpeg): MJPEG .avi/.mkv, H.264 .mp4, .y4m and more, read
    through runtime.apps.ffmpeg_input: no picture larger than `predict` allows is decoded, a
    stretch of the file with no frame in it ends the stream, and Ctrl+C stops FFmpeg mid-read.
    A frame that fails to decode is a frame with an error; a file that stops being readable
    mid-way ends the stream with StreamBrokenError. The stream ends at the frame count its
    header announces, when it announces one (what a file holds after them is not read)."""

    kind = "video"

    def __init__(self, source: str, options: SourceOptions):
        self.source, self.options = source, options
        self.av = import_reader("video")
        if not Path(source).is_file():
            raise FrameSourceError(f"SOURCE {source}: no such video file")
        try:
            self.input = BoundedInput(open_regular(source))
        except OSError as err:
            raise FrameSourceError(f"SOURCE {source}: cannot be read ({one_line(err)})") from err
        self.calls = InterruptibleCalls(self.input)
        self._log_level = self.av.logging.get_level()
        self.av.logging.set_level(self.av.logging.ERROR)  # FFmpeg's last error joins PyAV's message (lines captured)
        try:
            with self._ffmpeg() as logs:
                self.container = self.av.open(self.input, options=decoder_options())
            too_large = next((message for _, _, message in logs if TOO_LARGE in message), None)
            if too_large:
                raise FrameSourceError(f"SOURCE {source}: {_too_large(too_large)}")
        except (FrameSourceError, KeyboardInterrupt):
            self._release()
            raise
        except (self.av.error.FFmpegError, OSError, ValueError) as err:
            self._release()
            raise FrameSourceError(f"SOURCE {source}: not a readable video ({self._why(err)})") from err
        if not self.container.streams.video:
            self.close()
            raise FrameSourceError(f"SOURCE {source}: the file holds no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.codec_context.options = decoder_options()

    @contextlib.contextmanager
    def _ffmpeg(self) -> Iterator[list]:
        """One call into FFmpeg: Ctrl+C stops it; its log lines are kept (yielded), not printed."""
        with self.calls.call(), self.av.logging.Capture(local=False) as logs:
            yield logs

    def _why(self, err) -> str:
        if self.input.exhausted:
            return (f"no frame in the {MAX_BYTES_PER_FRAME // 2**20} MiB read since the last one: what follows is not "
                    "video, or it is damaged")
        return one_line(err)

    def describe(self) -> str:
        codec = self.stream.codec_context
        count = f"{self.stream.frames} {plural(self.stream.frames, 'frame')}, " if self.stream.frames else ""
        return f"{self.source}: {count}{codec.width}x{codec.height} {codec.name}"

    def __iter__(self) -> Iterator[Frame]:
        fmt = "gray" if self.options.mode == "L" else "rgb24"
        index, announced = 0, self.stream.frames
        packets = self.container.demux(self.stream)
        while not announced or index < announced:
            try:
                with self._ffmpeg():
                    packet = next(packets, None)
            except (self.av.error.FFmpegError, OSError) as err:
                raise StreamBrokenError(f"{self.source}: the video stopped being readable after frame {index} "
                                        f"({self._why(err)})") from err
            if packet is None:
                if self.input.exhausted:
                    raise StreamBrokenError(f"{self.source}: the video stopped being readable after frame {index} "
                                            f"({self._why(None)})")
                if announced and index < announced:
                    raise StreamBrokenError(f"{self.source}: the video ended after {index} of the {announced} "
                                            "frames its header announces (a truncated file?)")
                return
            self.input.packet_seen()
            try:
                with self._ffmpeg():
                    decoded = packet.decode()
            except self.av.error.FFmpegError as err:
                if TOO_LARGE in str(err):
                    raise StreamBrokenError(f"{self.source}: frame {index}: {_too_large(str(err))}") from err
                if packet.size:
                    if index % self.options.stride == 0:
                        yield Frame(index, None, f"{self.source} frame {index}", error=f"{self.source} frame {index}: "
                                    f"could not be decoded ({one_line(err)})")
                    index += 1
                continue
            for frame in decoded:
                if index % self.options.stride == 0:
                    yield self._frame(frame, index, fmt)
                index += 1

    def _frame(self, frame, index: int, fmt: str) -> Frame:
        """The decoded frame's pixels, once its size is within the bounds of every image."""
        name = f"{self.source} frame {index}"
        try:
            check_image_size(frame.width, frame.height, name)
        except ImageError as err:
            return Frame(index, None, name, error=str(err))
        return Frame(index, frame.to_ndarray(format=fmt), name, source_time=self._time(frame, index))

    def _time(self, frame, index: int) -> Optional[float]:
        """The frame's presentation time, else (AVI files often carry none) index / frame rate."""
        if frame.time is not None:
            return round(float(frame.time), 4)
        rate = self.stream.average_rate or self.stream.guessed_rate
        return round(index / float(rate), 4) if rate else None

    def _release(self):
        container = getattr(self, "container", None)
        if container is not None:
            container.close()
        self.calls.close()
        self.input.close()
        self.av.logging.set_level(self._log_level)

    def close(self):
        self._release()


def _too_large(message: str) -> str:
    """FFmpeg's refusal of a picture larger than max_pixels, said as `predict` refuses an image."""
    size = re.search(r"Picture size (\d+x\d+)", message)
    return (f"its frames are {size.group(1) if size else 'larger than allowed'}: more than the {MAX_PIXELS:,} "
            "pixels allowed (as predict refuses such an image)")
