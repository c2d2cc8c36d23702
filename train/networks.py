"""The models `python -m train` fits, both taking 28x28 float images in 0..1 (see
runtime.contract) and returning class probabilities:

- mlp, the seed: 28x28 flattened to 784, Dense 64 relu, Dense 64 relu, Dense N softmax.
- cnn: two small 3x3 convolutions with max pooling, then Dense 64 relu and Dense N softmax.
  About as many parameters as the MLP (it mostly sits in the first Dense layer), more
  accurate, and made of ops every target runs in int8 (TFLite, TFLite Micro, ONNX, the web).
"""

from .data import IMAGE_SHAPE, NUM_CLASSES

ARCHITECTURES = ("mlp", "cnn")
HIDDEN_UNITS = 64
CONV_FILTERS = (16, 32)


def build_model(architecture: str = "mlp", classes: int = NUM_CLASSES):
    """A compiled keras.Model: adam, sparse categorical cross-entropy, accuracy."""
    import keras

    if architecture == "mlp":
        layers = [
            keras.layers.Flatten(),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
        ]
    elif architecture == "cnn":
        layers = [keras.layers.Reshape(IMAGE_SHAPE + (1,))]
        for filters in CONV_FILTERS:
            layers += [keras.layers.Conv2D(filters, 3, activation="relu"), keras.layers.MaxPooling2D(2)]
        layers += [keras.layers.Flatten(), keras.layers.Dense(HIDDEN_UNITS, activation="relu")]
    else:
        raise ValueError(f"architecture: got {architecture!r}, expected one of {', '.join(ARCHITECTURES)}")
    model = keras.Sequential(
        [keras.Input(shape=IMAGE_SHAPE, name="image"), *layers, keras.layers.Dense(classes, activation="softmax")],
        name=f"mnist_{architecture}",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
