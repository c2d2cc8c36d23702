"""Files handled so that nothing is lost and nothing blocks: every file is written under a
temporary name and renamed into place when complete; writers of a models folder hold its
lock, and readers share a manifest lock with the moment a writer commits; files are
identified by their sha256; and a path is opened for reading only when it is a regular file
(not a FIFO or a device)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from ..errors import ManifestError
from .layout import LOCK_NAME, MANIFEST_LOCK_NAME


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class NotRegularFileError(OSError):
    """A path names a FIFO, a device, a socket or a folder: opening it could block forever or
    read without end, so it is refused before it is opened."""


def special_kind(path) -> Optional[str]:
    """What a path that exists is when it is not a regular file (after symbolic links):
    "a folder", "a FIFO (named pipe)", "a character device", "a block device", "a socket";
    None for a regular file or a path that does not exist."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing, unreadable, or a NUL byte in the name
        return None
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")


def open_regular(path) -> BinaryIO:
    """`path` opened for reading in binary, only if it is a regular file: anything else raises
    NotRegularFileError before it is opened (a FIFO would block open() until a writer came),
    and the file is checked again once open (non-blocking), in case it was swapped meanwhile."""
    kind = special_kind(path)
    if kind is not None:
        raise NotRegularFileError(f"{path}: is {kind}, not a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotRegularFileError(f"{path}: is not a regular file")
    return os.fdopen(fd, "rb")


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yields a temporary path beside `path` (same suffix) and renames it onto `path` only
    when the block finishes; on any error, or if the process dies, `path` is untouched."""
    import tempfile  # only writers need it; the device's load path stays lean

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the final file gets normal permissions
    try:
        yield tmp
        if not tmp.exists():  # the block consumed it (a scratch file, or renamed by commit_file)
            return
        commit_file(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def commit_file(tmp, path) -> None:
    """Flushes `tmp` to disk and renames it onto `path` (what atomic_path does at the end of
    its block; call it inside the block to rename at a moment of your choosing)."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


TEMP_GLOB = ".*.tmp.*"
"""What atomic_path's temporary files look like; a killed writer can leave one behind."""
@contextlib.contextmanager
def folder_lock(folder, create: bool = True) -> Iterator[None]:
    """Holds an exclusive lock on a models folder, so that two writers (train, convert) never
    interleave; on entry, temporary files left by a killed writer are removed. Without
    `create`, a missing folder is a ManifestError (convert needs what train wrote)."""
    import fcntl

    folder = Path(folder)
    if not create and not folder.is_dir():
        raise ManifestError(f"{folder} not found: {missing_models_hint(folder)}")
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise ManifestError(f"{folder} is being written by another train or convert run; wait for it to finish") from err
        for stale in folder.glob(TEMP_GLOB):
            stale.unlink()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


READ_LOCK_TIMEOUT_S = 60
"""A reader waits this long for a writer's rename and manifest rewrite (a moment) to end."""
WRITE_LOCK_TIMEOUT_S = 600
"""A writer waits this long for readers (parity, predict) to finish with the files they checked."""


@contextlib.contextmanager
def manifest_lock(folder, shared: bool, timeout: Optional[float] = None) -> Iterator[None]:
    """Readers (`shared`) hold this lock on a models folder while they read its manifest and
    check and open the files it lists; a writer holds it exclusively only while it renames a
    verified file into place and rewrites the manifest. So a reader never sees a file from
    one run and its manifest entry from another, and neither waits for long. A folder in
    which the lock file cannot be made (read-only, or missing) is read without it: no writer
    can change it either. Waits up to `timeout` seconds (READ_ or WRITE_LOCK_TIMEOUT_S by
    default), then raises ManifestError."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): nothing to wait for
        yield
        return
    handle = _lock_file(Path(folder) / MANIFEST_LOCK_NAME, shared)
    if handle is None:
        yield
        return
    limit = timeout if timeout is not None else READ_LOCK_TIMEOUT_S if shared else WRITE_LOCK_TIMEOUT_S
    deadline = time.monotonic() + limit
    with handle:
        while True:
            try:
                fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError as err:
                if time.monotonic() > deadline:
                    who = "written by convert" if shared else "read by parity or predict"
                    raise ManifestError(f"{folder} is being {who} and stayed locked for {limit:g} s; try again") from err
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_file(path: Path, shared: bool):
    """The lock file opened (created if need be); None for a reader that can neither create nor open it."""
    try:
        return open(path, "a")
    except OSError:
        if not shared:
            raise
    try:
        return open(path, "r")
    except OSError:
        return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def missing_models_hint(models_dir) -> str:
    """What to run to make a models folder, naming it when it is not the default."""
    option = "" if Path(models_dir) == Path("models") else f" --models {models_dir}"
    return (f"run `python -m train{option}` (then `python -m convert all{option}`) first, or "
            f"`python -m convert all --keras MODEL.keras --data DATA{option}` for your own model")


def sealed_memory_file(name: str, blocks) -> Optional[int]:
    """A descriptor of an in-memory file (Linux's memfd) holding `blocks` (bytes) one after another,
    sealed so that nothing can write, grow or shrink it: a mapping of it stays what was read.
    None where there is no memfd (not Linux), no room, or no seals: the caller uses the file itself."""
    try:
        import fcntl  # with memfd_create: Linux

        fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    except (ImportError, AttributeError, OSError):
        return None
    try:
        for block in blocks:
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
    except OSError:
        os.close(fd)
        return None
    return fd
