"""Image resampling in plain numpy, defined exactly so that any other implementation (the
web page's JavaScript) can reproduce it: a separable triangle (bilinear) filter whose width
grows with the reduction factor, so that shrinking averages every source pixel
(antialiased) and enlarging interpolates bilinearly. Pixel centres sit at i + 0.5."""

from __future__ import annotations

import numpy as np


def filter_weights(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) weights, each row summing to 1: output pixel i is centred at
    (i + 0.5) * scale in input coordinates, scale = size_in / size_out, and input pixel j
    weighs max(0, 1 - |j + 0.5 - centre| / support), support = max(scale, 1)."""
    if size_in < 1 or size_out < 1:
        raise ValueError(f"resample: sizes must be >= 1, got {size_in} -> {size_out}")
    scale = size_in / size_out
    support = max(scale, 1.0)
    centres = (np.arange(size_out) + 0.5) * scale
    distance = np.abs(np.arange(size_in)[np.newaxis, :] + 0.5 - centres[:, np.newaxis]) / support
    weights = np.clip(1.0 - distance, 0.0, None)
    total = weights.sum(axis=1, keepdims=True)
    # An output pixel between two input centres at the border can miss every triangle when
    # enlarging by a lot; it takes its nearest input pixel.
    empty = total[:, 0] == 0
    if empty.any():
        nearest = np.clip(np.floor(centres[empty]).astype(int), 0, size_in - 1)
        weights[empty, nearest] = 1.0
        total[empty] = 1.0
    return weights / total


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 (height, width[, C]) from a float or uint8 (H, W[, C]) image."""
    x = np.asarray(image, dtype=np.float32)
    rows = filter_weights(x.shape[0], height).astype(np.float32)
    cols = filter_weights(x.shape[1], width).astype(np.float32)
    if x.ndim == 2:
        return rows @ (x @ cols.T)  # columns first: the large image is read once
    planes = np.moveaxis(x, 2, 0)  # (C, H, W)
    return np.moveaxis(rows @ (planes @ cols.T), 0, 2)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Rounded to the nearest integer and clipped to 0..255."""
    return np.clip(np.round(image), 0, 255).astype(np.uint8)
