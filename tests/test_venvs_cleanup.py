"""The venvs tests' cleanup (tests/venvs.py), checked without building a venv: a folder is
removed when its block ends, also by an exception, and kept when EDGE_MNIST_KEEP_VENVS=1."""

import pytest

from venvs import KEEP_VENVS, remove_unless_kept, removed_afterwards


def _filled(folder):
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_bytes(b"\0" * 1000)
    return folder


def test_a_failed_block_still_removes_its_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(KEEP_VENVS, raising=False)
    with pytest.raises(AssertionError):
        with removed_afterwards(_filled(tmp_path / "venv")):
            raise AssertionError("a venvs test failed")
    assert not (tmp_path / "venv").exists()
    with removed_afterwards(_filled(tmp_path / "venv")):
        pass
    assert not (tmp_path / "venv").exists()


def test_keep_venvs_keeps_them(tmp_path, monkeypatch):
    monkeypatch.setenv(KEEP_VENVS, "1")
    with pytest.raises(AssertionError):
        with removed_afterwards(_filled(tmp_path / "venv")):
            raise AssertionError("a venvs test failed")
    assert (tmp_path / "venv" / "bin" / "python").is_file()


def test_folders_never_made_are_no_error(tmp_path, monkeypatch):
    monkeypatch.delenv(KEEP_VENVS, raising=False)
    remove_unless_kept(tmp_path / "never-made", _filled(tmp_path / "made"))
    assert list(tmp_path.iterdir()) == []
