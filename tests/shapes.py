"""A user's own model, made inside the tests: RGB pictures of coloured shapes (circle,
square, triangle) on coloured backgrounds, written as a class-subfolder image folder (the
layout of keras.utils.image_dataset_from_directory), and a small Keras CNN trained on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
SIZE = 32
"""The model's input: 32x32 RGB."""
DRAWN = 64
"""Pictures are drawn this size, then resized to SIZE like any larger image file."""


def draw_shape(kind: str, rng: np.random.Generator, size: int = SIZE) -> Image.Image:
    """One RGB picture of `kind`, random colours, position and scale."""
    background = tuple(int(v) for v in rng.integers(0, 256, 3))
    colour = tuple(int((b + rng.integers(90, 166)) % 256) for b in background)  # always far from the background
    return draw_in(kind, rng, size, background, colour)


def draw_in(kind: str, rng: np.random.Generator, size: int, background: tuple, colour: tuple) -> Image.Image:
    """A size x size RGB picture of `kind` in `colour` on `background`, at a random position
    and scale (a radius of 0.3 to 0.45 of the size): the drawing both shape sets share."""
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.3, 0.45) * size
    cx, cy = rng.uniform(radius, size - radius, 2)
    if kind == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
    elif kind == "square":
        draw.rectangle([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
    else:
        draw.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=colour)
    return image


def shape_arrays(per_class: int, seed: int = 0) -> tuple:
    """(uint8 images (N, 32, 32, 3), int labels (N,)), classes in CLASSES order: drawn at
    DRAWN pixels and reduced by the runtime's own resampling, as larger files are."""
    from runtime.preprocess.resample import resize, to_uint8

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k, kind in enumerate(CLASSES):
        for _ in range(per_class):
            images.append(to_uint8(resize(np.asarray(draw_shape(kind, rng, DRAWN)), SIZE, SIZE)))
            labels.append(k)
    return np.stack(images), np.asarray(labels)


def write_shape_folder(folder: Path, per_class: int, seed: int = 1, size: int = DRAWN) -> Path:
    """folder/<class>/<n>.png, pictures `size` pixels square (the model resizes them)."""
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            draw_shape(kind, rng, size).save(folder / kind / f"{n:03d}.png")
    return folder


def train_shape_cnn(path: Path, rescaling: bool = False, epochs: int = 20, seed: int = 0) -> Path:
    """A small CNN for 32x32 RGB shapes, saved as `path` (.keras). With `rescaling`, the
    model takes raw pixels 0..255 and divides by 255 itself (convert with --input-scale 1)."""
    import keras

    x, y = shape_arrays(300, seed)
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((SIZE, SIZE, 3), name="image")]
    if rescaling:
        layers.append(keras.layers.Rescaling(1 / 255))
    layers += [
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(len(CLASSES), activation="softmax"),
    ]
    model = keras.Sequential(layers, name=path.stem)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x if rescaling else x / np.float32(255), y, epochs=epochs, batch_size=32, verbose=0)
    model.save(path)
    return path


def write_example(out_dir: Path, per_class: int = 150) -> None:
    """What the own-model docs page converts: OUT_DIR/shapes.keras, the data folder
    OUT_DIR/shapes/<class>/*.png, and two pictures to predict, triangle.png and circle.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    train_shape_cnn(out_dir / "shapes.keras")
    write_shape_folder(out_dir / "shapes", per_class)
    rng = np.random.default_rng(2)  # not the data folder's seed: pictures the model has not seen
    for kind in ("triangle", "circle"):
        draw_shape(kind, rng, DRAWN).save(out_dir / f"{kind}.png")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description="Write the own-model example: a small Keras CNN (shapes.keras), its data folder "
        "(shapes/<class>/*.png) and two pictures to predict (triangle.png, circle.png).",
        epilog="example: python tests/shapes.py . && python -m convert all --keras shapes.keras --data shapes/",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("out_dir", type=Path, nargs="?", default=Path("."), help="folder to write into")
    parser.add_argument("--per-class", type=int, default=150, help="pictures per class in the data folder")
    args = parser.parse_args()
    if args.per_class < 2:
        parser.error(f"--per-class must be at least 2, got {args.per_class}")
    write_example(args.out_dir, args.per_class)
    print(f"Wrote {args.out_dir / 'shapes.keras'}, {args.out_dir / 'shapes'}/ "
          f"({len(CLASSES)} classes x {args.per_class} pictures), triangle.png and circle.png")
