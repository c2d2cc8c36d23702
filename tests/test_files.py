"""Atomic writes: a failed or interrupted write leaves the previous file as it was."""

import os

import pytest

from runtime.store.files import atomic_path, write_bytes_atomic


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.tflite"
    target.write_bytes(b"good model")
    with pytest.raises(RuntimeError, match="converter crashed"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a mod")
            raise RuntimeError("converter crashed")
    assert target.read_bytes() == b"good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


def test_successful_write_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "sub" / "model.onnx"
    write_bytes_atomic(target, b"first")
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".onnx" and tmp != target
        tmp.write_bytes(b"second")
        assert target.read_bytes() == b"first"
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]


def test_written_files_get_normal_permissions(tmp_path):
    """Temporary files are private (0600); the renamed artifact must not stay that way."""
    umask = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "model.tflite", b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "model.tflite").stat().st_mode & 0o777 == 0o644
