"""Throwaway virtual environments for the `venvs` tests (tests/test_wheel.py,
tests/test_device_envs.py): each is removed when its test or module ends, passed or failed,
so that one failed run does not leave hundreds of MB of venvs in the temp folder.
EDGE_MNIST_KEEP_VENVS=1 keeps them, to debug inside one."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

KEEP_VENVS = "EDGE_MNIST_KEEP_VENVS"


def keep_venvs() -> bool:
    """Whether the environment asks to keep the venvs (EDGE_MNIST_KEEP_VENVS=1)."""
    return os.environ.get(KEEP_VENVS, "") == "1"


def remove_unless_kept(*folders: Path) -> None:
    """Removes each folder that exists, unless EDGE_MNIST_KEEP_VENVS=1."""
    if keep_venvs():
        return
    for folder in map(Path, folders):
        if folder.exists():
            shutil.rmtree(folder)


@contextlib.contextmanager
def removed_afterwards(folder: Path) -> Iterator[Path]:
    """`folder`, removed when the block ends however it ends (unless EDGE_MNIST_KEEP_VENVS=1)."""
    try:
        yield Path(folder)
    finally:
        remove_unless_kept(folder)


@pytest.fixture
def venvs_folder(tmp_path) -> Iterator[Path]:
    """Where a test makes its venvs: removed when the test ends, passed or failed, unless
    EDGE_MNIST_KEEP_VENVS=1."""
    with removed_afterwards(tmp_path / "venvs") as folder:
        yield folder
