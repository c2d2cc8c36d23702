"""What a models folder starts from, written by `python -m train` after fitting and by
`python -m convert --keras` for a user's own model: the Keras model, the reference bundle
(held-out images, their labels if known, the Keras probabilities) for parity checks without
TensorFlow, a calibration pool for int8 (never reference images), and a fresh manifest
recording the architecture, the data and the tools."""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Optional

import numpy as np

from runtime.contract import InputContract
from runtime.store.files import atomic_path, folder_lock, sha256_file
from runtime.store.manifest import Artifact, FileRecord, Manifest, Metrics, write_manifest
from runtime.store.layout import CALIBRATION_NAME, MANIFEST_NAME, REFERENCE_NAME, keras_name

CALIBRATION_POOL = 2000
"""Images kept for int8 calibration (convert --calibration-samples draws from these)."""

_DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu")}
"""Packages published under more than one distribution name."""


def tool_versions(*packages) -> dict:
    """Python's and each installed package's version, as the manifest records them."""
    versions = {"python": platform.python_version()}
    for name in packages:
        for distribution in _DISTRIBUTIONS.get(name, (name,)):
            try:
                versions[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def _layer_text(layer) -> str:
    """One layer as the architecture line shows it: "Dense 64 relu", "Conv2D 16 3x3 relu"."""
    kind = layer.__class__.__name__
    config = layer.get_config()
    activation = config.get("activation")
    activation = "" if activation in (None, "linear") else f" {activation}"
    if "filters" in config and "kernel_size" in config:
        return f"{kind} {config['filters']} {'x'.join(map(str, config['kernel_size']))}{activation}"
    if "units" in config:
        return f"{kind} {config['units']}{activation}"
    if "pool_size" in config:
        return f"{kind} {'x'.join(map(str, config['pool_size']))}"
    if kind == "Reshape":
        return f"Reshape {'x'.join(map(str, config['target_shape']))}"
    if kind in ("Rescaling",):
        return f"Rescaling x{config.get('scale')}"
    if kind == "Activation":
        return f"Activation {config.get('activation')}"
    if kind == "Dropout":
        return f"Dropout {config.get('rate')}"
    return kind


def describe_architecture(model) -> dict:
    """{"summary", "parameters", "optimizer"}: the layers in order ("28x28 input, flattened to
    784 → Dense 64 relu → ..."), the parameter count, the optimiser when compiled."""
    shape = [d for d in model.input_shape[1:]]
    parts = ["x".join(map(str, shape)) + " input"]
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        if layer.__class__.__name__ == "Flatten" and len(parts) == 1:
            parts[0] += f", flattened to {int(np.prod(shape))}"
            continue
        parts.append(_layer_text(layer))
    record = {"summary": " → ".join(parts), "parameters": int(model.count_params())}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(model, "compiled", False):
        rate = getattr(optimizer, "learning_rate", None)
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            rate = None
        loss = model.loss if isinstance(model.loss, str) else ""
        record["optimizer"] = optimizer.__class__.__name__ + (f" (learning rate {rate:.3g})" if rate else "") + (
            f", loss {loss}" if loss else "")
    return record


@dataclass
class ModelOutputs:
    """What goes into a fresh models folder."""

    name: str
    """The model's name: the stem of the .keras file and of every artifact."""
    contract: InputContract
    labels: list
    dataset: dict
    """{"name", "train", "test"} as the manifest records it."""
    reference_images: np.ndarray
    reference_labels: Optional[np.ndarray]
    reference_probs: np.ndarray
    calibration_images: np.ndarray
    architecture: dict
    training: Optional[dict] = None
    accuracy: Optional[float] = None
    """The Keras model's accuracy on the reference images (None without labels)."""


def write_outputs(models, outputs: ModelOutputs, model=None, keras_file=None, log=print) -> Manifest:
    """Writes the Keras model (saving `model`, or copying `keras_file`), the two bundles and a
    fresh manifest into `models`, under its lock; every file atomically, the manifest last."""
    models = Path(models)
    keras_file_name = keras_name(outputs.name)
    with folder_lock(models):
        reference = {"images": outputs.reference_images, "probs": outputs.reference_probs.astype(np.float32)}
        if outputs.reference_labels is not None:
            reference["labels"] = outputs.reference_labels
        _save_npz(models / REFERENCE_NAME, **reference)
        _save_npz(models / CALIBRATION_NAME, images=outputs.calibration_images)
        with atomic_path(models / keras_file_name) as tmp:
            if model is not None:
                model.save(tmp)
            else:
                shutil.copyfile(keras_file, tmp)
        keras_path = models / keras_file_name
        keras = Artifact(
            path=keras_file_name, format="keras", precision="float32", sha256=sha256_file(keras_path),
            bytes=keras_path.stat().st_size, contract=outputs.contract, labels=list(outputs.labels),
            dataset=outputs.dataset["name"], metrics=Metrics(accuracy=outputs.accuracy),
            tools=tool_versions("tensorflow", "keras", "numpy"),
        )
        manifest = Manifest(
            model=outputs.name, labels=list(outputs.labels), dataset=outputs.dataset,
            reference=FileRecord(REFERENCE_NAME, sha256_file(models / REFERENCE_NAME), len(outputs.reference_images)),
            calibration=FileRecord(CALIBRATION_NAME, sha256_file(models / CALIBRATION_NAME), len(outputs.calibration_images)),
            artifacts=[keras], architecture=outputs.architecture, training=outputs.training,
        )
        write_manifest(models, manifest)
    for name in (keras_file_name, REFERENCE_NAME, CALIBRATION_NAME, MANIFEST_NAME):
        log(f"Wrote {models / name}")
    return manifest


def _save_npz(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
