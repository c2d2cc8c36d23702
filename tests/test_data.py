"""Data loading: the mnist-5k subset, the user's .npz and IDX folders, and clear errors."""

import json

import numpy as np
import pytest

from train.data import DataError, load_mnist_5k, load_path, read_idx

from conftest import run_cli
from idx import write_idx, write_idx_folder


@pytest.fixture(scope="module")
def mnist_5k():
    return load_mnist_5k()


def test_mnist_5k_split_is_stratified_and_fixed(mnist_5k):
    assert mnist_5k.x_train.shape == (4000, 28, 28) and mnist_5k.x_test.shape == (1000, 28, 28)
    assert mnist_5k.x_train.dtype == np.uint8 and mnist_5k.x_train.max() == 255
    assert np.bincount(mnist_5k.y_test).tolist() == [100] * 10
    assert np.bincount(mnist_5k.y_train).tolist() == [400] * 10
    again = load_mnist_5k()
    assert np.array_equal(again.x_test, mnist_5k.x_test) and np.array_equal(again.y_train, mnist_5k.y_train)


def test_mnist_polarity_is_light_ink_on_dark(mnist_5k):
    """MNIST stores the background as 0: the border pixels of every image are dark."""
    border = np.concatenate([mnist_5k.x_test[:, 0, :], mnist_5k.x_test[:, -1, :]], axis=1)
    assert border.mean() < 5 and mnist_5k.x_test.mean() > 20


def test_npz_and_idx_folders_load_the_same_arrays(mnist_5k, tmp_path):
    arrays = (mnist_5k.x_train[:300], mnist_5k.y_train[:300], mnist_5k.x_test[:100], mnist_5k.y_test[:100])
    np.savez(tmp_path / "data.npz", x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
    for gz in (True, False):
        folder = write_idx_folder(tmp_path / f"idx-{gz}", *arrays, gz=gz)
        for loaded in (load_path(folder), load_path(tmp_path / "data.npz")):
            assert np.array_equal(loaded.x_train, arrays[0]) and np.array_equal(loaded.y_test, arrays[3])
            assert loaded.y_train.dtype == np.int64


def _npz(tmp_path, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), "y_train": rng.integers(0, 10, 20),
        "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), "y_test": rng.integers(0, 10, 10),
    }
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(tmp_path / "bad.npz", **arrays)
    return tmp_path / "bad.npz"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"x_train": np.zeros((20, 32, 32), np.uint8)}, r"train split: images have shape \(20, 32, 32\), expected \(N, 28, 28\)"),
        ({"x_test": np.zeros((10, 28, 28), np.float32)}, r"test split: images have dtype float32, expected uint8"),
        ({"y_train": np.full(20, 10)}, r"train split: labels span 10..10, expected 0..9"),
        ({"y_test": np.arange(9)}, r"test split: 10 images but 9 labels"),
        ({"y_test": None}, r"missing arrays y_test"),
    ],
)
def test_bad_npz_is_refused(tmp_path, overrides, message):
    with pytest.raises(DataError, match=message):
        load_path(_npz(tmp_path, **overrides))


def test_corrupt_files_are_refused(tmp_path, mnist_5k):
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match=r"junk\.npz: not an \.npz file \(numpy.s zip of arrays"):
        load_path(tmp_path / "junk.npz")
    write_idx(tmp_path / "images", mnist_5k.x_test[:10])
    truncated = (tmp_path / "images").read_bytes()[:-100]
    (tmp_path / "images").write_bytes(truncated)
    with pytest.raises(DataError, match=r"IDX header says shape \(10, 28, 28\) \(7840 bytes of data\), file has 7740"):
        read_idx(tmp_path / "images")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "text")


def test_idx_folder_with_a_missing_file(tmp_path, mnist_5k):
    folder = write_idx_folder(tmp_path / "idx", mnist_5k.x_train[:10], mnist_5k.y_train[:10], mnist_5k.x_test[:5], mnist_5k.y_test[:5])
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing t10k-labels-idx1-ubyte\[.gz\]"):
        load_path(folder)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["idx", "npz"])
def test_train_cli_on_user_data(tmp_path, mnist_5k, kind):
    arrays = (mnist_5k.x_train[:1000], mnist_5k.y_train[:1000], mnist_5k.x_test[:200], mnist_5k.y_test[:200])
    if kind == "idx":
        data = write_idx_folder(tmp_path / "fashion", *arrays)
    else:
        data = tmp_path / "data.npz"
        np.savez(data, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
    result = run_cli("train", "--data", data, "--epochs", "1", "--models", tmp_path / "models")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Data: {data}: 1000 train / 200 test images" in result.stdout
    manifest = json.loads((tmp_path / "models" / "manifest.json").read_text())
    assert manifest["dataset"] == {"name": str(data), "train": 1000, "test": 200}


@pytest.mark.parametrize(
    "make_data, message",
    [
        (lambda p: p / "nowhere", "no such file or folder"),
        (lambda p: _npz(p, y_train=np.full(20, -1)), "labels span -1..-1, expected 0..9"),
        (lambda p: (p / "x.npz").write_bytes(b"\x00" * 64) and p / "x.npz", "x.npz: not an .npz file"),
    ],
)
def test_train_cli_bad_data_is_a_one_line_error(tmp_path, make_data, message):
    result = run_cli("train", "--data", make_data(tmp_path), "--models", tmp_path / "models")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "models").exists()
