"""Native libraries print status lines straight to file descriptor 2, where Python cannot
silence them: LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on every
model load, the TFLite converter's "fully_quantize: 0, inference_type: 6 ...". A user takes
them for trouble. `filtered_stderr` captures fd 2 for a block and writes back every line
but those known ones, so nothing else is lost (errors included); `--verbose` skips it."""

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

_lock = threading.Lock()


@contextlib.contextmanager
def filtered_stderr(enabled: bool = True, noise: tuple = NOISE):
    """Within the block, fd 2 goes to memory; afterwards its lines, less `noise`, are written
    to the real stderr. A no-op where memfd_create is missing (not Linux) or when disabled."""
    if not enabled or not hasattr(os, "memfd_create"):
        yield
        return
    with _lock:
        sys.stderr.flush()
        saved = os.dup(2)
        capture = os.memfd_create("stderr", 0)
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
            lines = b"".join(chunks).decode("utf-8", "replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not line.startswith(noise))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
