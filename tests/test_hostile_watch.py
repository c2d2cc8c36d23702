"""Hostile input, round 4: `python -m runtime watch` on files made to exhaust it. Every frame
source goes through the bounds `predict` holds an image to (a 16000x16000 PNG, a 9000x9000
MJPEG clip), an image file is read as an image and not handed to FFmpeg (a JPEG followed by
6 GiB of zeros), FFmpeg reads no more than a frame's worth without a frame (zeros appended to a
video), and Ctrl+C stops FFmpeg mid-scan. Each ends in time, in little memory, with one line."""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from camera_frames import write_video
from conftest import ROOT, run_cli_measured

SPARSE_ZEROS = 6 << 30
"""Zeros appended to a file, as a hole: 6 GiB on paper, nothing on disk."""
MAX_PEAK_MIB = 400
"""What `watch` may take on any of these files (it took 0.7 to 6.7 GB before)."""
HANG_S = 60


def zero_png(width: int, height: int) -> bytes:
    """A grayscale PNG of zeros, compressed row by row: 16000x16000 is a few hundred KB, on disk
    and here."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row = zlib.compressobj(9), bytes(width + 1)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    return zero_png(16000, 16000)


def mjpeg_clip(path, side: int, frames: int = 2) -> None:
    """An MJPEG .avi of real side x side frames (a gray JPEG, muxed as it is)."""
    import av

    encoded = io.BytesIO()
    Image.new("L", (side, side), 128).save(encoded, "JPEG", quality=50)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=5)
        stream.width = stream.height = side
        stream.pix_fmt = "yuvj420p"
        for k in range(frames):
            packet = av.Packet(encoded.getvalue())
            packet.stream, packet.pts, packet.dts = stream, k, k
            out.mux(packet)


def with_zeros(path, size: int = SPARSE_ZEROS):
    """`path` made longer by `size` zero bytes that take no disk (a hole)."""
    os.truncate(path, os.path.getsize(path) + size)
    return path


def without_frame_count(path):
    """The .avi with the frame counts of its headers set to 0 (unknown): FFmpeg reads on
    after the last frame, as for a stream without an index."""
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, data.find(b"avih") + 8 + 16, 0)
    struct.pack_into("<I", data, data.find(b"strh") + 8 + 32, 0)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def small_clip(reference, tmp_path_factory):
    """Five reference digits as 112x112 MJPEG frames in an .avi."""
    frames = [np.repeat(np.repeat(np.repeat(image[..., None], 3, axis=2), 4, axis=0), 4, axis=1)
              for image in reference.images[:5]]
    return write_video(frames, tmp_path_factory.mktemp("clip") / "clip.avi", fps=5)


def watch(pipeline, source, *extra):
    result, peak = run_cli_measured("runtime", "watch", source, "--models", pipeline.models, *extra, timeout=HANG_S)
    assert result.returncode != "timeout", f"watch {source} did not end within {HANG_S} s"
    assert "Traceback" not in result.stderr and peak < MAX_PEAK_MIB, (peak, result.stderr[-2000:])
    return result


def one_error(result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_huge_png_is_refused_as_predict_refuses_it(pipeline, huge_png, tmp_path):
    path = tmp_path / "zeros.png"
    path.write_bytes(huge_png)
    result = watch(pipeline, path)
    assert result.returncode == 2
    assert one_error(result) == (f"error: SOURCE {path}: refused, more pixels than the 40,000,000 allowed (Image size "
                                 "(256000000 pixels) exceeds limit of 178956970 pixels, could be decompression bomb "
                                 "DOS attack.)")


def test_a_png_named_like_a_video_is_still_an_image(pipeline, huge_png, tmp_path):
    path = tmp_path / "clip.avi"
    path.write_bytes(huge_png)
    assert "refused, more pixels than the 40,000,000 allowed" in one_error(watch(pipeline, path))


def test_frames_larger_than_predict_allows_are_never_decoded(pipeline, tmp_path):
    path = tmp_path / "huge.avi"
    mjpeg_clip(path, 9000)
    result = watch(pipeline, path, "--json")
    assert result.returncode == 2 and result.stdout == ""
    assert one_error(result) == (f"error: SOURCE {path}: its frames are 9000x9000: more than the 40,000,000 pixels "
                                 "allowed (as predict refuses such an image)")


def test_a_jpeg_followed_by_gigabytes_of_zeros_is_one_image(pipeline, tmp_path):
    path = tmp_path / "digit.jpg"
    Image.new("L", (64, 64), 255).save(path)
    with_zeros(path)
    for name in ("digit.jpg", "digit.avi"):  # its name does not make it a video
        source = path.rename(tmp_path / name)
        result = watch(pipeline, source, "--json")
        frames = [json.loads(line) for line in result.stdout.splitlines()]
        summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
        assert result.returncode == 0 and len(frames) == 1 and summary["stopped"] == "end of the stream"


def test_zeros_after_a_video_are_not_read(pipeline, small_clip, tmp_path):
    """Its header says how many frames it has: the stream ends there."""
    path = tmp_path / "clip.avi"
    path.write_bytes(small_clip.read_bytes())
    result = watch(pipeline, with_zeros(path), "--json")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 5


def test_zeros_after_a_video_without_a_frame_count_end_the_stream_with_one_line(pipeline, small_clip, tmp_path):
    path = tmp_path / "clip.avi"
    path.write_bytes(small_clip.read_bytes())
    result = watch(pipeline, with_zeros(without_frame_count(path)))
    assert result.returncode == 1 and "stopped: error" in result.stdout and "5 frames in" in result.stdout
    assert one_error(result) == (f"error: {path}: the video stopped being readable after frame 5 (no frame in the "
                                 "152 MiB read since the last one: what follows is not video, or it is damaged)")


def test_ctrl_c_stops_ffmpeg_in_the_middle_of_a_scan(pipeline, small_clip, tmp_path):
    """SIGINT while FFmpeg searches the zeros for a next frame: the summary at once, exit 0."""
    path = tmp_path / "clip.avi"
    path.write_bytes(small_clip.read_bytes())
    with_zeros(without_frame_count(path))
    process = subprocess.Popen([sys.executable, "-m", "runtime", "watch", str(path), "--models", str(pipeline.models),
                                "--json"], cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [process.stdout.readline() for _ in range(5)]  # then FFmpeg reads the zeros
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = process.communicate(timeout=HANG_S)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "dropped" not in err
    summary = json.loads(err.strip().splitlines()[-1])["summary"]
    assert summary["stopped"] == "interrupted" and summary["error"] is None
    assert summary["frames"] == len(lines) + len(out.splitlines()) == 5
    assert time.monotonic() - started < HANG_S


def test_ctrl_c_while_a_source_opens_says_so(pipeline, small_clip, tmp_path):
    """FFmpeg reads ahead when it opens some files (Matroska with zeros after it): Ctrl+C there
    is one line and exit status 130, not silence."""
    import av

    path = tmp_path / "clip.mkv"
    with av.open(str(small_clip)) as source, av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=5)
        stream.width, stream.height, stream.pix_fmt = 112, 112, "yuvj420p"
        for packet in source.demux(source.streams.video[0]):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    with_zeros(path)
    process = subprocess.Popen([sys.executable, "-m", "runtime", "watch", str(path), "--models", str(pipeline.models)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    while process.poll() is None and not _reading(process.pid, path):
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=HANG_S)
    if process.returncode == 130:
        assert err.strip() == f"Interrupted while opening {path}: no frame was read."
    else:  # the signal came once it had opened: the summary
        assert process.returncode in (0, 1) and "stopped:" in out, (process.returncode, out, err)
    assert "Traceback" not in err


def _reading(pid: int, path) -> bool:
    """Whether the process has `path` open (it is reading it)."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def test_a_camera_size_beyond_the_bounds_is_refused(pipeline):
    result = watch(pipeline, "0", "--size", "100000x100000")
    assert result.returncode == 2
    assert one_error(result) == ("error: size (asked of a camera): refused, 100000x100000 pixels is more than the "
                                 "40,000,000 allowed")
