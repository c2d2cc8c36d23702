"""The first load and run of a model file that no manifest vouches for happens in a child
process. LiteRT verifies a file's flatbuffer, but a valid flatbuffer with bad semantics (a
tensor's type changed, an index pointing at the wrong tensor) can crash it with SIGSEGV or
a heap-corruption abort; in a child, such a file takes down the child, not the caller.

Run as `python -m runtime.probe PATH BACKEND`: prints "ok", or one line of JSON with the
error and exits 3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from .errors import ModelFileError, one_line

PROBE_TIMEOUT_S = 60
PROBE_BATCHES = (1, 3)
"""Batch sizes run in the child: the first allocation and a resize, as predict does."""


def probe(path, backend: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Loads and runs `path` with `backend` in a child; raises ModelFileError if that fails,
    crashes or hangs."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    try:
        child = subprocess.run(
            [sys.executable, "-m", "runtime.probe", str(path), backend],
            capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as err:
        raise ModelFileError(f"{path}: loading it did not finish within {timeout:g} s; refusing the file") from err
    except OSError as err:
        raise ModelFileError(
            f"{path}: cannot start a child process to check this file first ({err}); "
            "list it in a manifest, or load it with isolate=False if you trust it"
        ) from err
    if child.returncode == 0 and child.stdout.strip().endswith("ok"):
        return
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        raise ModelFileError(
            f"{path}: the {backend} interpreter crashed ({name}) loading or running this file; "
            "it is damaged or not a model this runtime supports"
        )
    for line in reversed(child.stdout.strip().splitlines()):
        try:
            message = json.loads(line)["error"]
        except (ValueError, KeyError, TypeError):
            continue
        raise ModelFileError(one_line(message))
    last = (child.stderr.strip().splitlines() or ["no output"])[-1]
    raise ModelFileError(f"{path}: checking this file failed with exit status {child.returncode}: {last}")


def _run_in_child(path: str, backend: str) -> None:
    from .backends import open_backend

    model = open_backend(path, backend, num_threads=1)
    shape = model.inputs[0].shape
    for batch in PROBE_BATCHES:
        x = np.zeros((batch,) + tuple(max(d, 1) for d in shape[1:]), model.inputs[0].dtype)
        model.run(x)


if __name__ == "__main__":
    try:
        _run_in_child(sys.argv[1], sys.argv[2])
    except Exception as err:  # reported to the parent, which raises ModelFileError
        message = str(err) if isinstance(err, ModelFileError) else f"{sys.argv[1]}: {type(err).__name__}: {one_line(err)}"
        print(json.dumps({"error": message}))
        sys.exit(3)
    print("ok")
