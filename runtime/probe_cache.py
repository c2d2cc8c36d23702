"""Which model files already passed the child-process check (runtime.probe), so a file is
probed once per content and interpreter, not on every `load`: the key is the sha256 of the
file's bytes, the backend and its version, remembered in this process and as one empty file
per key under the user's cache folder (<cache>/probed/). Only passes are remembered; a cache
that cannot be read or written never fails a load, it only costs the probe again."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
from pathlib import Path
from typing import Optional

from .files import sha256_file
from .interpreters import MODULES, package_version
from .user_cache import cache_dir

CHECK_VERSION = "1"
"""Part of every key: raised when what the child checks changes, so older passes no longer count."""


def interpreter_version(backend: str) -> str:
    """The backend's package version, from its module (imported already when a backend was
    chosen; importlib.metadata would cost more than the lookup saves)."""
    top = importlib.import_module(MODULES[backend].split(".")[0])
    return str(getattr(top, "__version__", "") or package_version(backend))


def probe_key(path, backend: str, file_sha256: Optional[str] = None) -> str:
    """The key of `path`'s current content (or of `file_sha256`, when known) on `backend`."""
    digest = file_sha256 or sha256_file(path)
    text = f"{digest} {backend} {interpreter_version(backend)} {CHECK_VERSION}"
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
