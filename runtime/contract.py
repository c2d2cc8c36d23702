"""The input contract: what a caller passes (uint8 images of one shape) and how pixels
become the model's input, x = (pixel / pixel_scale - mean) / std, quantized afterwards when
the model's input tensor is integer. It also says how an image file is prepared: MNIST's
digit normalisation, or a plain resize.

The contract is recorded in the manifest and inside every exported file. Training and
conversion call `model_input` from here, so the scaling used to fit or calibrate a model
and the one applied on the device are one piece of code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PREPROCESSING = ("mnist-digit", "resize")
"""How an image file becomes an array: MNIST's normalisation of a handwritten digit, or a resize."""
RESIZE_MODES = ("crop", "pad", "stretch")
"""crop: aspect ratio kept, centre crop; pad: aspect ratio kept, black borders; stretch: not kept."""
MNIST_POLARITY = "light ink on dark background"
MNIST_SHAPE = (28, 28)


@dataclass(frozen=True)
class InputContract:
    """How raw pixels map to the model's input; recorded in the manifest and the file."""

    image_shape: tuple = MNIST_SHAPE
    """(H, W) or (H, W, C) of one image, C being 1 or 3; a batch adds a leading N."""
    pixel_dtype: str = "uint8"
    """What callers pass."""
    pixel_scale: float = 255.0
    """The model's input is pixel / pixel_scale (255: 0..1; 1: the model rescales itself)."""
    mean: tuple = ()
    """Subtracted after scaling: one value, or one per channel; empty means 0."""
    std: tuple = ()
    """Divides after the mean is subtracted: one value, or one per channel; empty means 1."""
    preprocessing: str = "mnist-digit"
    """How `predict` prepares an image file: one of PREPROCESSING."""
    resize: str = "crop"
    """For preprocessing "resize": one of RESIZE_MODES."""
    polarity: str = MNIST_POLARITY
    """For "mnist-digit": MNIST's polarity (photos of dark ink on paper are inverted)."""

    def __post_init__(self):
        shape = tuple(int(v) for v in self.image_shape)
        object.__setattr__(self, "image_shape", shape)
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(shape) not in (2, 3) or min(shape) < 1 or (len(shape) == 3 and shape[2] not in (1, 3)):
            raise ValueError(f"image_shape: got {shape}, expected (H, W) or (H, W, C) with C 1 or 3")
        if self.pixel_dtype != "uint8":
            raise ValueError(f"pixel_dtype: got {self.pixel_dtype!r}, expected 'uint8'")
        if not (np.isfinite(self.pixel_scale) and self.pixel_scale > 0):
            raise ValueError(f"pixel_scale: got {self.pixel_scale}, expected a number > 0 and finite")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (0, 1, self.channels):
                raise ValueError(f"{name}: got {len(values)} values, expected 1 or {self.channels} (one per channel)")
            if not all(np.isfinite(values)):
                raise ValueError(f"{name}: got {list(values)}, expected finite numbers")
        if any(not v > 0 for v in self.std):
            raise ValueError(f"std: got {list(self.std)}, expected numbers > 0")
        if self.preprocessing not in PREPROCESSING:
            raise ValueError(f"preprocessing: got {self.preprocessing!r}, expected one of {', '.join(PREPROCESSING)}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize: got {self.resize!r}, expected one of {', '.join(RESIZE_MODES)}")
        if self.preprocessing == "mnist-digit" and (shape[:2] != MNIST_SHAPE or self.channels != 1):
            raise ValueError(f"preprocessing 'mnist-digit' makes 28x28 grayscale images; the image shape is {shape}")

    @property
    def channels(self) -> int:
        return self.image_shape[2] if len(self.image_shape) == 3 else 1

    @property
    def max_float(self) -> float:
        """The largest value of pixel / pixel_scale: floats passed to predict must lie in 0..this."""
        return 255.0 / self.pixel_scale

    def to_json(self) -> dict:
        data = {
            "image_shape": list(self.image_shape),
            "pixel_dtype": self.pixel_dtype,
            "pixel_scale": self.pixel_scale,
            "mean": list(self.mean),
            "std": list(self.std),
            "preprocessing": self.preprocessing,
        }
        if self.preprocessing == "resize":
            data["resize"] = self.resize
        else:
            data["polarity"] = self.polarity
        return data

    @classmethod
    def from_json(cls, data: dict) -> "InputContract":
        """Also reads manifests written before user models existed (no preprocessing: MNIST's)."""
        try:
            return cls(
                image_shape=tuple(int(v) for v in data["image_shape"]),
                pixel_dtype=str(data.get("pixel_dtype", "uint8")),
                pixel_scale=float(data.get("pixel_scale", 255.0)),
                mean=tuple(data.get("mean") or ()),
                std=tuple(data.get("std") or ()),
                preprocessing=str(data.get("preprocessing", "mnist-digit")),
                resize=str(data.get("resize", "crop")),
                polarity=str(data.get("polarity", MNIST_POLARITY)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"input contract {data!r} is malformed: {err}") from err

    def formula(self) -> str:
        """The model's input in terms of the pixel: "pixel / 255", "(pixel / 1 - 0.5) / 0.2"."""
        formula = f"pixel / {self.pixel_scale:g}"
        if self.mean:
            formula = f"{formula} - {_values(self.mean)}"
        if self.std:
            formula = f"({formula}) / {_values(self.std)}" if self.mean else f"{formula} / {_values(self.std)}"
        return formula

    def describe(self) -> str:
        """One line: what to pass and what the model receives."""
        text = f"uint8 pixels {self.image_shape}, model input = {self.formula()}"
        if self.preprocessing == "mnist-digit":
            return f"{text}, {self.polarity}"
        return text

    def describe_preprocessing(self) -> str:
        """How `predict` turns an image file into this contract's array."""
        if self.preprocessing == "mnist-digit":
            return ("MNIST digit normalisation: paper and shadows removed, the digit found among lines and "
                    "specks, strokes brought to MNIST's weight, fitted into 20x20, centred by mass in 28x28")
        h, w = self.image_shape[:2]
        colour = {1: "grayscale", 3: "RGB"}[self.channels]
        how = {"crop": "aspect ratio kept, centre-cropped", "pad": "aspect ratio kept, padded with black",
               "stretch": "stretched (aspect ratio not kept)"}[self.resize]
        return f"resized to {w}x{h} {colour}: {how}"

    def check_shape(self, x: np.ndarray) -> np.ndarray:
        """x as (N, *image_shape): a single image gets a batch axis; a missing or extra
        channel axis of size 1 is added or dropped; other shapes are refused."""
        shape = self.image_shape
        if x.shape == shape:
            return x[np.newaxis]
        if x.shape[1:] == shape:
            return x
        if self.channels == 1 and len(shape) == 3 and x.shape[-2:] == shape[:2] and x.ndim in (2, 3):
            return self.check_shape(x[..., np.newaxis])
        if len(shape) == 2 and x.ndim in (3, 4) and x.shape[-1] == 1 and x.shape[-3:-1] == shape:
            return self.check_shape(x[..., 0])
        raise ValueError(f"images: got shape {x.shape}, expected {self._expected()}")

    def _expected(self) -> str:
        dims = ", ".join(map(str, self.image_shape))
        return f"uint8 pixels 0..255 or floats in 0..{self.max_float:g} shaped (N, {dims}) or ({dims})"

    def scale_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels to the model's float input, element by element."""
        x = np.divide(pixels, np.float32(self.pixel_scale), dtype=np.float32)
        return self._normalise(x)

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        if self.mean:
            x = np.subtract(x, np.asarray(self.mean, np.float32), dtype=np.float32)
        if self.std:
            x = np.divide(x, np.asarray(self.std, np.float32), dtype=np.float32)
        return x

    def model_input(self, images) -> np.ndarray:
        """Checks images and returns the model's float32 input (N, *image_shape).

        uint8 pixels are scaled as the contract says. Floats are taken as pixel /
        pixel_scale already and accepted only in 0..max_float; mean and std are then
        applied. Everything else is refused with what was expected."""
        x = self.check_shape(np.asarray(images))
        if x.dtype == np.uint8:
            return self.scale_pixels(x)
        return self._normalise(self.check_floats(x))

    def check_floats(self, x: np.ndarray) -> np.ndarray:
        """Float images (N, *image_shape) as float32, refused unless finite and in 0..max_float."""
        if x.dtype.kind != "f":
            raise TypeError(f"images: got dtype {x.dtype}, expected {self._expected()}")
        x = x.astype(np.float32)
        if x.size and not np.all(np.isfinite(x)):
            raise ValueError(f"images: got NaN or infinite values, expected floats in 0..{self.max_float:g}")
        if x.size and (x.min() < 0.0 or x.max() > self.max_float):
            hint = f" (pass the uint8 pixels, or divide by {self.pixel_scale:g} first)" if x.max() > self.max_float else ""
            raise ValueError(
                f"images: float values span {x.min():g}..{x.max():g}, expected 0..{self.max_float:g}{hint}"
            )
        return x


def _values(values: tuple) -> str:
    return f"{values[0]:g}" if len(values) == 1 else "(" + ", ".join(f"{v:g}" for v in values) + ")"


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    """Float to integer with the model's own parameters: q = round(x / scale) + zero_point."""
    if not scale > 0:
        raise ValueError(f"quantize: scale must be > 0, got {scale}")
    info = np.iinfo(dtype)
    q = np.round(x / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer to float: scale * (q - zero_point), in float32, in one new array."""
    x = np.asarray(q).astype(np.float32)
    np.subtract(x, np.float32(zero_point), out=x)
    np.multiply(x, np.float32(scale), out=x)
    return x
