"""Arrays read from .npz files (numpy's zip of .npy members) with every array's size known and
checked before it is allocated: a member's .npy header says its dtype and shape, and that is
held to what the zip says the member holds and to a byte limit, so a 300-byte file declaring a
100 GB array is one line, not a MemoryError. Object arrays (pickles) are never read. A large
array can be read a slice of rows at a time (`rows`), keeping only the rows asked for: a zip of
1.5 million zero images costs the memory of the images used, not of all of them."""

from __future__ import annotations

import contextlib
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import ToolkitError, one_line
from .files import open_regular

CHUNK_BYTES = 16 << 20
"""A large array is read this many bytes of rows at a time."""


class ArrayFileError(ToolkitError, ValueError):
    """An .npz file, or an array in it, that cannot be read: not an .npz, damaged, a pickle,
    or larger than the limit it is read with."""


@dataclass(frozen=True)
class ArrayInfo:
    """What an .npy member's header declares."""

    name: str
    shape: tuple
    dtype: np.dtype
    fortran_order: bool
    header_bytes: int
    """The .npy header's length: the data follows it."""

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class NpzFile:
    """An .npz file opened for reading: `files` (its arrays' names), `info(name)` (a header,
    nothing allocated), `read(name, max_bytes)`, `rows(name, indices, max_bytes)`."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self._handle = open_regular(self.path)
        except OSError as err:
            raise ArrayFileError(f"{self.path}: cannot be read ({one_line(err)})") from err
        try:
            self._zip = zipfile.ZipFile(self._handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
            self._handle.close()
            raise ArrayFileError(f"{self.path}: not an .npz file (numpy's zip of arrays, written by np.savez)") from err
        self._members = {info.filename[:-4]: info for info in self._zip.infolist() if info.filename.endswith(".npy")}
        self.files = list(self._members)

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def __enter__(self) -> "NpzFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()
        self._handle.close()

    def info(self, name: str) -> ArrayInfo:
        """The member's header, checked: a known dtype that holds no objects, and exactly as many
        bytes after the header as its shape needs (as the zip declares the member's size)."""
        member = self._members[name]
        try:
            with self._zip.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
                else:
                    raise ValueError(f"unknown .npy format version {version}")
                header = stream.tell()
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise ArrayFileError(f"{self.path}: array {name!r} is not readable ({one_line(err)})") from err
        if dtype.hasobject:
            raise ArrayFileError(f"{self.path}: array {name!r} holds Python objects (a pickle), which are never loaded; "
                                 "save plain numeric arrays")
        info = ArrayInfo(name, tuple(int(d) for d in shape), dtype, bool(fortran), header)
        if header + info.nbytes != member.file_size:
            raise ArrayFileError(f"{self.path}: array {name!r} declares shape {info.shape} of {dtype} "
                                 f"({info.nbytes:,} bytes), but its member holds {member.file_size - header:,}: "
                                 "a damaged or forged file")
        return info

    def read(self, name: str, max_bytes: int) -> np.ndarray:
        """The whole array, once its declared size is known to be at most `max_bytes`."""
        info = self.info(name)
        if info.nbytes > max_bytes:
            raise ArrayFileError(f"{self.path}: array {name!r} is {info.shape} of {info.dtype}, {info.nbytes:,} bytes: "
                                 f"more than the {max_bytes:,} allowed")
        out = np.empty(info.shape, info.dtype, order="F" if info.fortran_order else "C")
        flat = out.reshape(-1, order="A").view(np.uint8)
        with self._data(info) as stream:
            for start in range(0, info.nbytes, CHUNK_BYTES):
                data = stream.read(min(CHUNK_BYTES, info.nbytes - start))
                flat[start:start + len(data)] = np.frombuffer(data, np.uint8)
                if len(data) < min(CHUNK_BYTES, info.nbytes - start):
                    raise self._damaged(info, "its data ends early")
        return out

    def rows(self, name: str, indices, max_bytes: int) -> np.ndarray:
        """Rows `indices` of the array (its first axis), in that order: the array is read a
        slice of rows at a time and only those rows are kept, at most `max_bytes` of them."""
        info = self.info(name)
        indices = np.asarray(indices, np.int64)
        if info.fortran_order or len(info.shape) < 1:
            return self.read(name, max_bytes)[indices]
        rows, row_shape = info.shape[0], info.shape[1:]
        row_bytes = math.prod(row_shape) * info.dtype.itemsize
        if len(indices) * row_bytes > max_bytes:
            raise ArrayFileError(f"{self.path}: the {len(indices):,} images used of {name!r} would take "
                                 f"{len(indices) * row_bytes:,} bytes, more than the {max_bytes:,} allowed")
        if len(indices) and (indices.min() < 0 or indices.max() >= rows):
            raise IndexError(f"{name}: rows must be in 0..{rows - 1}")
        order = np.argsort(indices, kind="stable")
        wanted = indices[order]
        kept = np.empty((len(indices),) + row_shape, info.dtype)
        step = max(1, CHUNK_BYTES // max(1, row_bytes))
        with self._data(info) as stream:
            for start in range(0, rows, step):
                count = min(step, rows - start)
                data = stream.read(count * row_bytes)
                if len(data) < count * row_bytes:
                    raise self._damaged(info, "its data ends early")
                low, high = np.searchsorted(wanted, [start, start + count])
                if high > low:
                    chunk = np.frombuffer(data, info.dtype).reshape((count,) + row_shape)
                    kept[order[low:high]] = chunk[wanted[low:high] - start]
        return kept

    @contextlib.contextmanager
    def _data(self, info: ArrayInfo) -> Iterator:
        """The member's stream past its header; a read error is ArrayFileError."""
        try:
            with self._zip.open(self._members[info.name]) as stream:
                stream.read(info.header_bytes)
                yield stream
        except ArrayFileError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise self._damaged(info, one_line(err)) from err

    def _damaged(self, info: ArrayInfo, why: str) -> ArrayFileError:
        return ArrayFileError(f"{self.path}: array {info.name!r} is damaged ({why})")
