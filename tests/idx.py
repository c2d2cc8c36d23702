"""Writes MNIST's IDX format, so tests can build small IDX folders from real images."""

import gzip
import struct
from pathlib import Path

import numpy as np

IDX_UINT8 = 0x08


def write_idx(path: Path, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, IDX_UINT8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def write_idx_folder(folder: Path, x_train, y_train, x_test, y_test, gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", x_train)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", y_train)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", x_test)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", y_test)
    return folder
