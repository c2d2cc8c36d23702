"""Image files to MNIST-style 28x28 uint8 arrays.

Reading is here (Pillow is imported only here): EXIF orientation, 16-bit, palette and
alpha (transparent is paper). What a photo of a digit becomes is `runtime.digits`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .digits import normalize_digit
from .errors import ImageError, one_line

MAX_PIXELS = 40_000_000
"""Larger images are refused before decoding (a decompression bomb costs memory, not bytes)."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm")


def _pillow():
    try:
        from PIL import Image, ImageOps
    except ImportError as err:
        raise ImportError("reading image files needs Pillow: pip install Pillow") from err
    return Image, ImageOps


def read_grayscale(path) -> np.ndarray:
    """The file as float32 grayscale 0..255; transparency becomes white paper."""
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
                return np.clip(data * (255.0 / top), 0, 255).astype(np.float32)
            if im.mode == "P" or "A" in im.getbands() or "transparency" in im.info:
                rgba = im.convert("RGBA")
                paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(paper, rgba)
            return np.asarray(im.convert("L"), dtype=np.float32)
    except ImageError:
        raise
    except FileNotFoundError as err:
        raise ImageError(f"{path}: no such file") from err
    except Image.DecompressionBombError as err:
        raise ImageError(f"{path}: refused, more pixels than the {MAX_PIXELS:,} allowed ({one_line(err)})") from err
    except (OSError, ValueError, SyntaxError) as err:  # Pillow's errors for unreadable data
        raise ImageError(f"{path}: not a readable image ({one_line(err)})") from err


def load_image(path) -> np.ndarray:
    """An image file as an MNIST-style uint8 (28, 28) array."""
    return normalize_digit(read_grayscale(path), str(path))


def expand_paths(paths) -> list:
    """Files as given; folders replaced by their image files, sorted."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(p)
    return found
