"""A small zoo of the architectures people ship, built offline inside the tests (no
weights downloaded: `keras.applications` with weights=None) and trained a few epochs on
tests/shapes.py's circles, squares and triangles (drawn light on dark here), so each is
clearly above chance (1/3) and conversion has real outputs to match:

- mobilenet_v2: keras.applications.MobileNetV2 (alpha 0.35) nested as a layer, a Rescaling
  to -1..1 in front and a new Dropout + Dense head; takes raw pixels (--input-scale 1).
- resnet: a ResNet-like net with BatchNormalization and Add, RandomFlip and RandomRotation
  (training-only) inside; takes pixel / 255.
- efficientnet_b0: keras.applications.EfficientNetB0 nested as a layer with its own
  Rescaling and its Normalization adapted to the data; takes raw pixels (--input-scale 1).
- separable: greyscale, an adapted Normalization, SeparableConv2D and DepthwiseConv2D with
  hard-swish; takes pixel / 255.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shapes import CLASSES, DRAWN, SIZE, draw_in

TRAIN_PER_CLASS = 200
"""Training pictures per class (600 in all): enough for every model to learn the shapes."""
EPOCHS = {"mobilenet_v2": 6, "resnet": 6, "efficientnet_b0": 6, "separable": 10}
"""A few epochs: MobileNetV2 measured 0.96 on pictures it never saw after 6 (chance: 1/3)."""
LEARNING_RATE = 3e-3
BATCH_NORM_MOMENTUM = 0.9
"""Keras's 0.99 leaves the moving statistics of a net trained for ~150 steps far from the
data's, and inference mode near chance; 0.9 follows them."""
BATCH_SIZE = 32
SEED = 0


@dataclass(frozen=True)
class ZooModel:
    """One trained model of the zoo, saved as .keras."""

    name: str
    path: Path
    input_scale: float
    """What `convert --input-scale` must be: 1 when the model rescales the pixels itself."""
    channels: int
    train_accuracy: float
    """Its accuracy on its own training pictures after training (Keras, inference mode)."""


def grey(images: np.ndarray) -> np.ndarray:
    """RGB uint8 (N, H, W, 3) to one luminance channel (N, H, W, 1), ITU-R 601 weights."""
    luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., np.newaxis]


