"""The cache of built C engines (runtime/backends/c_cache.py): loading a shared library runs its
code, so a cached one is loaded only when it can be checked again, and whatever else is found
there (a damaged file, a planted library, a symbolic link, a file of another user's or that
others can write, a FIFO, a folder that is not private) costs a build, never a crash, and is
never run. A planted library here is a real one whose constructor writes a marker file: the
marker must never appear."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from runtime.backends import c_cache
from runtime.backends.c_cache import LibraryCache
from runtime.backends.c_engine import DEVICE_FLAGS, EngineLibrary

ENGINE = "micro/mnist_mlp_int8.c"
HEADER = "micro/mnist_mlp_int8.h"


@pytest.fixture(scope="module")
def engine(micro_models, reference):
    """The seed MLP's engine (source, header), int8 inputs, and its outputs built outside any cache."""
    models, _ = micro_models
    source, header = (models / ENGINE).read_text(), (models / HEADER).read_text()
    library = EngineLibrary(source, header, flags=DEVICE_FLAGS)
    x = ((reference.images[:50] ^ np.uint8(128)).view(np.int8)).reshape(50, -1)  # pixel / 255 at zero point -128
    return {"source": source, "header": header, "x": x, "expected": library.run(x)}


def load(engine, folder, flags=DEVICE_FLAGS) -> EngineLibrary:
    """The engine through a fresh cache object on `folder` (nothing remembered in this process),
    its outputs checked."""
    library = EngineLibrary(engine["source"], engine["header"], flags=flags, cache=LibraryCache(folder))
    assert np.array_equal(library.run(engine["x"]), engine["expected"])
    return library


@pytest.fixture
def planted(tmp_path):
    """A shared library that, loaded, writes tmp_path/RAN: (its path, the marker's path)."""
    marker = tmp_path / "RAN"
    (tmp_path / "planted.c").write_text('#include <stdio.h>\n__attribute__((constructor)) static void planted(void) '
                                        f'{{ FILE *f = fopen("{marker}", "w"); if (f) fclose(f); }}\n')
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", "planted.so", "planted.c"], cwd=tmp_path, check=True)
    return tmp_path / "planted.so", marker


def entry(folder):
    """(KEY.so, KEY.sha256) of the one entry in `folder`."""
    libraries = list(folder.glob("*.so"))
    assert len(libraries) == 1, libraries
    return libraries[0], libraries[0].with_suffix(".sha256")


def sha256(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_built_once_then_loaded_from_the_private_folder(engine, tmp_path):
    folder = tmp_path / "c-engines"
    assert load(engine, folder).origin == "built"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    library, record = entry(folder)
    assert record.read_text() == sha256(library) and library.stat().st_mode & 0o077 == 0
    assert load(engine, folder).origin == "cache"
    assert load(engine, folder, flags=DEVICE_FLAGS + ("-O3",)).origin == "built"  # other flags, another key


@pytest.mark.parametrize("damage", ["truncated", "planted", "planted-symlink", "planted-writable", "planted-hard-link",
                                    "record-missing", "fifo", "folder-as-library"])
def test_a_damaged_or_planted_entry_is_built_again_and_never_run(engine, planted, tmp_path, damage):
    folder = tmp_path / "c-engines"
    load(engine, folder)
    library, record = entry(folder)
    hostile, marker = planted
    if damage == "truncated":
        library.write_bytes(library.read_bytes()[:4096])
    elif damage == "planted":  # another library under the key, the record left as it was
        library.write_bytes(hostile.read_bytes())
    elif damage == "planted-symlink":  # the record matches the library the link points to
        library.unlink()
        library.symlink_to(hostile)
        record.write_text(sha256(hostile))
    elif damage == "planted-writable":
        library.write_bytes(hostile.read_bytes())
        record.write_text(sha256(hostile))
        library.chmod(0o666)
    elif damage == "planted-hard-link":
        library.unlink()
        os.link(hostile, library)
        record.write_text(sha256(hostile))
    elif damage == "record-missing":
        record.unlink()
    elif damage == "fifo":
        library.unlink()
        os.mkfifo(library)
    elif damage == "folder-as-library":
        library.unlink()
        library.mkdir()
    again = load(engine, folder)
    assert again.origin == "built" or again.origin.startswith("built, not cached"), again.origin
    assert not marker.exists(), "a planted library was loaded"
    if damage != "folder-as-library":
        assert library.is_file() and not library.is_symlink() and record.read_text() == sha256(library)
        assert load(engine, folder).origin == "cache"


def test_a_library_of_another_user_is_never_run(engine, planted, tmp_path):
    if os.getuid() != 0:
        pytest.skip("only root can make a file of another user's here")
    folder = tmp_path / "c-engines"
    load(engine, folder)
    library, record = entry(folder)
    hostile, marker = planted
    library.write_bytes(hostile.read_bytes())
    record.write_text(sha256(hostile))
    os.chown(library, 65534, 65534)
    assert load(engine, folder).origin == "built" and not marker.exists()


@pytest.mark.parametrize("folder_kind", ["symlink", "writable-by-others", "a-file"])
def test_a_cache_folder_that_is_not_private_is_not_used(engine, planted, tmp_path, folder_kind):
    """The engine is built in a private temporary folder and runs; nothing is written to, or
    loaded from, the folder it was given."""
    folder, elsewhere = tmp_path / "c-engines", tmp_path / "elsewhere"
    load(engine, elsewhere)
    hostile, marker = planted
    library, record = entry(elsewhere)
    library.write_bytes(hostile.read_bytes())
    record.write_text(sha256(hostile))
    if folder_kind == "symlink":
        folder.symlink_to(elsewhere)
    elif folder_kind == "writable-by-others":
        elsewhere.chmod(0o777)
        folder = elsewhere
    else:
        folder.write_text("not a folder")
    before = sorted(p.name for p in elsewhere.iterdir())
    loaded = load(engine, folder)
    assert loaded.origin.startswith("built, not cached: "), loaded.origin
    assert not marker.exists() and sorted(p.name for p in elsewhere.iterdir()) == before


def test_the_least_recently_used_are_removed_beyond_the_limit(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(c_cache, "MAX_ENTRIES", 2)
    folder = tmp_path / "c-engines"
    first = load(engine, folder, DEVICE_FLAGS + ("-O1",))
    load(engine, folder, DEVICE_FLAGS + ("-O2",))
    assert load(engine, folder, DEVICE_FLAGS + ("-O1",)).origin == "cache"  # used last: kept
    load(engine, folder, DEVICE_FLAGS + ("-O3",))
    assert len(list(folder.glob("*.so"))) == len(list(folder.glob("*.sha256"))) == 2
    assert load(engine, folder, DEVICE_FLAGS + ("-O1",)).origin == "cache" and first.origin == "built"
    assert load(engine, folder, DEVICE_FLAGS + ("-O2",)).origin == "built"
