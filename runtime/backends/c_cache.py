"""The per-user cache of C engines built into shared libraries (<cache>/c-engines/, the cache
folder of runtime/store/user_cache.py), so that a device compiles an engine once, not at every
load. The key (runtime/backends/c_engine.py) names the source, the header, the compiler and
its flags; an entry is KEY.so and KEY.sha256, the library's own sha256.

Loading a shared library runs its code, so a cached one is loaded only when it can be checked
again, at every load:
- the folder is a real folder (not a symbolic link) of this user's that nobody else can write
  (it is made 0700);
- the library and its record are regular files of this user's, writable by nobody else, with
  one link, opened without following a symbolic link;
- the library's sha256 is the recorded one, computed on the bytes copied through that
  descriptor into a sealed in-memory file (memfd) that is then loaded: what was checked is what
  runs, and rewriting the cached file cannot change or truncate what is mapped.
Anything else costs a build, never a crash: a damaged or foreign entry is built again and
replaced; a folder that cannot be trusted or written is left alone, and the engine is built
in a private temporary folder and loaded from there."""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..store.files import sealed_memory_file
from ..store.user_cache import cache_dir, untrusted_reason

FOLDER_NAME = "c-engines"
MAX_ENTRIES = 32
"""Libraries kept: storing one more removes the least recently used beyond this many."""
MAX_LIBRARY_BYTES = 1 << 30
"""A cached library larger than this is not read (nor loaded): it is built again."""
_KEPT_OPEN = []
"""Descriptors of the libraries loaded through /proc/self/fd/N: kept open for the life of the
process, so N is never reused for another file while the loader knows a library by that name."""


class UnloadableLibraryError(OSError):
    """A library that was just built could not be loaded (another machine's code, a folder
    mounted noexec)."""


class _Untrusted(Exception):
    """A cache folder or entry that is not checked as the module's docstring says (the reason)."""


@dataclass(frozen=True)
class LoadedLibrary:
    library: ctypes.CDLL
    sha256: str
    """Of the library's bytes, as loaded."""
    origin: str
    """"cache", "built" (and cached), or "built, not cached: <why>"."""


def load_built(build: Callable[[Path], None], why_not_cached: str = "") -> LoadedLibrary:
    """`build(path)` writes a library at `path` in a private temporary folder, which is loaded
    (checked as a cached one would be) and deleted."""
    folder = Path(tempfile.mkdtemp(prefix="edge-mnist-c-"))  # 0700, a new random name
    try:
        library = folder / "engine.so"
        build(library)
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fd = _open_checked(dir_fd, library.name, MAX_LIBRARY_BYTES)
            return _load(fd, library, _sha256_fd(fd), "built" + (f", not cached: {why_not_cached}" if why_not_cached else ""))
        except _Untrusted as err:
            raise UnloadableLibraryError(f"the library just built is not loadable: {err}") from err
        finally:
            os.close(dir_fd)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class LibraryCache:
    """Built libraries under `folder` (default: <cache>/c-engines), checked at every load."""

    def __init__(self, folder=None):
        self.folder = Path(folder) if folder is not None else cache_dir() / FOLDER_NAME
        self._loaded = {}
        self._lock = threading.Lock()

    def load(self, key: str, build: Callable[[Path], None]) -> LoadedLibrary:
        """The library of `key`: from this process's memory, else from the cache once checked,
        else built (`build(path)` writes it), stored in the cache when the cache can be trusted,
        and loaded."""
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = self._load_or_build(key, build)
            return self._loaded[key]

    def _load_or_build(self, key: str, build) -> LoadedLibrary:
        try:
            dir_fd = self._open_folder()
        except _Untrusted as err:
            return load_built(build, f"{self.folder}: {err}")
        try:
            try:
                return self._cached(dir_fd, key, "cache")
            except (_Untrusted, OSError):  # missing, damaged or foreign: built again, replaced
                pass
            with tempfile.TemporaryDirectory(prefix="edge-mnist-c-") as scratch:
                library = Path(scratch) / "engine.so"
                build(library)
                try:
                    self._store(dir_fd, key, library)
                    return self._cached(dir_fd, key, "built")
                except (_Untrusted, OSError) as err:  # a full disk, a read-only home, a writer racing this one
                    reason = f"{self.folder}: {err}"
                return load_built(lambda path: shutil.copyfile(library, path), reason)
        finally:
            os.close(dir_fd)

    def _open_folder(self) -> int:
        """The cache folder (made 0700 if missing) as a descriptor, once checked."""
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(self.folder, 0o700)
            except FileExistsError:
                pass
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as err:
            raise _Untrusted(f"cannot use it ({err.strerror or err})") from err
        problem = _problem(os.fstat(fd), folder=True)
        if problem:
            os.close(fd)
            raise _Untrusted(problem)
        return fd

    def _cached(self, dir_fd: int, key: str, origin: str) -> LoadedLibrary:
        record = _open_checked(dir_fd, f"{key}.sha256", 256)
        try:
            expected = os.read(record, 256).decode("ascii", "replace").strip()
        finally:
            os.close(record)
        fd = _open_checked(dir_fd, f"{key}.so", MAX_LIBRARY_BYTES)
        actual = _sha256_fd(fd)
        if actual != expected:
            os.close(fd)
            raise _Untrusted(f"{key}.so's sha256 is not the one recorded")
        try:
            now = time.time_ns()  # recently used: pruned last (the fine clock: the file system's own time is
            os.utime(fd, ns=(now, now))  # coarse, and an entry used just after another was built could tie it)
        except OSError:
            pass
        try:
            return _load(fd, self.folder / f"{key}.so", actual, origin)
        except UnloadableLibraryError as err:
            raise _Untrusted(str(err)) from err

    @staticmethod
    def _store(dir_fd: int, key: str, library: Path) -> None:
        """KEY.so, then KEY.sha256, each written under a temporary name in the folder and renamed
        into place (through the folder's descriptor: nothing is written elsewhere); then the
        least recently used libraries beyond MAX_ENTRIES are removed."""
        _prune(dir_fd, MAX_ENTRIES - 1)
        data = library.read_bytes()
        for name, content in ((f"{key}.so", data), (f"{key}.sha256", hashlib.sha256(data).hexdigest().encode())):
            tmp = f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError:
                try:
                    os.unlink(tmp, dir_fd=dir_fd)
                except OSError:
                    pass
                raise


