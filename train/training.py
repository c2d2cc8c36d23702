"""Fit the seed model and write what the rest of the toolkit starts from: the Keras model,
the reference bundle for parity checks on a device, a calibration pool for int8, and the
manifest."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from runtime.contract import InputContract
from runtime.manifest import SCHEMA_VERSION, atomic_path, folder_lock, sha256_file, write_manifest
from runtime.parity import REFERENCE_NAME

from .data import Dataset, load_dataset

KERAS_NAME = "mnist_mlp.keras"
CALIBRATION_NAME = "calibration.npz"
CALIBRATION_POOL = 2000
"""Training images kept for int8 calibration (convert --calibration-samples draws from these)."""
VALIDATION_SPLIT = 0.1


@dataclass
class TrainOptions:
    """What `python -m train` was asked to do."""

    dataset: str = "auto"
    """auto, mnist or mnist-5k; ignored when `data` is set."""
    data: Optional[str] = None
    """The user's own .npz file or IDX folder."""
    epochs: int = 5
    batch_size: int = 32
    seed: int = 42
    models: str = "models"
    """Output folder."""
    augment: bool = False
    """Train on randomly moved, turned, resized and re-inked digits (train.augment)."""
    verbose: object = "auto" if sys.stdout.isatty() else 2
    """Keras fit verbosity: a progress bar on a terminal, one line per epoch in a log."""


def tool_versions() -> dict:
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def train(options: TrainOptions, log=print) -> dict:
    """Loads data, fits, evaluates and writes the outputs; returns the manifest."""
    dataset = load_dataset(options.dataset, options.data, log=log)
    log(f"Data: {dataset.summary()}")

    import keras
    import tensorflow as tf

    from .model import build_model

    contract = InputContract()
    x_train = contract.to_unit_range(dataset.x_train)
    x_test = contract.to_unit_range(dataset.x_test)

    keras.utils.set_random_seed(options.seed)
    tf.config.experimental.enable_op_determinism()
    model = build_model()
    started = time.perf_counter()
    if options.augment:
        _fit_augmented(model, x_train, dataset.y_train, options)
    else:
        model.fit(
            x_train, dataset.y_train,
            epochs=options.epochs, batch_size=options.batch_size,
            validation_split=VALIDATION_SPLIT, verbose=options.verbose,
        )
    seconds = time.perf_counter() - started
    loss, accuracy = model.evaluate(x_test, dataset.y_test, verbose=0)
    log(f"Test accuracy: {accuracy:.4f} (loss {loss:.4f}) after {options.epochs} epochs, {seconds:.1f} s")

    models = Path(options.models)
    probs = model.predict(x_test, batch_size=256, verbose=0).astype(np.float32)
    with folder_lock(models):
        _save_npz(models / REFERENCE_NAME, images=dataset.x_test, labels=dataset.y_test, probs=probs)
        _save_npz(models / CALIBRATION_NAME, images=_calibration_pool(dataset, options.seed))
        with atomic_path(models / KERAS_NAME) as tmp:
            model.save(tmp)
        manifest = _manifest(options, dataset, contract, models, float(accuracy), float(loss))
        write_manifest(models, manifest)
    for name in (KERAS_NAME, REFERENCE_NAME, CALIBRATION_NAME, "manifest.json"):
        log(f"Wrote {models / name}")
    return manifest


def _fit_augmented(model, x, y, options: TrainOptions) -> None:
    """model.fit on augmented batches, validated on the same last 10% that validation_split keeps
    (unchanged images)."""
    import math

    from .augment import augmented_dataset

    split = int(math.ceil(len(x) * (1 - VALIDATION_SPLIT)))
    data, steps = augmented_dataset(x[:split], y[:split], options.batch_size, options.epochs, options.seed)
    model.fit(data, epochs=options.epochs, steps_per_epoch=steps, validation_data=(x[split:], y[split:]),
              verbose=options.verbose, shuffle=False)


def _save_npz(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def _calibration_pool(dataset: Dataset, seed: int) -> np.ndarray:
    """Training images only (never the test split), in a seeded random order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(dataset.x_train))[:CALIBRATION_POOL]
    return dataset.x_train[order]


def _augment_record(options: TrainOptions):
    if not options.augment:
        return None
    from .augment import AugmentOptions

    return AugmentOptions().to_json()


def _manifest(options, dataset, contract, models: Path, accuracy: float, loss: float) -> dict:
    labels = [str(d) for d in range(10)]
    keras_path = models / KERAS_NAME
    return {
        "schema": SCHEMA_VERSION,
        "model": "mnist_mlp",
        "labels": labels,
        "dataset": {"name": dataset.name, "train": len(dataset.x_train), "test": len(dataset.x_test)},
        "training": {
            "epochs": options.epochs, "batch_size": options.batch_size, "seed": options.seed,
            "augment": _augment_record(options),
            "test_accuracy": accuracy, "test_loss": loss,
        },
        "reference": {"path": REFERENCE_NAME, "sha256": sha256_file(models / REFERENCE_NAME), "images": len(dataset.x_test)},
        "calibration": {"path": CALIBRATION_NAME, "sha256": sha256_file(models / CALIBRATION_NAME)},
        "artifacts": [
            {
                "path": KERAS_NAME,
                "format": "keras",
                "precision": "float32",
                "sha256": sha256_file(keras_path),
                "bytes": keras_path.stat().st_size,
                "input": contract.to_json(),
                "labels": labels,
                "dataset": dataset.name,
                "metrics": {"accuracy": accuracy},
                "tools": tool_versions(),
            }
        ],
    }
