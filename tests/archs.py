"""Small real architectures for the int8 diagnosis, the budget search and the micro export,
built and briefly trained here on the coloured shapes of tests/shapes.py (32x32):

- a MobileNetV2 (keras.applications, alpha 0.35, weights=None) nested as a layer under
  RandomFlip and Rescaling, with a new head: depthwise convolutions, BatchNorm, Add, ReLU6;
- a ResNet-like net: Conv + BatchNorm + ReLU, residual Add, RandomRotation, Mean;
- a greyscale SeparableConv net with an adapted Normalization, hard-swish and a
  squeeze-excite block (Mean, Dense, sigmoid, Multiply).

The tests assert what holds for any trained weights (which ops are found, what a search
tries), never an accuracy that depends on this training."""

from __future__ import annotations

import numpy as np

from shapes import CLASSES, SIZE, shape_arrays

EPOCHS = 2
BN_MOMENTUM = 0.9
"""keras.applications' BatchNorm momentum is 0.999: after a few dozen steps its moving
statistics are still near their initial values, and inference is wrong."""


def shape_data(per_class: int = 80, grey: bool = False, seed: int = 0):
    """(uint8 images, labels); greyscale images are (N, 32, 32, 1)."""
    x, y = shape_arrays(per_class, seed)
    if grey:
        x = np.round(x.mean(axis=-1, keepdims=True)).astype(np.uint8)
    return x, y


def _fit(model, x, y):
    import keras

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=EPOCHS, batch_size=16, verbose=0)
    return model


def mobilenet_v2(x, y):
    """MobileNetV2 alpha 0.35 at 32x32, nested as a layer; takes 0..1 inputs."""
    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), alpha=0.35, weights=None, include_top=False)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.RandomFlip("horizontal")(inputs)
    h = keras.layers.Rescaling(2.0, offset=-1.0)(h)
    h = keras.layers.GlobalAveragePooling2D()(base(h))
    model = keras.Model(inputs, keras.layers.Dense(len(CLASSES), activation="softmax")(h), name="mnv2")
    return _fit(model, x / np.float32(255), y)


def resnet_like(x, y):
    """Two residual blocks with BatchNorm and Add, RandomRotation in front; takes 0..1 inputs."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    h = layers.RandomRotation(0.05)(inputs)
    h = layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(layers.Conv2D(16, 3, strides=2, padding="same")(h)))
    for filters in (16, 32):
        shortcut = h if h.shape[-1] == filters else layers.Conv2D(filters, 1)(h)
        r = layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(layers.Conv2D(filters, 3, padding="same")(h)))
        r = layers.BatchNormalization(momentum=BN_MOMENTUM)(layers.Conv2D(filters, 3, padding="same")(r))
        h = layers.ReLU()(layers.Add()([shortcut, r]))
    h = layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, layers.Dense(len(CLASSES), activation="softmax")(h), name="resnet_like")
    return _fit(model, x / np.float32(255), y)


def separable_se(x, y):
    """Greyscale: an adapted Normalization, SeparableConv2D with hard-swish, and squeeze-excite;
    takes raw pixels 0..255 (the Normalization was adapted on them)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    norm = layers.Normalization(axis=None)
    norm.adapt(x.astype(np.float32))
    inputs = keras.Input((SIZE, SIZE, 1))
    h = norm(inputs)
    h = layers.SeparableConv2D(16, 3, strides=2, padding="same", activation="hard_swish")(h)
    h = layers.SeparableConv2D(32, 3, strides=2, padding="same", activation="hard_swish")(h)
    squeeze = layers.GlobalAveragePooling2D(keepdims=True)(h)
    excite = layers.Dense(32, activation="sigmoid")(layers.Dense(8, activation="relu")(squeeze))
    h = layers.GlobalAveragePooling2D()(layers.Multiply()([h, excite]))
    model = keras.Model(inputs, layers.Dense(len(CLASSES), activation="softmax")(h), name="separable_se")
    return _fit(model, x.astype(np.float32), y)
