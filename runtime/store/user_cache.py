"""The per-user cache folder every cached thing of the toolkit lives under (downloads, the
files that passed the probe): $EDGE_MNIST_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/edge-mnist."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "EDGE_MNIST_CACHE"


def cache_dir() -> Path:
    """The per-user cache folder (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-mnist"
