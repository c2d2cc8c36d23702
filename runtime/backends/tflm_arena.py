"""Whether TFLite Micro loads a model and runs one image in an arena of a given size, tried in
a child process (runtime/backends/child.py): on some arenas that are too small, and on some damaged
files, TFLM crashes the process (SIGSEGV) instead of failing, whatever a manifest says.

Run as `python -m runtime.backends.tflm_arena MODEL ARENA_BYTES`: one line of JSON."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .child import ChildTimeoutError, answer, run_module
from ..errors import ModelFileError
from .tflm import TFLMBackend, default_arena_bytes

PROBE_TIMEOUT_S = 60


@dataclass(frozen=True)
class ArenaProbe:
    """One try of a model in an arena of a given size, in a child process."""

    arena_bytes: int
    runs: bool
    """The interpreter allocated the tensors and ran one inference."""
    detail: str = ""
    """Why not: TFLM's message, or how the child died."""
    allocated_bytes: Optional[int] = None
    """What TFLM's recording allocator reported in use, when it ran."""
    crashed: bool = False
    """The child was killed by a signal (TFLM crashes on some tiny arenas)."""


def probe_arena(path, arena_bytes: int, timeout: float = PROBE_TIMEOUT_S) -> ArenaProbe:
    """Loads `path` into TFLM with an arena of `arena_bytes` and runs one image, in a child."""
    try:
        child = run_module("runtime.backends.tflm_arena", [path, int(arena_bytes)], timeout)
    except ChildTimeoutError as err:
        raise ModelFileError(f"{path}: TFLite Micro did not finish within {timeout:g} s with a {arena_bytes}-byte arena") from err
    if child.signal:
        return ArenaProbe(arena_bytes, False, f"the TFLite Micro interpreter crashed ({child.signal})", crashed=True)
    reply = child.reply()
    if reply is not None and "error" in reply:
        return ArenaProbe(arena_bytes, False, reply["error"])
    if reply is not None:
        return ArenaProbe(arena_bytes, True, allocated_bytes=reply.get("allocated_bytes"))
    raise ModelFileError(f"{path}: the TFLite Micro check failed with exit status {child.returncode}: "
                         f"{child.last_stderr_line()}")


def open_probed(path, module, arena_bytes: Optional[int] = None) -> TFLMBackend:
    """A TFLMBackend on `path` once a child has loaded and run it with that arena (default:
    default_arena_bytes); ModelFileError when the child fails or crashes."""
    if arena_bytes is None:
        arena_bytes = default_arena_bytes(path)
    probe = probe_arena(path, arena_bytes)
    if not probe.runs:
        raise ModelFileError(probe.detail if not probe.crashed else
                             f"{path}: {probe.detail} with a {arena_bytes}-byte arena; refusing to load it here")
    return TFLMBackend(path, module, arena_bytes)


def _load_and_run(path: str, arena_bytes: int) -> dict:
    """The child's work: this load is the check."""
    import tflite_micro

    backend = TFLMBackend(path, tflite_micro, arena_bytes)
    backend.run(np.zeros((1,) + backend.inputs[0].shape[1:], backend.inputs[0].dtype))
    return {"ok": True, "allocated_bytes": backend.allocated_bytes}


if __name__ == "__main__":
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a tiny arena may crash TFLM: no core file for that
    sys.exit(answer(lambda: _load_and_run(sys.argv[1], int(sys.argv[2]))))
