"""A generated C engine compiled with this machine's C compiler into a shared library and
called through ctypes: the host-side check that it gives TFLite Micro's bytes.

Only the standard library and numpy: this module is meant to move into runtime/ as the
device side of a `--backend c` (the device compiles the engine with its own compiler)."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Optional

import numpy as np

STRICT_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
"""How the checks compile it: any warning fails the build."""
COMPILE_TIMEOUT_S = 600


class HostCompilerError(RuntimeError):
    """No C compiler, or the engine did not compile."""


def find_compiler(compiler: Optional[str] = None) -> str:
    """`compiler`, else $CC, else cc, gcc or clang on PATH."""
    for candidate in (compiler, os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    raise HostCompilerError("no C compiler found (looked for $CC, cc, gcc and clang): install one, e.g. "
                            "apt-get install gcc")


def compiler_version(compiler: Optional[str] = None) -> str:
    """"gcc 12.2.0": the compiler's name and version, as the manifest records it."""
    path = find_compiler(compiler)
    for option in ("-dumpfullversion", "-dumpversion"):  # gcc's full version; clang knows only the second
        done = subprocess.run([path, option], capture_output=True, text=True, timeout=60)
        if done.returncode == 0 and done.stdout.strip():
            return f"{Path(path).name} {done.stdout.strip()}"
    return f"{Path(path).name} (version unknown)"


def header_constant(header: str, name: str, constant: str) -> int:
    """The value of `#define NAME_CONSTANT N` in a generated header."""
    match = re.search(rf"^#define {re.escape(name)}_{constant} \(?(-?\d+)\)?$", header, re.M)
    if match is None:
        raise ValueError(f"the header does not define {name}_{constant}")
    return int(match.group(1))


def compile_shared(source: Path, library: Path, compiler: Optional[str] = None, flags=STRICT_FLAGS) -> Path:
    """Compiles `source` (with its header beside it) into the shared library `library`."""
    command = [find_compiler(compiler), *flags, "-shared", "-fPIC", "-o", str(library), str(source)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise HostCompilerError(f"{Path(command[0]).name} did not compile {source.name} within {COMPILE_TIMEOUT_S} s") from err
    if done.returncode != 0:
        raise HostCompilerError(f"{Path(command[0]).name} could not compile {source.name}: "
                                + " | ".join(done.stderr.strip().splitlines()[-6:]))
    return library


class HostEngine:
    """NAME_predict of a generated engine, loaded from a shared library built here. `run`
    takes int8 arrays of any leading shape whose trailing elements are one input each."""

    def __init__(self, source: str, header: str, name: str, compiler: Optional[str] = None, flags=STRICT_FLAGS):
        self.name = name
        self.input_bytes = header_constant(header, name, "INPUT_BYTES")
        self.output_bytes = header_constant(header, name, "OUTPUT_BYTES")
        with tempfile.TemporaryDirectory(prefix="c-engine-") as folder:
            (Path(folder) / f"{name}.h").write_text(header)
            (Path(folder) / f"{name}.c").write_text(source)
            library = compile_shared(Path(folder) / f"{name}.c", Path(folder) / f"lib{name}.so", compiler, flags)
            self._library = ctypes.CDLL(str(library))  # loaded: the file may go
        self._predict = getattr(self._library, f"{name}_predict")
        self._predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._predict.restype = ctypes.c_int
        self._lock = threading.Lock()  # the engine works in one static arena

    def run(self, x: np.ndarray) -> np.ndarray:
        """int8 inputs (n, ...) with input_bytes values each -> int8 outputs (n, output_bytes)."""
        x = np.ascontiguousarray(x)
        if x.dtype != np.int8:
            raise TypeError(f"x: got {x.dtype}, expected int8 (the model's quantized input)")
        batch = x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(1, -1)
        if batch.shape[1] != self.input_bytes:
            raise ValueError(f"x: got {batch.shape[1]} values per input, expected {self.input_bytes}")
        out = np.empty((len(batch), self.output_bytes), np.int8)
        with self._lock:
            for i in range(len(batch)):
                status = self._predict(batch[i].ctypes.data, out[i].ctypes.data)
                if status != 0:
                    raise RuntimeError(f"{self.name}_predict returned {status}")
        return out
