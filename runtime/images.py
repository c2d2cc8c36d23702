"""Image files to the arrays a model's input contract asks for (`prepare_image`).

For a digit model ("mnist-digit"): a photo of a handwritten digit is not an MNIST image:
dark ink on light paper, any size, off-centre, uneven light. MNIST's own normalisation is
applied: light-on-dark polarity, crop to the ink, fit into 20x20 keeping the aspect ratio,
and place in 28x28 with the centre of mass at the centre.

For any other model ("resize"): the image is read in the model's channels (grayscale or
RGB; transparency becomes white) and resized to its height and width, keeping the aspect
ratio by a centre crop or black padding, or stretched, as the contract says.

Pillow is imported only here, and only to decode files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import ToolkitError, one_line

MNIST_SIZE = 28
DIGIT_BOX = 20
"""MNIST fits each digit into 20x20 and pads it to 28x28."""
MAX_PIXELS = 40_000_000
"""Larger images are refused before decoding (a decompression bomb costs memory, not bytes)."""
MIN_CONTRAST = 60
"""Ink must differ from paper by this much (0..255) or the image holds no digit."""
INK_FRACTION = 0.35
"""After background removal, pixels below this share of the strongest ink count as paper."""
WORKING_SIZE = 1024
"""Photos are reduced to this longer side first: faster, and averages sensor noise away."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm")


class ImageError(ToolkitError, ValueError):
    """An image file cannot be read, or holds no digit."""


def _pillow():
    try:
        from PIL import Image, ImageOps
    except ImportError as err:
        raise ImportError("reading image files needs Pillow: pip install Pillow") from err
    return Image, ImageOps


def read_grayscale(path) -> np.ndarray:
    """The file as float32 grayscale 0..255; transparency becomes white paper."""
    return read_pixels(path, "L")


def read_pixels(path, mode: str = "L") -> np.ndarray:
    """The file as float32 0..255, grayscale (H, W) for mode "L" or (H, W, 3) for "RGB";
    transparency becomes white, EXIF orientation is applied."""
    Image, ImageOps = _pillow()
    path = Path(path)
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{path}: refused, {width}x{height} pixels is more than the {MAX_PIXELS:,} allowed")
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                data = np.asarray(im, dtype=np.float32)
                top = 65535.0 if data.max() > 255 else 255.0
                gray = np.clip(data * (255.0 / top), 0, 255).astype(np.float32)
                return gray if mode == "L" else np.repeat(gray[..., np.newaxis], 3, axis=2)
            if im.mode == "P" or "A" in im.getbands() or "transparency" in im.info:
                rgba = im.convert("RGBA")
                paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(paper, rgba)
            return np.asarray(im.convert(mode), dtype=np.float32)
    except ImageError:
        raise
    except FileNotFoundError as err:
        raise ImageError(f"{path}: no such file") from err
    except Image.DecompressionBombError as err:
        raise ImageError(f"{path}: refused, more pixels than the {MAX_PIXELS:,} allowed ({one_line(err)})") from err
    except (OSError, ValueError, SyntaxError) as err:  # Pillow's errors for unreadable data
        raise ImageError(f"{path}: not a readable image ({one_line(err)})") from err


def fit_image(pixels: np.ndarray, contract) -> np.ndarray:
    """A float (H, W[, C]) image resized to the contract's shape as uint8, by its resize mode."""
    from .resample import resize, to_uint8

    height, width = contract.image_shape[:2]
    h, w = pixels.shape[:2]
    if contract.resize == "crop":
        scale = max(height / h, width / w)
        crop_h, crop_w = min(h, max(1, round(height / scale))), min(w, max(1, round(width / scale)))
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        out = resize(pixels[top : top + crop_h, left : left + crop_w], height, width)
    elif contract.resize == "pad":
        scale = min(height / h, width / w)
        inner_h, inner_w = min(height, max(1, round(h * scale))), min(width, max(1, round(w * scale)))
        out = np.zeros((height, width) + pixels.shape[2:], np.float32)
        top, left = (height - inner_h) // 2, (width - inner_w) // 2
        out[top : top + inner_h, left : left + inner_w] = resize(pixels, inner_h, inner_w)
    else:
        out = resize(pixels, height, width)
    out = to_uint8(out)
    return out.reshape(contract.image_shape)


