"""Which model files already passed the child-process check (runtime.backends.probe), so a file is
probed once per content and interpreter, not on every `load`: the key is the sha256 of the
file's bytes, the backend, its version and the Python running it, remembered in this process
and as one empty file per key under the user's cache folder (<cache>/probed/). Only passes
are remembered; a cache that cannot be read or written never fails a load, it only costs the
probe again."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import sys
from pathlib import Path

from ..store.files import sha256_file
from .interpreters import COMPILED, MODULES, package_version
from ..store.user_cache import cache_dir

CHECK_VERSION = "1"
"""Part of every key: raised when what the child checks changes, so older passes no longer count."""


def interpreter_version(backend: str) -> str:
    """The backend's package version, from its module (imported already when a backend was
    chosen; importlib.metadata would cost more than the lookup saves)."""
    if backend in COMPILED:  # the compiler that builds it ("gcc 12.2.0")
        return package_version(backend)
    try:
        top = importlib.import_module(MODULES[backend].split(".")[0])
    except ImportError:
        return package_version(backend)
    return str(getattr(top, "__version__", "") or package_version(backend))


def probe_key(path, backend: str) -> str:
    """The key of `path`'s current content on `backend` in this Python (its executable, numpy)."""
    import numpy

    text = (f"{sha256_file(path)} {backend} {interpreter_version(backend)} {CHECK_VERSION} "
            f"{sys.executable} {numpy.__version__}")
    return hashlib.sha256(text.encode()).hexdigest()


class ProbeCache:
    """Passed keys, in memory and as empty files in `folder` (default: <cache>/probed)."""

    def __init__(self, folder=None):
        self.folder = Path(folder) if folder is not None else cache_dir() / "probed"
        self._passed = set()

    def passed(self, key: str) -> bool:
        if key in self._passed:
            return True
        try:
            found = (self.folder / key).is_file()
        except OSError:
            return False
        if found:
            self._passed.add(key)
        return found

    def remember(self, key: str) -> None:
        """Records a pass; the file appears whole (renamed into place) or not at all."""
        self._passed.add(key)
        tmp = self.folder / f".{key}.{os.getpid()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.touch()
            os.replace(tmp, self.folder / key)
        except OSError:  # read-only home, a full disk, a file where the folder should be: probe again next time
            with contextlib.suppress(OSError):
                tmp.unlink()


_CACHES = {}


def default_cache() -> ProbeCache:
    """The cache for the current cache folder (it follows EDGE_MNIST_CACHE / XDG_CACHE_HOME)."""
    folder = cache_dir() / "probed"
    if folder not in _CACHES:
        _CACHES[folder] = ProbeCache(folder)
    return _CACHES[folder]
