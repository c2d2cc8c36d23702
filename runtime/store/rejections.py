"""Why a model file named in a models folder is not there: conversion rejected it (the
manifest's "rejected" list, {"path", "precision", "reason"} per file), the manifest lists it
but the file was removed, or the manifest never listed it. Read tolerantly: a manifest
without the list, or with malformed entries, simply has no rejections."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .layout import MANIFEST_NAME

REJECTED_KEY = "rejected"


@dataclass(frozen=True)
class Rejection:
    """One file conversion refused to write, as its manifest records it."""

    path: str
    precision: str
    reason: str


def rejections(models_dir) -> list:
    """Every well-formed entry of the manifest's "rejected" list; [] when the manifest or the
    list is absent or unreadable (this only explains a missing file, it never fails)."""
    try:
        data = json.loads((Path(models_dir) / MANIFEST_NAME).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    entries = data.get(REJECTED_KEY) if isinstance(data, dict) else None
    found = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            found.append(Rejection(entry["path"], str(entry.get("precision") or "?"), str(entry.get("reason") or "no reason recorded")))
    return found


def missing_file_reason(path) -> Optional[str]:
    """Why `path` does not exist, from the manifest beside it; None when there is no manifest
    there to ask."""
    path = Path(path)
    manifest = path.parent / MANIFEST_NAME
    if not manifest.is_file():
        return None
    for rejection in reversed(rejections(path.parent)):  # the latest run's entry last
        if rejection.path in (path.name, str(path)):
            return (f"conversion rejected it ({rejection.precision}), so it was not written: {rejection.reason} "
                    f"(recorded in {manifest})")
    try:
        listed = any(isinstance(a, dict) and a.get("path") == path.name
                     for a in json.loads(manifest.read_text()).get("artifacts", []))
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        listed = False
    if listed:
        return f"{manifest} lists it, but the file is gone (removed after conversion?); convert it again"
    return f"not listed in {manifest} (it was not written or was removed)"


def fallback_note(models_dir, chosen) -> Optional[str]:
    """When `predict` without --model runs `chosen` because conversion rejected the int8
    TFLite file it prefers: says so, with the reason; else None."""
    preferred = [r for r in rejections(models_dir) if r.path.endswith("_int8.tflite")]
    if not preferred or Path(chosen).name == preferred[-1].path:
        return None
    return f"note: conversion rejected {preferred[-1].path} ({preferred[-1].reason}); using {Path(chosen).name}"
