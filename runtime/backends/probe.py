"""The first load and run of a model file that no manifest vouches for happens in a child
process. LiteRT verifies a file's flatbuffer, but a valid flatbuffer with bad semantics (a
tensor's type changed, an index pointing at the wrong tensor) can crash it with SIGSEGV or
a heap-corruption abort; in a child, such a file takes down the child, not the caller.

Run as `python -m runtime.backends.probe PATH BACKEND`: one line of JSON (runtime/backends/child.py), {"ok": true}
or the error."""

from __future__ import annotations

import sys
from typing import Optional

import numpy as np

from .child import ChildTimeoutError, answer, run_module
from ..errors import ModelFileError, one_line
from .probe_cache import ProbeCache, default_cache, probe_key

PROBE_TIMEOUT_S = 60
PROBE_BATCHES = (1, 3)
"""Batch sizes run in the child: the first allocation and a resize, as predict does."""


def probe(path, backend: str, timeout: float = PROBE_TIMEOUT_S, cache: Optional[ProbeCache] = None) -> None:
    """Loads and runs `path` with `backend` in a child; raises ModelFileError if that fails,
    crashes or hangs. A file whose content passed before on this backend and version (`cache`,
    default: the per-user one, runtime/backends/probe_cache.py) is not probed again."""
    cache = cache if cache is not None else default_cache()
    key = _key(path, backend)
    if key is not None and cache.passed(key):
        return
    _probe_in_child(path, backend, timeout)
    if key is not None and _key(path, backend) == key:  # the content that passed is the content now there
        cache.remember(key)


def _key(path, backend: str) -> Optional[str]:
    """The file's probe key, or None when it cannot be read here (the child then says why)."""
    try:
        return probe_key(path, backend)
    except OSError:
        return None


def _probe_in_child(path, backend: str, timeout: float) -> None:
    try:
        child = run_module("runtime.backends.probe", [path, backend], timeout)
    except ChildTimeoutError as err:
        raise ModelFileError(f"{path}: loading it did not finish within {timeout:g} s; refusing the file") from err
    except OSError as err:
        raise ModelFileError(
            f"{path}: cannot start a child process to check this file first ({err}); "
            "list it in a manifest, or load it with isolate=False if you trust it"
        ) from err
    if child.signal:
        raise ModelFileError(
            f"{path}: the {backend} interpreter crashed ({child.signal}) loading or running this file; "
            "it is damaged or not a model this runtime supports"
        )
    reply = child.reply()
    if child.returncode == 0 and reply is not None and reply.get("ok") is True:
        return
    if reply is not None and isinstance(reply.get("error"), str):
        raise ModelFileError(one_line(reply["error"]))
    raise ModelFileError(f"{path}: checking this file failed with exit status {child.returncode}: "
                         f"{child.last_stderr_line()}")


def _load_and_run(path: str, backend: str) -> dict:
    """The child's work: loads `path` and runs each of PROBE_BATCHES through it."""
    from . import open_backend

    model = open_backend(path, backend, num_threads=1)
    shape = model.inputs[0].shape
    for batch in PROBE_BATCHES:
        x = np.zeros((batch,) + tuple(max(d, 1) for d in shape[1:]), model.inputs[0].dtype)
        model.run(x)
    return {"ok": True}


def _describe(err: BaseException) -> str:
    return str(err) if isinstance(err, ModelFileError) else f"{sys.argv[1]}: {type(err).__name__}: {one_line(err)}"


if __name__ == "__main__":
    sys.exit(answer(lambda: _load_and_run(sys.argv[1], sys.argv[2]), describe=_describe))
