"""`python -m runtime serve` started as a user starts it, in a child process on 127.0.0.1 and
a free port, for the tests that need the real command (tests/test_hostile_serve.py,
tests/test_serve_https.py); stopped at the end, its stderr kept for the test to read."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Iterator, Optional

import pytest

from conftest import ROOT


@dataclass
class Served:
    """A running `runtime serve`."""

    port: int
    process: subprocess.Popen
    lines: list
    """Its first two stdout lines: "Serving DIR at:" and the address."""
    stderr: str = ""
    """What it wrote on stderr, once it was stopped."""


@contextlib.contextmanager
def serving(folder, *extra, scheme: str = "http", env: Optional[dict] = None, preexec_fn=None) -> Iterator[Served]:
    """`python -m runtime serve FOLDER --host 127.0.0.1 --port 0 [extra]`, once it printed the
    address it listens on (a test fails at once when it does not start); terminated afterwards."""
    process = subprocess.Popen([sys.executable, "-m", "runtime", "serve", str(folder), "--host", "127.0.0.1",
                                "--port", "0", *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
    served = None
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        match = re.match(rf"\s*{scheme}://127\.0\.0\.1:(\d+)/", lines[1])
        if not lines[0].startswith("Serving") or not match:
            process.kill()
            pytest.fail(f"runtime serve did not start: {''.join(lines)}{process.stderr.read()}")
        served = Served(int(match.group(1)), process, lines)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
        _, err = process.communicate(timeout=10)
        if served is not None:
            served.stderr = err
