"""One protocol for the work the runtime does in a child process (checking a file no manifest
vouches for, trying a TFLite Micro arena, benchmarking): `python -m runtime.X ARGS` with this
package first on PYTHONPATH, stdin closed, a timeout, the signal named when it crashes, and one
line of JSON back. A native interpreter that crashes, hangs or eats memory takes down the child,
never the caller."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import one_line

ERROR_STATUS = 3
"""The child's exit status when its work raised (its JSON line then holds "error")."""


class ChildTimeoutError(RuntimeError):
    """The child did not finish within its timeout and was killed."""

    def __init__(self, timeout: float):
        super().__init__(f"the child process did not finish within {timeout:g} s")
        self.timeout = timeout


def child_env(base: Optional[dict] = None) -> dict:
    """`base` (default: this process's environment) with the folder holding this package first on
    PYTHONPATH, so the child imports this very runtime, wherever the caller's working folder is."""
    env = dict(os.environ if base is None else base)
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def signal_name(returncode: int) -> Optional[str]:
    """"SIGSEGV" for a child killed by that signal (a negative return code), else None."""
    if returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


@dataclass(frozen=True)
class ChildResult:
    """What a finished child left."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def signal(self) -> Optional[str]:
        """The signal that killed the child (an interpreter crash, the out-of-memory killer), or None."""
        return signal_name(self.returncode)

    def reply(self) -> Optional[dict]:
        """The child's answer: its last stdout line that is a JSON object (an interpreter may
        print lines of its own before it), or None."""
        for line in reversed(self.stdout.strip().splitlines()):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
        return None

    def last_stderr_line(self, default: str = "no output") -> str:
        return (self.stderr.strip().splitlines() or [default])[-1]


def run_module(module: str, args, timeout: float) -> ChildResult:
    """Runs `python -m module *args` in a child and waits for it. ChildTimeoutError when it
    takes longer than `timeout` seconds (it is killed); OSError when it cannot start."""
    try:
        child = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                               timeout=timeout, env=child_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        raise ChildTimeoutError(timeout) from err
    return ChildResult(child.returncode, child.stdout, child.stderr)


def answer(work: Callable[[], dict], describe: Callable[[BaseException], str] = one_line,
           catch: tuple = (Exception,)) -> int:
    """The child's side: prints work()'s result as one JSON line and returns 0, or, when it
    raises one of `catch`, {"error": describe(err)} and returns ERROR_STATUS."""
    try:
        result = work()
    except catch as err:  # reported to the parent, which decides what it means
        print(json.dumps({"error": describe(err)}), flush=True)
        return ERROR_STATUS
    print(json.dumps(result), flush=True)
    return 0
