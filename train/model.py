"""The seed model: 28x28 flattened to 784, Dense 64 relu, Dense 64 relu, Dense 10 softmax."""

import keras

from .data import IMAGE_SHAPE, NUM_CLASSES

HIDDEN_UNITS = 64


def build_model() -> keras.Model:
    """Takes float images in 0..1 (see runtime.contract), returns class probabilities."""
    model = keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE, name="image"),
            keras.layers.Flatten(),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="mnist_mlp",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
