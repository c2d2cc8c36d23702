"""The one owner of a models folder: `ModelsFolder` opens it once (its manifest read when it is
opened, rejections included; the reference and calibration bundles when first asked for), and
answers every question about it: where a file is, which artifact a command runs by default,
why a file is missing, the arena a TFLite Micro model needs. It is also the only writer of the
folder: a fresh folder (`create`, for `train` and `convert --keras`), a verified file renamed
into place with its entry, a rejection recorded, what was made from a replaced file withdrawn.

Nothing else in the toolkit reads manifest.json or the bundles, or spells their names: it asks
a ModelsFolder (or, to explain a missing file, `missing_file_reason`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from ..contract import InputContract
from ..errors import ManifestError
from ..verdict import UNPROVEN
from .bundles import Reference, load_calibration, load_reference, save_bundles
from .files import atomic_path, commit_file, folder_lock, manifest_lock, sha256_file
from .layout import CALIBRATION_NAME, MANIFEST_NAME, REFERENCE_NAME, check_model_name, keras_name
from .manifest import (Artifact, FileRecord, Manifest, ParityRecord, read_manifest, read_manifest_data,
                       rejections_in, tool_versions, write_manifest)


@dataclass
class FolderContents:
    """What a fresh models folder starts from: the Keras model is written by the caller (it
    needs Keras), the rest by ModelsFolder.create."""

    name: str
    """The model's name: the stem of the .keras file and of every artifact."""
    contract: InputContract
    labels: list
    dataset: dict
    """{"name", "train", "test"} as the manifest records it."""
    reference: Reference
    """Held-out images, their labels (or None) and the Keras probabilities."""
    calibration_images: np.ndarray
    """Training images for int8 calibration, never reference images."""
    architecture: dict
    training: Optional[dict] = None
    accuracy: Optional[float] = None
    """The Keras model's accuracy on the reference images (None without labels)."""