def prepare_image(path, contract) -> np.ndarray:
    """An image file as one uint8 input of `contract` (shape contract.image_shape)."""
    if contract.preprocessing == "mnist-digit":
        return load_image(path).reshape(contract.image_shape)
    return fit_image(read_pixels(path, "RGB" if contract.channels == 3 else "L"), contract)


def to_mnist(gray: np.ndarray, name: str = "image") -> np.ndarray:
    """Grayscale float 0..255 (any size, either polarity) to an MNIST-style uint8 28x28."""
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError(f"{name}: expected a 2-D grayscale image, got shape {gray.shape}")
    if gray.shape == (MNIST_SIZE, MNIST_SIZE) and _looks_like_mnist(gray):
        return gray.astype(np.uint8)
    gray = _shrink(gray, WORKING_SIZE)
    paper = _median(gray)
    if paper > (gray.min() + gray.max()) / 2:
        gray, paper = 255.0 - gray, 255.0 - paper  # dark ink on light paper: make it light on dark
    ink = _median3(np.clip(gray - paper, 0, None))  # the median pixel is paper; specks are dropped
    strongest = float(ink.max())
    if strongest < MIN_CONTRAST:
        raise ImageError(f"{name}: no digit found (nothing stands out from the background; contrast {strongest:.0f} of 255)")
    ink[ink < INK_FRACTION * strongest] = 0
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    digit = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] * (255.0 / strongest)
    return _center_of_mass_pad(_fit(digit, DIGIT_BOX))


def _median(values: np.ndarray) -> float:
    """The median pixel (np.median would import numpy.ma, ~8 ms of start-up)."""
    flat = values.ravel()
    middle = len(flat) // 2
    return float(np.partition(flat, middle)[middle])


def _shrink(gray: np.ndarray, size: int) -> np.ndarray:
    """Large photos are reduced (antialiased) so the longer side is at most `size` pixels."""
    if max(gray.shape) <= size:
        return gray
    Image, _ = _pillow()
    scale = size / max(gray.shape)
    shape = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return np.asarray(Image.fromarray(gray.astype(np.float32)).resize(shape, Image.Resampling.BOX))


def _median3(values: np.ndarray) -> np.ndarray:
    """3x3 median filter: removes isolated noise pixels, keeps strokes."""
    Image, _ = _pillow()
    from PIL import ImageFilter

    return np.asarray(Image.fromarray(values.astype(np.float32)).filter(ImageFilter.MedianFilter(3)), dtype=np.float32).copy()


def _looks_like_mnist(gray: np.ndarray) -> bool:
    """Already 28x28 light-on-dark with a dark border: leave it exactly as it is."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return border.max() < 32 and gray.max() > 128


def _fit(digit: np.ndarray, box: int) -> np.ndarray:
    """Resizes so the longer side is `box` pixels, keeping the aspect ratio (antialiased)."""
    Image, _ = _pillow()
    height, width = digit.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(digit.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized), 0, 255)


def _center_of_mass_pad(digit: np.ndarray) -> np.ndarray:
    """Places `digit` in a 28x28 canvas so that its centre of mass is at the centre."""
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    mass = digit.sum()
    ys, xs = np.indices(digit.shape)
    cy = (ys * digit).sum() / mass if mass else digit.shape[0] / 2
    cx = (xs * digit).sum() / mass if mass else digit.shape[1] / 2
    top = int(round((MNIST_SIZE - 1) / 2 - cy))
    left = int(round((MNIST_SIZE - 1) / 2 - cx))
    top = min(max(top, 0), MNIST_SIZE - digit.shape[0])
    left = min(max(left, 0), MNIST_SIZE - digit.shape[1])
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return np.round(canvas).astype(np.uint8)


def load_image(path) -> np.ndarray:
    """An image file as an MNIST-style uint8 (28, 28) array."""
    return to_mnist(read_grayscale(path), str(path))


def expand_paths(paths) -> list:
    """Files as given; folders replaced by their image files, sorted."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(p)
    return found
