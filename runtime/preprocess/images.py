"""Image files and arrays to the input a model's contract asks for: `prepare_image`, which is
`runtime.prepare_image`, and what `python -m runtime predict` and `watch` prepare with.

For a digit model ("mnist-digit"): a photo of a handwritten digit becomes the 28x28
image MNIST would have made of it, by `runtime.preprocess.digits` (uneven light, dark edges, ruled
lines and pen width are handled there).

For any other model ("resize"): the image is read in the model's channels (grayscale or
RGB; transparency becomes white) and resized to its height and width, keeping the aspect
ratio by a centre crop or black padding, or stretched, as the contract says.

Pillow decodes the files here (EXIF orientation, 16-bit, palette and alpha: transparent is
paper), and resizes for the resize contracts in runtime.preprocess.resample (its BILINEAR filter).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from ..contract import InputContract
from ..errors import ImageError, one_line
from ..store.files import NotRegularFileError, open_regular
from .digits import normalize_digit

if TYPE_CHECKING:
    from ..model import Model

MAX_PIXELS = 40_000_000
"""Larger images are refused before decoding (a decompression bomb costs memory, not bytes)."""
MAX_ASPECT = 20
"""Images whose longer side is more than this many times the shorter are refused before
decoding: no photo to classify is such a strip, and resizing one costs memory in proportion
to its longer side (a 40-million-pixel line of one pixel would need gigabytes)."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm")
ARRAY_SHAPES = "(H, W), (H, W, 1) or (H, W, 3)"


def _pillow():
    try:
        from PIL import Image, ImageOps
    except ImportError as err:
        raise ImportError("reading image files needs Pillow: pip install Pillow") from err
    return Image, ImageOps


def read_grayscale(path) -> np.ndarray:
    """The file as float32 grayscale 0..255; transparency becomes white paper."""
    return read_pixels(path, "L")


def check_image_size(width: int, height: int, name: str) -> None:
    """ImageError unless a width x height image is within the bounds every image, file or frame,
    is held to before its pixels are decoded: MAX_PIXELS, and no side MAX_ASPECT times the other."""
    if width < 1 or height < 1:
        raise ImageError(f"{name}: refused, {width}x{height} pixels: an image has at least one")
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name}: refused, {width}x{height} pixels is more than the {MAX_PIXELS:,} allowed")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(f"{name}: refused, {width}x{height} pixels: its longer side is more than {MAX_ASPECT} "
                         "times the shorter (a strip, not a photo)")


def read_pixels(path, mode: str = "L", notes: Optional[list] = None) -> np.ndarray:
    """The file as float32 0..255, grayscale (H, W) for mode "L" or (H, W, 3) for "RGB";
    transparency becomes white, EXIF orientation is applied. Only a regular file is opened
    (a FIFO or a device is refused first). An animation is read from its first frame, and
    a sentence saying so is appended to `notes` when given."""
    Image, _ = _pillow()
    path = Path(path)
    try:
        with open_regular(path) as handle, Image.open(handle) as im:
            return image_pixels(im, str(path), mode, notes)
    except ImageError:
        raise
    except FileNotFoundError as err:
        raise ImageError(f"{path}: no such file") from err
    except NotRegularFileError as err:
        raise ImageError(f"{err}; expected an image file") from err
    except Image.UnidentifiedImageError as err:  # Pillow names the open file object; name the path
        raise ImageError(f"{path}: not a readable image (cannot identify image file {str(path)!r})") from err
    except Image.DecompressionBombError as err:
        raise ImageError(f"{path}: refused, more pixels than the {MAX_PIXELS:,} allowed ({one_line(err)})") from err
    except (OSError, ValueError, SyntaxError) as err:  # Pillow's errors for unreadable data
        raise ImageError(f"{path}: not a readable image ({one_line(err)})") from err


def image_pixels(im, name: str, mode: str = "L", notes: Optional[list] = None) -> np.ndarray:
    """An opened Pillow image (its pixels not read yet) as read_pixels returns a file's, after
    check_image_size: a file, a camera's JPEG frame and a still image in `watch` alike. Pillow's
    own errors for data it cannot decode are left to the caller."""
    Image, ImageOps = _pillow()
    width, height = im.size
    check_image_size(width, height, name)
    frames = int(getattr(im, "n_frames", 1))
    if frames > 1 and notes is not None:
        notes.append(f"{name}: has {frames} frames (an animation); only the first is used")
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


def pixel_mode(contract) -> str:
    """The colour mode (Pillow's) in which images are read for this contract."""
    return "RGB" if contract.channels == 3 else "L"


def prepare_pixels(pixels: np.ndarray, contract, name: str) -> np.ndarray:
    """Float 0..255 pixels in the contract's mode (pixel_mode) as one uint8 input of
    `contract`: a digit model's MNIST normalisation (ImageError when it finds no single
    digit, naming `name`), any other model's resize. Files, arrays and frames all end here."""
    if contract.preprocessing == "mnist-digit":
        return normalize_digit(pixels, name).reshape(contract.image_shape)
    return fit_image(pixels, contract)


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
        return prepare_pixels(read_pixels(image, pixel_mode(contract), notes), contract, str(image))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: got {type(image).__name__}, expected a path or a numpy array shaped {ARRAY_SHAPES}")
    return prepare_pixels(_array_pixels(image, contract.channels), contract, "image")


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
