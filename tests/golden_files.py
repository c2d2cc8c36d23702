"""Model files with their golden set changed, as a careless or hostile hand would change it: the
set's bytes replaced with or without its sha256, or removed, the model's own bytes untouched
(tests/test_golden_set.py, tests/test_pi_emulation.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from runtime.store.embedded import GOLDEN_FILE, GOLDEN_KEY, GOLDEN_SUM_FILE, GOLDEN_SUM_KEY, read_golden
from runtime.store.golden import GoldenSet

KEEP = object()
"""rewrite_golden's `sha256`: leave the recorded sha256 as it is."""


def golden_of(path) -> GoldenSet:
    return GoldenSet.from_bytes(read_golden(path).data)


def rewrite_golden(path, data: Optional[bytes], sha256=None) -> None:
    """Replaces the golden set of the file at `path` with `data` (None: removes it), its
    recorded sha256 with `sha256` (None: the sha256 of `data`; KEEP: the one there was)."""
    path = Path(path)
    recorded = read_golden(path).recorded_sha256 if sha256 is KEEP else sha256
    if data is not None and recorded is None:
        recorded = hashlib.sha256(data).hexdigest()
    if path.suffix == ".tflite":
        whole = path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(whole)) as archive:
            start = min(info.header_offset for info in archive.infolist())
            files = {name: archive.read(name) for name in archive.namelist() if name not in (GOLDEN_FILE, GOLDEN_SUM_FILE)}
        if data is not None:
            files[GOLDEN_FILE] = data
            files[GOLDEN_SUM_FILE] = f"{recorded}  {GOLDEN_FILE}\n".encode()
        out = io.BytesIO(whole[:start])
        out.seek(0, io.SEEK_END)
        with zipfile.ZipFile(out, "a") as archive:
            for name, content in files.items():
                archive.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
        path.write_bytes(out.getvalue())
        return
    import onnx

    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key not in (GOLDEN_KEY, GOLDEN_SUM_KEY)]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    if data is not None:
        model.metadata_props.add(key=GOLDEN_KEY, value=base64.b64encode(data).decode())
        model.metadata_props.add(key=GOLDEN_SUM_KEY, value=recorded)
    onnx.save(model, str(path))


def ordinary_pair(golden: GoldenSet) -> tuple:
    """Two images the set holds as ordinary: different classes, each as sure as its class's median."""
    first, second = [i for i, reason in enumerate(golden.reasons) if reason == "ordinary"][:2]
    return first, second


def swapped_rows(golden: GoldenSet, rows: tuple, *names: str) -> GoldenSet:
    """The set with `rows` (two indices) of the named arrays ("inputs", "keras", "outputs") swapped."""
    changes = {}
    for name in names:
        array = np.array(getattr(golden, name))
        array[list(rows)] = array[list(rows)[::-1]]
        changes[name] = array
    return replace(golden, **changes)
