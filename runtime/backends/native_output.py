"""Native libraries print status lines straight to file descriptor 2, where Python cannot
silence them: LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on every
model load, the TFLite converter's "fully_quantize: 0, inference_type: 6 ...". A user takes
them for trouble. `filtered_stderr` captures fd 2 for a block and writes back every line
but those known ones, so nothing else is lost (errors included); `--verbose` skips it.
`captured_stderr` keeps the lines for the caller (TFLite Micro reports its reasons there)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

NOISE = (
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "fully_quantize: ",
)
"""Line starts that are dropped: status messages, not warnings or errors."""
DUPLICATE_SCHEMA = ("Schema error: Trying to register schema with name ", ", but it is already registered from file ")
"""Debian's onnxruntime 1.21 (python3-onnxruntime, built against Debian's libonnx) registers ONNX's
operator schemas twice, and at the first session of a process says so 567 times, each message
followed by an empty line (measured on Debian 13 armhf). Each names the same file and line twice:
the same schema, and the first registration stands. Dropped with its empty line."""

_lock = threading.Lock()


@contextlib.contextmanager
def captured_stderr(lines: list):
    """Within the block, what anything writes to file descriptor 2 (native code included)
    goes to memory; afterwards its lines are appended to `lines`."""
    with _lock:
        sys.stderr.flush()
        saved = os.dup(2)
        if hasattr(os, "memfd_create"):
            capture = os.memfd_create("stderr", 0)
        else:  # not Linux
            import tempfile

            capture = os.dup(tempfile.TemporaryFile().fileno())
        os.dup2(capture, 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            os.lseek(capture, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(capture, 1 << 16):
                chunks.append(chunk)
            os.close(capture)
            lines.extend(b"".join(chunks).decode("utf-8", "replace").splitlines(keepends=True))


@contextlib.contextmanager
def filtered_stderr(enabled: bool = True, noise: tuple = NOISE):
    """Within the block, fd 2 is captured; afterwards its lines, less `noise`, are written to
    the real stderr. A no-op when disabled."""
    if not enabled:
        yield
        return
    lines = []
    try:
        with captured_stderr(lines):
            yield
    finally:
        kept = "".join(kept_lines(lines, noise))
        if kept:
            sys.stderr.write(kept)
            sys.stderr.flush()


def kept_lines(lines: list, noise: tuple = NOISE) -> list:
    """`lines` less those that start with `noise` and DUPLICATE_SCHEMA's messages (with the empty
    line after each)."""
    kept, after_schema = [], False
    for line in lines:
        if line.startswith(DUPLICATE_SCHEMA[0]) and DUPLICATE_SCHEMA[1] in line:
            after_schema = True
            continue
        if not (line.startswith(noise) or (after_schema and not line.strip())):
            kept.append(line)
        after_schema = False
    return kept
