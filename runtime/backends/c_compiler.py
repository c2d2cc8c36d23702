"""The device's own C compiler, which builds a C engine (runtime/backends/c_engine.py) into a
shared library: found as $CC, cc, gcc or clang; identified by what it says of itself (its
version line and target) and by its file, which is part of the library cache's key
(runtime/backends/c_cache.py); run with a time limit, its first error folded onto one line.
No compiler is a BackendUnavailableError that names the package installing one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import BackendUnavailableError, ModelFileError, one_line
from ..untrusted import for_terminal

DEVICE_FLAGS = ("-std=c99", "-O2")
"""How the runtime builds an engine on a device: the plain C99 the generator writes, optimised.
Warnings are not errors there: another compiler release may warn where convert's did not."""
STRICT_FLAGS = DEVICE_FLAGS + ("-Wall", "-Wextra", "-Werror", "-pedantic")
"""How `convert micro`'s check and the tests build it: any warning fails the build."""
SHARED_FLAGS = ("-shared", "-fPIC")
COMPILE_TIMEOUT_S = 900
"""A large engine (a MobileNet's weights as C arrays) on a Pi Zero's compiler takes minutes."""
IDENTIFY_TIMEOUT_S = 120
INSTALL_HINT = "install one: sudo apt install gcc (Debian, Raspberry Pi OS; or build-essential)"
HEADERS_HINT = "the C library's headers are missing: sudo apt install libc6-dev (or build-essential)"
_MISSING_LIBC = re.compile(r"(stdint|string|stddef|features|libc-header-start)\.h: No such file|"
                           r"no include path in which to search for|cannot find (crt\w*\.o|-lc\b)")


class CompilerMissingError(BackendUnavailableError):
    """No C compiler on this machine (or the one named cannot be run)."""


class CompileError(ModelFileError):
    """The compiler refused a C engine, or did not finish it in time."""


def find_compiler(compiler: Optional[str] = None) -> str:
    """The path of `compiler`, else of $CC when it is set, else of cc, gcc or clang on PATH."""
    named = compiler or os.environ.get("CC")
    for candidate in [named] if named else ["cc", "gcc", "clang"]:
        found = shutil.which(candidate)
        if found:
            return found
    looked = (f"{named!r}" + ("" if compiler else ", $CC")) if named else "$CC, cc, gcc and clang"
    raise CompilerMissingError(f"no C compiler found (looked for {looked}): {INSTALL_HINT}")


@dataclass(frozen=True)
class Compiler:
    """A C compiler as it describes itself."""

    path: str
    version: str
    """"gcc 12.2.0", "clang 14.0.6": what parity's backend column and the manifest show."""
    target: str
    """What it compiles for (`-dumpmachine`): "x86_64-linux-gnu", "arm-linux-gnueabihf"."""
    identity: str
    """Everything a library it built depends on: its version line, target and file (path, size,
    modification time). A new compiler, or the same one upgraded, builds the engine again."""

    def compile_shared(self, source: Path, library: Path, flags=DEVICE_FLAGS, display: str = "") -> Path:
        """Compiles `source` (its header beside it) into the shared library `library`; CompileError
        in one line naming `display` (default: the source's name) when it fails."""
        what = display or source.name
        command = [self.path, *flags, *SHARED_FLAGS, "-o", str(library), source.name]
        try:
            done = subprocess.run(command, cwd=source.parent, capture_output=True, text=True, errors="replace",
                                  timeout=COMPILE_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as err:
            raise CompileError(f"{what}: {self.version} did not finish compiling it within {COMPILE_TIMEOUT_S} s") from err
        except OSError as err:
            raise CompilerMissingError(f"cannot run the C compiler {self.path} ({err}): {INSTALL_HINT}") from err
        if done.returncode != 0:
            raise CompileError(f"{what}: {self.version} could not compile it: {first_error(done.stderr)}")
        return library


def first_error(stderr: str) -> str:
    """The compiler's first error line (a hint added when the C library's headers are
    missing), made inert for a terminal: a damaged source is quoted back."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    text = one_line(errors[0] if errors else lines[-1] if lines else "no message")
    text = for_terminal(text)[:300]
    return f"{text} ({HEADERS_HINT})" if _MISSING_LIBC.search(stderr) else text


_IDENTIFIED: dict = {}


def identify(compiler: Optional[str] = None) -> Compiler:
    """The compiler find_compiler(compiler) finds, asked once per process and file version."""
    path = find_compiler(compiler)
    try:
        info = os.stat(path)
    except OSError as err:
        raise CompilerMissingError(f"cannot run the C compiler {path} ({err}): {INSTALL_HINT}") from err
    stamp = (path, os.path.realpath(path), info.st_size, info.st_mtime_ns)
    if stamp not in _IDENTIFIED:
        banner, target = (_ask(path, option) for option in ("--version", "-dumpmachine"))
        line = banner.splitlines()[0].strip() if banner.strip() else Path(path).name
        family = ("clang" if "clang" in line.lower() else  # gcc names itself as called ("cc (Debian 12.2.0-14) 12.2.0")
                  "gcc" if "gcc" in line.lower() or "free software foundation" in banner.lower() else Path(path).name)
        numbers = re.findall(r"(?<![\w.])(\d+\.\d+(?:\.\d+)?)(?![\w.])", line)
        version = f"{family} {numbers[-1]}" if numbers else family
        _IDENTIFIED[stamp] = Compiler(path, version, target.strip(), f"{line}\n{target.strip()}\n{' '.join(map(str, stamp))}")
    return _IDENTIFIED[stamp]


def _ask(path: str, option: str) -> str:
    try:
        done = subprocess.run([path, option], capture_output=True, text=True, errors="replace",
                              timeout=IDENTIFY_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CompilerMissingError(f"cannot run the C compiler {path} ({one_line(err)}): {INSTALL_HINT}") from err
    if done.returncode != 0:
        raise CompilerMissingError(f"the C compiler {path} does not answer {option} (exit status {done.returncode}): "
                                   f"{first_error(done.stderr)}")
    return done.stdout
