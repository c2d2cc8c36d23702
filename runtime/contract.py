"""The input contract: what a caller passes (MNIST's uint8 images) and how it becomes
the model's input (scaled to 0..1, then quantized when the model's input is integer).

Training imports `to_unit_range` from here, so the scaling used to fit the model and the
scaling applied on the device are one piece of code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class InputContract:
    """How raw pixels map to the model's float input, recorded in the manifest."""

    image_shape: tuple = (28, 28)
    """Height and width of one image."""
    pixel_dtype: str = "uint8"
    """What callers pass: MNIST's own storage type."""
    pixel_scale: float = 255.0
    """The model's float input is pixel / pixel_scale, so 0..255 becomes 0..1."""
    polarity: str = "light ink on dark background"
    """MNIST's polarity; photos of dark ink on paper are inverted by the image loader."""

    def to_json(self) -> dict:
        data = asdict(self)
        data["image_shape"] = list(self.image_shape)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "InputContract":
        try:
            return cls(
                image_shape=tuple(int(v) for v in data["image_shape"]),
                pixel_dtype=str(data["pixel_dtype"]),
                pixel_scale=float(data["pixel_scale"]),
                polarity=str(data.get("polarity", cls.polarity)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"input contract {data!r} is malformed: {err}") from err

    def check_shape(self, x: np.ndarray) -> np.ndarray:
        """x as (N, H, W): a single (H, W) image gets a batch axis; other shapes are refused."""
        if x.ndim == len(self.image_shape):
            x = x[np.newaxis]
        if x.shape[1:] != tuple(self.image_shape) or x.ndim != len(self.image_shape) + 1:
            raise ValueError(f"images: got shape {x.shape}, expected {self._expected()}")
        return x

    def _expected(self) -> str:
        h, w = self.image_shape
        return f"uint8 pixels 0..255 or floats in 0..1 shaped (N, {h}, {w}) or ({h}, {w})"

    def scale_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels to the model's float input, element by element."""
        return np.divide(pixels, np.float32(self.pixel_scale), dtype=np.float32)

    def to_unit_range(self, images) -> np.ndarray:
        """Checks images and returns them as float32 (N, H, W) in 0..1.

        uint8 pixels are scaled by 1/pixel_scale. Floats are accepted only when they are
        already in 0..1; everything else is refused with what was expected.
        """
        x = self.check_shape(np.asarray(images))
        if x.dtype == np.uint8:
            return self.scale_pixels(x)
        if x.dtype.kind != "f":
            raise TypeError(f"images: got dtype {x.dtype}, expected {self._expected()}")
        x = x.astype(np.float32)
        if x.size and not np.all(np.isfinite(x)):
            raise ValueError("images: got NaN or infinite values, expected floats in 0..1")
        if x.size and (x.min() < 0.0 or x.max() > 1.0):
            hint = " (pass the uint8 pixels, or divide by 255 first)" if x.max() > 1.0 else ""
            raise ValueError(
                f"images: float values span {x.min():g}..{x.max():g}, expected 0..1{hint}"
            )
        return x


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    """Float to integer with the model's own parameters: q = round(x / scale) + zero_point."""
    if not scale > 0:
        raise ValueError(f"quantize: scale must be > 0, got {scale}")
    info = np.iinfo(dtype)
    q = np.round(x / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer to float: scale * (q - zero_point)."""
    return (np.float32(scale) * (q.astype(np.float32) - np.float32(zero_point))).astype(np.float32)