class ModelsFolder:
    """One models folder, its manifest read once (`open`, `reading`, `writing`)."""

    def __init__(self, path, manifest: Manifest):
        self.path = Path(path)
        self.manifest = manifest
        self._reference: Optional[Reference] = None
        self._calibration: Optional[np.ndarray] = None

    @classmethod
    def open(cls, path) -> "ModelsFolder":
        """The folder with its manifest read; ManifestError when it has none, or a malformed one."""
        return cls(path, read_manifest(path))

    @classmethod
    @contextlib.contextmanager
    def reading(cls, path) -> Iterator["ModelsFolder"]:
        """The folder opened under its shared manifest lock, held for the block, so a `convert`
        writing the same folder never shows a reader a file and an entry that disagree."""
        with manifest_lock(path, shared=True):
            yield cls.open(path)

    @classmethod
    @contextlib.contextmanager
    def writing(cls, path) -> Iterator["ModelsFolder"]:
        """The folder opened under its writer's lock, held for the block (one writer at a time);
        ManifestError when the folder does not exist."""
        with folder_lock(path, create=False):
            yield cls.open(path)

    @staticmethod
    def holds_manifest(path) -> bool:
        """Whether the folder `path` has a manifest (that a file in it is, or was, listed in)."""
        return (Path(path) / MANIFEST_NAME).is_file()

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_NAME

    @property
    def reference_path(self) -> Path:
        return self.path / REFERENCE_NAME

    def file(self, name: str) -> Path:
        """Where the folder keeps the file `name` (an artifact's path as the manifest lists it)."""
        return self.path / name

    def entry(self, name: str) -> Optional[Artifact]:
        return self.manifest.find(name)

    def reference(self) -> Reference:
        """The reference bundle, read on first use."""
        if self._reference is None:
            self._reference = load_reference(self.path)
        return self._reference

    def calibration_images(self) -> np.ndarray:
        """The calibration bundle's images, read on first use."""
        if self._calibration is None:
            self._calibration = load_calibration(self.path)
        return self._calibration

    def unchanged(self, record) -> Path:
        """The path of a file the manifest vouches for (the Keras model, a bundle: an Artifact or
        a FileRecord); ManifestError when it is missing or its sha256 differs."""
        path = self.file(record.path)
        if not path.is_file():
            raise ManifestError(f"{path} not found: run `python -m train` first")
        if sha256_file(path) != record.sha256:
            raise ManifestError(f"{path} changed since training (sha256 differs from the manifest); re-run `python -m train`")
        return path

    def arena_bytes(self, name: str) -> Optional[int]:
        """The tensor arena `python -m convert micro` measured for the file `name`, if it did."""
        entry = self.entry(name)
        value = entry.micro.arena_bytes if entry is not None and entry.micro is not None else None
        return int(value) if isinstance(value, int) and value > 0 else None

    def default_model(self) -> Path:
        """The model a command runs without --model, verified files first: the int8 TFLite
        artifact when it is verified, else the first verified file the manifest lists, else the
        int8 TFLite artifact (unproven), else the first one listed. A C engine (format "c") is
        source code, not a model file the runtime runs."""
        runnable = [a for a in self.manifest.exported if a.format != "c"]
        if not runnable:
            raise ManifestError(f"{self.manifest_path} lists no exported model: run `python -m convert all` first")
        int8 = [a for a in runnable if a.format == "tflite" and a.precision == "int8"]
        verified = [a for a in runnable if a.status != UNPROVEN]  # None: a verdict from before there were outcomes
        ranked = [a for a in int8 if a in verified] + verified + int8 + runnable
        return self.file(ranked[0].path)

    def choice_note(self, chosen) -> Optional[str]:
        """Why the default model is `chosen` when it is not the int8 TFLite file the default
        prefers: conversion rejected that file (with the reason), or its verdict is unproven;
        else None."""
        name = Path(chosen).name
        rejected = [r for r in self.manifest.rejected if r.path.endswith("_int8.tflite")]
        if rejected and name != rejected[-1].path:
            return f"note: conversion rejected {rejected[-1].path} ({rejected[-1].reason}); using {name}"
        unproven = [a for a in self.manifest.exported if a.format == "tflite" and a.precision == "int8"
                    and a.status == UNPROVEN and a.path != name]
        if unproven:
            return (f"note: {unproven[0].path} is {unproven[0].verdict_summary or UNPROVEN}; using {name}, whose "
                    "verdict is verified")
        return None

    def save(self) -> None:
        """Writes the manifest as it is now (atomically)."""
        write_manifest(self.path, self.manifest)

    def reject(self, name: str, precision: str, reason: str) -> None:
        """Records that a conversion refused to write `name`, so `predict` on it can say why."""
        self.manifest.reject(name, precision, reason)
        self.save()

    def commit(self, artifact: Artifact, files: dict) -> None:
        """Renames each verified temporary file onto its name in the folder (`files`: temporary
        path -> name, the artifact's own among them) and lists `artifact`, under the exclusive
        manifest lock: a reader sees the new files only with their new entry."""
        with manifest_lock(self.path, shared=False):
            for tmp, name in files.items():
                commit_file(tmp, self.file(name))
            self.manifest.put(artifact)
            self.save()

    def withdraw(self, name: Optional[str], files) -> list:
        """Drops the artifact `name` from the manifest (None, or not listed: nothing to drop) and
        deletes `files` (names in the folder), under the exclusive manifest lock: what an earlier
        run made from a file this run replaced. Returns the names of the files that were there."""
        with manifest_lock(self.path, shared=False):
            removed = [f for f in files if self.file(f).is_file()]
            for f in removed:
                self.file(f).unlink()
            if name is not None and self.entry(name) is not None:
                self.manifest.artifacts = [a for a in self.manifest.artifacts if a.path != name]
                self.save()
        return removed

    @classmethod
    def create(cls, path, contents: FolderContents, write_keras: Callable[[Path], None], log=print) -> "ModelsFolder":
        """A fresh folder at `path` (made if need be), under its lock: the bundles, the Keras model
        (`write_keras(temporary path)` saves or copies it) and a new manifest, every file
        atomically, the manifest last."""
        path = Path(path)
        keras_file = keras_name(check_model_name(contents.name, str(path)))
        with folder_lock(path):
            save_bundles(path, contents.reference, contents.calibration_images)
            with atomic_path(path / keras_file) as tmp:
                write_keras(tmp)
            keras = Artifact(
                path=keras_file, format="keras", precision="float32", sha256=sha256_file(path / keras_file),
                bytes=(path / keras_file).stat().st_size, contract=contents.contract, labels=list(contents.labels),
                dataset=contents.dataset["name"], metrics=ParityRecord(accuracy=contents.accuracy),
                tools=tool_versions("tensorflow", "keras", "numpy"),
            )
            manifest = Manifest(
                model=contents.name, labels=list(contents.labels), dataset=contents.dataset,
                reference=FileRecord(REFERENCE_NAME, sha256_file(path / REFERENCE_NAME), len(contents.reference.images)),
                calibration=FileRecord(CALIBRATION_NAME, sha256_file(path / CALIBRATION_NAME),
                                       len(contents.calibration_images)),
                artifacts=[keras], architecture=contents.architecture, training=contents.training,
            )
            folder = cls(path, manifest)
            folder.save()
        for name in (keras_file, REFERENCE_NAME, CALIBRATION_NAME, MANIFEST_NAME):
            log(f"Wrote {path / name}")
        return folder


def missing_file_reason(path) -> Optional[str]:
    """Why the model file `path` does not exist, from the manifest beside it: conversion rejected
    it, or the manifest lists it but the file was removed, or the manifest never listed it. None
    when there is no manifest there to ask. The manifest is read tolerantly: a malformed one only
    explains less."""
    path = Path(path)
    if not ModelsFolder.holds_manifest(path.parent):
        return None
    manifest = path.parent / MANIFEST_NAME
    try:
        data = read_manifest_data(path.parent)
    except ManifestError:
        data = {}
    for rejection in reversed(rejections_in(data)):  # the latest run's entry last
        if rejection.path in (path.name, str(path)):
            return (f"conversion rejected it ({rejection.precision}), so it was not written: {rejection.reason} "
                    f"(recorded in {manifest})")
    artifacts = data.get("artifacts") if isinstance(data, dict) else None
    if any(isinstance(a, dict) and a.get("path") == path.name for a in (artifacts if isinstance(artifacts, list) else [])):
        return f"{manifest} lists it, but the file is gone (removed after conversion?); convert it again"
    return f"not listed in {manifest} (it was not written or was removed)"