def mobilenet_v2(size: int = SIZE):
    import keras

    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    backbone = keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=0.35, include_top=False,
                                              weights=None, pooling="avg")
    x = backbone(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2")


def resnet(size: int = SIZE):
    import keras
    from keras import layers

    def block(x, filters, stride):
        shortcut = x
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU()(y)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
            shortcut = layers.BatchNormalization()(shortcut)
        return layers.ReLU()(layers.Add()([y, shortcut]))

    inputs = keras.Input((size, size, 3), name="image")
    x = layers.RandomFlip("horizontal")(inputs)
    x = layers.RandomRotation(0.05)(x)
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        x = block(x, filters, stride)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(len(CLASSES), activation="softmax")(x)
    return keras.Model(inputs, outputs, name="resnet")


def efficientnet_b0(pixels: np.ndarray, size: int = SIZE):
    """EfficientNetB0 as Keras ships it: Rescaling(1/255) and Normalization inside; the
    Normalization adapted to `pixels` / 255, as one adapts it to one's own data."""
    import keras

    backbone = keras.applications.EfficientNetB0(input_shape=(size, size, 3), include_top=False, weights=None,
                                                 pooling="avg")
    normalization = next(layer for layer in backbone.layers if isinstance(layer, keras.layers.Normalization))
    normalization.adapt(pixels.astype(np.float32) / 255)
    inputs = keras.Input((size, size, 3), name="image")
    x = backbone(inputs)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax")(x)
    return keras.Model(inputs, outputs, name="efficientnet_b0")


def separable(pixels: np.ndarray, size: int = SIZE):
    """Greyscale; Normalization adapted to `pixels` / 255; separable and depthwise convolutions
    with hard-swish, as in MobileNetV3."""
    import keras
    from keras import layers

    normalization = layers.Normalization()
    normalization.adapt(pixels.astype(np.float32) / 255)
    inputs = keras.Input((size, size, 1), name="image")
    x = normalization(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="hard_swish")(x)
    x = layers.SeparableConv2D(32, 3, padding="same", activation="hard_swish")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = layers.Activation("hard_swish")(x)
    x = layers.SeparableConv2D(64, 3, padding="same", activation="hard_swish")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(len(CLASSES), activation="softmax")(x)
    return keras.Model(inputs, outputs, name="separable")


ZOO = ("mobilenet_v2", "resnet", "efficientnet_b0", "separable")
INPUT_SCALE = {"mobilenet_v2": 1.0, "resnet": 255.0, "efficientnet_b0": 1.0, "separable": 255.0}
CHANNELS = {"mobilenet_v2": 3, "resnet": 3, "efficientnet_b0": 3, "separable": 1}


def build_model(name: str, pixels: np.ndarray, size: int = SIZE):
    """The untrained model `name` taking size x size pictures; `pixels` (uint8, its channels)
    adapt its Normalization."""
    builders = {"mobilenet_v2": lambda: mobilenet_v2(size), "resnet": lambda: resnet(size),
                "efficientnet_b0": lambda: efficientnet_b0(pixels, size), "separable": lambda: separable(pixels, size)}
    if name not in builders:
        raise ValueError(f"name: got {name!r}, expected one of {', '.join(ZOO)}")
    return builders[name]()


def all_layers(model) -> list:
    """Every layer of `model` and of the models nested in it."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found += all_layers(layer)
    return found


def draw_plain_shape(kind: str, rng: np.random.Generator):
    """tests/shapes.py's shapes, light on a dark background of random tints (its shapes have
    any colours, which these deep nets need far more epochs to see past)."""
    background = tuple(int(v) for v in rng.integers(0, 70, 3))
    colour = tuple(int(v) for v in rng.integers(180, 256, 3))
    return draw_in(kind, rng, DRAWN, background, colour)


def shape_data(channels: int, per_class: int, seed: int, size: int = SIZE) -> tuple:
    """(uint8 images (N, size, size, channels), labels), drawn at DRAWN pixels and resized by
    the runtime's own resampling, as tests/shapes.py does."""
    from runtime.preprocess.resample import resize, to_uint8

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k, kind in enumerate(CLASSES):
        for _ in range(per_class):
            images.append(to_uint8(resize(np.asarray(draw_plain_shape(kind, rng)), size, size)))
            labels.append(k)
    x = np.stack(images)
    return (grey(x) if channels == 1 else x), np.asarray(labels)


def train_zoo_model(name: str, folder: Path, size: int = SIZE) -> ZooModel:
    """Builds, trains and saves `folder/<name>.keras` (`<name>_<size>.keras` for another size)."""
    import keras

    channels = CHANNELS[name]
    x, y = shape_data(channels, TRAIN_PER_CLASS, SEED, size)
    keras.utils.set_random_seed(SEED)
    model = build_model(name, x, size)
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BATCH_NORM_MOMENTUM
    scale = np.float32(INPUT_SCALE[name])
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x / scale, y, epochs=EPOCHS[name], batch_size=BATCH_SIZE, verbose=0)
    probs = model.predict(x / scale, batch_size=128, verbose=0)
    path = Path(folder) / (f"{name}.keras" if size == SIZE else f"{name}_{size}.keras")
    model.save(path)
    return ZooModel(name, path, float(scale), channels, float(np.mean(probs.argmax(1) == y)))


def write_npz(path: Path, channels: int, per_class: int, seed: int, size: int = SIZE) -> Path:
    """An .npz for `convert --data`: x (uint8), y, class_names; pictures the models never trained on."""
    x, y = shape_data(channels, per_class, seed, size)
    np.savez(path, x=x, y=y, class_names=np.array(CLASSES))
    return path
