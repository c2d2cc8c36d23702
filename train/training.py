"""Fit the seed model (or the small CNN) and write what the rest of the toolkit starts
from: the Keras model, the reference bundle for parity checks on a device, a calibration
pool for int8, and the manifest (runtime/store/folder.py writes the folder)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from runtime.contract import InputContract
from runtime.store.bundles import CALIBRATION_POOL, Reference
from runtime.store.folder import FolderContents, ModelsFolder
from runtime.store.manifest import Manifest
from runtime.workstation.architecture import describe_architecture

from .data import Dataset, load_dataset, read_labels_file

VALIDATION_SPLIT = 0.1


@dataclass
class TrainOptions:
    """What `python -m train` was asked to do."""

    dataset: str = "auto"
    """auto, mnist or mnist-5k; ignored when `data` is set."""
    data: Optional[str] = None
    """The user's own .npz file or IDX folder."""
    model: str = "mlp"
    """mlp (the seed) or cnn; see train/networks.py."""
    labels: Optional[str] = None
    """A file with one class name per line; else the names in the data, else 0..N-1."""
    epochs: int = 5
    batch_size: int = 32
    seed: int = 42
    models: str = "models"
    """Output folder."""
    augment: bool = False
    """Train on randomly moved, turned, resized and re-inked digits (train.augment)."""
    verbose: object = "auto" if sys.stdout.isatty() else 2
    """Keras fit verbosity: a progress bar on a terminal, one line per epoch in a log."""


def train(options: TrainOptions, log=print) -> Manifest:
    """Loads data, fits, evaluates and writes the outputs; returns the manifest."""
    names = read_labels_file(options.labels) if options.labels else None
    dataset = load_dataset(options.dataset, options.data, log=log, class_names=names)
    log(f"Data: {dataset.summary()}")

    import keras
    import tensorflow as tf

    from .networks import build_model

    contract = InputContract()
    x_train = contract.model_input(dataset.x_train)
    x_test = contract.model_input(dataset.x_test)

    keras.utils.set_random_seed(options.seed)
    tf.config.experimental.enable_op_determinism()
    model = build_model(options.model, classes=len(dataset.labels))
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

    probs = model.predict(x_test, batch_size=256, verbose=0).astype(np.float32)
    training = {"model": options.model, "epochs": options.epochs, "batch_size": options.batch_size, "seed": options.seed,
                "augment": _augment_record(options),
                "test_accuracy": float(accuracy), "test_loss": float(loss)}
    contents = FolderContents(
        name=model.name, contract=contract, labels=dataset.labels,
        dataset={"name": dataset.name, "train": len(dataset.x_train), "test": len(dataset.x_test)},
        reference=Reference(dataset.x_test, dataset.y_test, probs),
        calibration_images=_calibration_pool(dataset, options.seed), architecture=describe_architecture(model),
        training=training, accuracy=float(accuracy),
    )
    return ModelsFolder.create(options.models, contents, write_keras=model.save, log=log).manifest


def _fit_augmented(model, x, y, options: TrainOptions) -> None:
    """model.fit on augmented batches, validated on the same last 10% that validation_split keeps
    (unchanged images)."""
    import math

    from .augment import augmented_dataset

    split = int(math.ceil(len(x) * (1 - VALIDATION_SPLIT)))
    data, steps = augmented_dataset(x[:split], y[:split], options.batch_size, options.epochs, options.seed)
    model.fit(data, epochs=options.epochs, steps_per_epoch=steps, validation_data=(x[split:], y[split:]),
              verbose=options.verbose, shuffle=False)


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

