"""Which model files already passed the child-process check (runtime.backends.probe), so a file is
probed once per content and interpreter, not on every `load`: the key is the sha256 of the
file's bytes, the backend, its version, the Python running it and the runtime's backend code, remembered in this process
and as one file per key under the user's cache folder (<cache>/probed/). Only passes are
remembered; a cache that cannot be read or written never fails a load, it only costs the probe
again.

A remembered pass skips the check that keeps a crashing file from killing the process, so it is
trusted only as far as it can be checked again at once: the key is computable by anyone, so
each entry holds an HMAC of its key under a secret made for this cache (<cache>/probed/.secret,
readable by the user alone), and the folder, the secret and the entry must be the user's own,
not links, not writable by others. A file planted under a key's name is not a pass."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import importlib
import os
import secrets
import sys
from pathlib import Path
from typing import Optional

from ..store.files import sha256_file
from .interpreters import COMPILED, MODULES, package_version
from ..store.user_cache import cache_dir, untrusted_reason

SECRET_NAME = ".secret"
SECRET_BYTES = 32
ENTRY_MAX_BYTES = 256
"""An entry holds a hex HMAC (64 characters); a larger file is not one."""

CHECK_VERSION = "2"
"""Part of every key: raised when what the child checks changes, so older passes no longer count
(2: LiteRT reads a sealed in-memory copy of the file, runtime/backends/tflite.py)."""


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


@functools.lru_cache(maxsize=1)
def backends_digest() -> str:
    """The sha256 of this package's backend modules, the code that opens a file in the child and
    in the process: a pass recorded by other code in the same Python (an older runtime, or a
    checkout between two commits) is not a pass of this code. A full run here once trusted passes
    that a version opening files differently (LiteRT writing into a Python copy of the file)
    had recorded, and the process died by SIGSEGV on the files they named."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def probe_key(path, backend: str) -> str:
    """The key of `path`'s current content on `backend` in this Python (its executable, numpy)
    and this runtime's backends (backends_digest)."""
    import numpy

    text = (f"{sha256_file(path)} {backend} {interpreter_version(backend)} {CHECK_VERSION} "
            f"{sys.executable} {numpy.__version__} {backends_digest()}")
    return hashlib.sha256(text.encode()).hexdigest()


class ProbeCache:
    """Passed keys, in memory and as files in `folder` (default: <cache>/probed), each holding
    the HMAC of its key under the folder's secret."""

    def __init__(self, folder=None):
        self.folder = Path(folder) if folder is not None else cache_dir() / "probed"
        self._passed = set()

    def passed(self, key: str) -> bool:
        if key in self._passed:
            return True
        secret = self._secret(create=False)
        entry = _read_own_file(self.folder / key, ENTRY_MAX_BYTES) if secret is not None else None
        if entry is None or not hmac.compare_digest(entry, _mac(secret, key).encode()):
            return False
        self._passed.add(key)
        return True

    def remember(self, key: str) -> None:
        """Records a pass; the file appears whole (renamed into place) or not at all."""
        self._passed.add(key)
        tmp = self.folder / f".{key}.{os.getpid()}.tmp"
        try:
            secret = self._secret(create=True)
            if secret is None:
                return
            _write_new_file(tmp, _mac(secret, key).encode())
            os.replace(tmp, self.folder / key)
        except OSError:  # read-only home, a full disk, a file where the folder should be: probe again next time
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _secret(self, create: bool) -> Optional[bytes]:
        """The folder's secret, made (with the folder) when `create`; None when the folder or
        the secret is not the user's own, private and real (no link)."""
        if create and not os.path.lexists(self.folder):
            self.folder.mkdir(mode=0o700, parents=True)
        if not _own_private(self.folder, group_readable=True):
            return None
        path = self.folder / SECRET_NAME
        secret = _read_own_file(path, SECRET_BYTES)
        if secret is None and create and not os.path.lexists(path):
            _write_new_file(path, secrets.token_bytes(SECRET_BYTES))
            secret = _read_own_file(path, SECRET_BYTES)
        return secret if secret is not None and len(secret) == SECRET_BYTES else None


def _mac(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def _own_private(path: Path, group_readable: bool = False) -> bool:
    """Whether the folder `path` itself (not what a link points to) is the user's own, and
    writable by nobody else (readable by nobody else either, unless `group_readable`)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return not untrusted_reason(info, folder=True, private=not group_readable)


def _read_own_file(path: Path, limit: int) -> Optional[bytes]:
    """The bytes of a regular file of the user's own that nobody else can read or write (not
    a link, at most `limit` bytes); None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if untrusted_reason(info, private=True) or info.st_size > limit:
            return None
        return handle.read(limit + 1)


def _write_new_file(path: Path, data: bytes) -> None:
    """A new file readable by the user alone (never through a link, never over another file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


_CACHES = {}


def default_cache() -> ProbeCache:
    """The cache for the current cache folder (it follows EDGE_MNIST_CACHE / XDG_CACHE_HOME)."""
    folder = cache_dir() / "probed"
    if folder not in _CACHES:
        _CACHES[folder] = ProbeCache(folder)
    return _CACHES[folder]
