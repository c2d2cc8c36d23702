"""Image resizing for the resize contracts: Pillow's BILINEAR filter on float32 planes (mode
"F"), so the runtime resizes as Pillow does, to the bit. Its filter is a separable triangle
whose width grows with the reduction factor, so that shrinking averages every source pixel
(antialiased) and enlarging interpolates linearly; pixel centres sit at i + 0.5. On float
planes Pillow keeps its weights and sums in double and rounds each pass to float32, a
rule the web page's port (web/resample.js) follows exactly.

Pillow is already the runtime's image reader (runtime.preprocess.images); it is imported here only
when an image is resized."""

from __future__ import annotations

import numpy as np


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 (height, width[, C]) from a float or uint8 (H, W[, C]) image, each channel
    resized by Pillow's Image.resize((width, height), BILINEAR) in mode "F"."""
    if height < 1 or width < 1:
        raise ValueError(f"resize: height and width must be >= 1, got {height} x {width}")
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError("resizing images needs Pillow: pip install Pillow (the images extra)") from err

    x = np.asarray(image, dtype=np.float32)
    planes = x[..., np.newaxis] if x.ndim == 2 else x
    out = np.empty((height, width, planes.shape[2]), np.float32)
    for c in range(planes.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[..., c]))
        out[..., c] = np.asarray(plane.resize((width, height), Image.Resampling.BILINEAR))
    return out[..., 0] if x.ndim == 2 else out


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Rounded to the nearest integer and clipped to 0..255."""
    return np.clip(np.round(image), 0, 255).astype(np.uint8)