def _prune(dir_fd: int, keep: int) -> None:
    """Removes the libraries (and their records) used least recently, beyond `keep`."""
    used = []
    for name in os.listdir(dir_fd):
        if name.endswith(".so") and not name.startswith("."):
            try:
                used.append((os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mtime_ns, name[:-3]))
            except OSError:
                continue
    for _, key in sorted(used, reverse=True)[keep:]:
        for name in (f"{key}.so", f"{key}.sha256"):
            try:
                os.unlink(name, dir_fd=dir_fd)
            except OSError:
                pass


def _problem(info: os.stat_result, folder: bool = False) -> str:
    """Why a cache folder or file cannot be trusted (runtime.store.user_cache's rule; a library
    also has one link, or its bytes could change through another name), or ''."""
    problem = untrusted_reason(info, folder=folder)
    if not problem and not folder and info.st_nlink != 1:
        problem = f"has {info.st_nlink} links"
    return problem


def _open_checked(dir_fd: int, name: str, max_bytes: int) -> int:
    """`name` in the folder, opened without following a symbolic link or blocking on a FIFO,
    once its owner, mode, links and size are checked; _Untrusted says why not."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as err:
        raise _Untrusted(f"{name}: {err.strerror or err}") from err
    info = os.fstat(fd)
    problem = _problem(info) or (f"{info.st_size:,} bytes" if info.st_size > max_bytes else "")
    if problem:
        os.close(fd)
        raise _Untrusted(f"{name}: {problem}")
    return fd


def _sha256_fd(fd: int) -> str:
    digest, offset = hashlib.sha256(), 0
    while True:
        block = os.pread(fd, 1 << 20, offset)
        if not block:
            return digest.hexdigest()
        digest.update(block)
        offset += len(block)


def _load(fd: int, path: Path, sha256: str, origin: str) -> LoadedLibrary:
    """The library open on `fd` loaded from a sealed in-memory copy of its checked bytes
    (_sealed_copy), else through /proc/self/fd/N, else through its path where there is no
    /proc; `fd` is kept open or closed here. A mapping of the file itself would end the process
    with SIGBUS (at the latest when the loader runs the library's destructors at exit) once the
    file is rewritten in place, as a damaged or planted cache entry is."""
    copy, copied_sha256 = _sealed_copy(fd)
    if copy is not None and copied_sha256 == sha256:
        try:
            library = ctypes.CDLL(f"/proc/self/fd/{copy}")
        except OSError:  # a kernel that refuses to map a memfd executable: the file itself, as below
            os.close(copy)
        else:
            _KEPT_OPEN.append(copy)
            os.close(fd)
            return LoadedLibrary(library, sha256, origin)
    elif copy is not None:  # changed while it was copied: not what was checked
        os.close(copy)
        os.close(fd)
        raise UnloadableLibraryError(f"{path.name} changed while it was read")
    through = f"/proc/self/fd/{fd}"
    by_descriptor = os.path.exists(through)
    try:
        library = ctypes.CDLL(through if by_descriptor else str(path))
    except OSError as err:
        os.close(fd)
        raise UnloadableLibraryError(str(err)) from err
    if by_descriptor:
        _KEPT_OPEN.append(fd)
    else:
        os.close(fd)
    return LoadedLibrary(library, sha256, origin)


def _sealed_copy(fd: int) -> tuple:
    """(a sealed memfd holding the bytes of `fd`, their sha256), or (None, "") where there is
    no memfd (not Linux) or no room for it (runtime.store.files.sealed_memory_file)."""
    digest = hashlib.sha256()

    def blocks():
        offset = 0
        while block := os.pread(fd, 1 << 20, offset):
            digest.update(block)
            offset += len(block)
            yield block

    copy = sealed_memory_file("edge-mnist-c-engine", blocks())
    return (None, "") if copy is None else (copy, digest.hexdigest())


_CACHES = {}


def default_cache() -> LibraryCache:
    """The cache for the current cache folder (it follows EDGE_MNIST_CACHE / XDG_CACHE_HOME)."""
    folder = cache_dir() / FOLDER_NAME
    if folder not in _CACHES:
        _CACHES[folder] = LibraryCache(folder)
    return _CACHES[folder]
