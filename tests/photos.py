"""Photo-like images of real MNIST digits, made by the tests: dark ink on light, noisy,
unevenly lit paper, several times larger than 28x28 and off-centre."""

import numpy as np
from PIL import Image


def digit_photo(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 grayscale photo of one MNIST image (light-on-dark 28x28)."""
    scale = int(rng.integers(4, 9))
    big = Image.fromarray(image).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    ink = np.asarray(big, np.float32) / 255
    height, width = int(rng.integers(300, 420)), int(rng.integers(300, 480))
    light = np.linspace(0, rng.uniform(-25, 25), width)[np.newaxis, :]
    paper = rng.uniform(190, 235) + rng.normal(0, 6, (height, width)) + light
    y = int(rng.integers(0, height - ink.shape[0]))
    x = int(rng.integers(0, width - ink.shape[1]))
    region = paper[y : y + ink.shape[0], x : x + ink.shape[1]]
    paper[y : y + ink.shape[0], x : x + ink.shape[1]] = region * (1 - ink) + rng.uniform(20, 60) * ink
    return np.clip(paper, 0, 255).astype(np.uint8)


def naive_resize(photo: np.ndarray) -> np.ndarray:
    """What a user would get by resizing the whole photo to 28x28."""
    return np.asarray(Image.fromarray(photo).resize((28, 28), Image.Resampling.BILINEAR))


def write_clear_photos(reference, folder, count: int = 5, seed: int = 3) -> dict:
    """JPEG photos of the first `count` test digits the Keras model is sure of (> 95%):
    {path: expected label}."""
    rng = np.random.default_rng(seed)
    sure = (reference.probs.max(1) > 0.95) & (reference.probs.argmax(1) == reference.labels)
    expected = {}
    for i in np.flatnonzero(sure)[:count]:
        path = folder / f"photo{i}.jpg"
        Image.fromarray(digit_photo(reference.images[i], rng)).save(path, quality=92)
        expected[str(path)] = str(reference.labels[i])
    assert len(expected) == count
    return expected
