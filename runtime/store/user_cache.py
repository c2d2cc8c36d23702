"""The per-user cache folder every cached thing of the toolkit lives under (downloads, the
files that passed the probe, the built C engines): $EDGE_MNIST_CACHE, else
${XDG_CACHE_HOME:-~/.cache}/edge-mnist; and the one rule by which a cached folder or file is
trusted (untrusted_reason)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

CACHE_ENV = "EDGE_MNIST_CACHE"


def cache_dir() -> Path:
    """The per-user cache folder (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-mnist"


def untrusted_reason(info: os.stat_result, folder: bool = False, private: bool = False) -> str:
    """Why a cache folder or file, as os.lstat or os.fstat describes it (itself, never what a
    link points to), cannot be trusted: not a folder or not a regular file, not the user's own,
    writable by others (or, when `private`, readable by them); '' when it can."""
    if not (stat.S_ISDIR if folder else stat.S_ISREG)(info.st_mode):
        return "not a folder" if folder else "not a regular file"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"owned by user {info.st_uid}, not by this user ({os.getuid()})"
    if info.st_mode & (0o077 if private else 0o022):
        return f"{'accessible' if private else 'writable'} by others (mode {stat.filemode(info.st_mode)})"
    return ""
