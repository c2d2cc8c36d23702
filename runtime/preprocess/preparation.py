"""`runtime.prepare_image`: an image file or array made into one input of a model, exactly as
`python -m runtime predict` makes it, so a Python user reproduces predict without importing
submodules (and without knowing whether the model is a digit model or a resize model)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from ..contract import InputContract
from .images import prepare_image as prepare_image_file
from .images import prepare_pixels

if TYPE_CHECKING:
    from ..model import Model

ARRAY_SHAPES = "(H, W), (H, W, 1) or (H, W, 3)"


def contract_of(model_or_contract: Union[Model, InputContract]) -> InputContract:
    """The input contract of a loaded runtime.Model, or the InputContract itself."""
    if isinstance(model_or_contract, InputContract):
        return model_or_contract
    contract = getattr(model_or_contract, "contract", None)
    if isinstance(contract, InputContract):
        return contract
    raise TypeError(f"model_or_contract: got {type(model_or_contract).__name__}, expected a runtime.Model "
                    "(from runtime.load) or a runtime.InputContract")


def _array_pixels(image: np.ndarray, channels: int) -> np.ndarray:
    """A uint8 array as float32 pixels in the contract's channels: gray to RGB by repetition,
    RGB to gray by Pillow's conversion, which is the one predict applies to an RGB file."""
    if image.dtype != np.uint8:
        raise ValueError(f"image: got an array of dtype {image.dtype}, expected uint8 pixels 0..255")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or min(image.shape[:2]) < 1:
        raise ValueError(f"image: got an array of shape {image.shape}, expected {ARRAY_SHAPES}")
    if channels == 3 and image.ndim == 2:
        image = np.repeat(image[:, :, np.newaxis], 3, axis=2)
    elif channels == 1 and image.ndim == 3:
        try:
            from PIL import Image
        except ImportError as err:
            raise ImportError("turning an RGB array into a grayscale model's input needs Pillow: pip install Pillow") from err
        image = np.asarray(Image.fromarray(image, "RGB").convert("L"))
    return image.astype(np.float32)


def prepare_image(image: Union[str, os.PathLike, np.ndarray], model_or_contract: Union[Model, InputContract],
                  notes: Optional[list] = None) -> np.ndarray:
    """One uint8 input of the model, shaped contract.image_shape, from an image file (a path)
    or a uint8 array shaped (H, W), (H, W, 1) or (H, W, 3): a digit model's MNIST
    normalisation, or any other model's resize, as its contract says. What reading a file
    noticed (an animation's first frame) is appended to `notes` when given.

    Raises runtime.ImageError for a file that cannot be read or an image with no single digit,
    ValueError for an array of another dtype or shape, TypeError for anything else."""
    contract = contract_of(model_or_contract)
    if isinstance(image, (str, os.PathLike)):
        return prepare_image_file(image, contract, notes)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: got {type(image).__name__}, expected a path or a numpy array shaped {ARRAY_SHAPES}")
    return prepare_pixels(_array_pixels(image, contract.channels), contract, "image")
