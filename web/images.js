// Image files and drawings to the array a model's input contract asks for: a port of
// `prepare_image` and `fit_image` in runtime/preprocess/images.py. A digit model ("mnist-digit") gets
// MNIST's normalisation (digits.js); any other model ("resize") gets the image in its
// channels, resized to its height and width by a centre crop, black padding or a stretch.
// Decoding is the browser's; everything after it is the runtime's arithmetic.

import { MAX_ASPECT, MAX_PIXELS } from "./constants.js";
import { normalizeDigit } from "./digits.js";
import { pyRound } from "./numeric.js";
import { luma, overWhite } from "./pillow.js";
import { resize, toUint8 } from "./resample.js";

/** An image file cannot be read, or is too large: the message names it. */
export class ImageError extends Error {}

/**
 * The pixels of an image file as RGBA bytes, EXIF orientation applied, no colour management
 * (PNG and JPEG bytes as stored, as Pillow reads them).
 */
export async function decodeImage(blob, name = "image") {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, {
      imageOrientation: "from-image",
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
  } catch (err) {
    throw new ImageError(`${name}: not a readable image (${err.message || err})`);
  }
  const { width, height } = bitmap;
  if (width * height > MAX_PIXELS) {
    bitmap.close();
    throw new ImageError(`${name}: refused, ${width}x${height} pixels is more than the ${MAX_PIXELS.toLocaleString("en")} allowed`);
  }
  if (Math.max(width, height) > MAX_ASPECT * Math.min(width, height)) {
    bitmap.close();
    throw new ImageError(`${name}: refused, ${width}x${height} pixels: its longer side is more than ${MAX_ASPECT} times the shorter (a strip, not a photo)`);
  }
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { rgba: context.getImageData(0, 0, width, height).data, width, height };
}

/**
 * read_pixels: RGBA bytes as float32 0..255, grayscale (channels 1) or RGB (channels 3);
 * transparency becomes white paper (Pillow's alpha_composite, then convert).
 */
export function pixelsFromRgba(rgba, width, height, channels) {
  const out = new Float32Array(width * height * channels);
  for (let i = 0; i < width * height; i++) {
    let r = rgba[i * 4];
    let g = rgba[i * 4 + 1];
    let b = rgba[i * 4 + 2];
    const alpha = rgba[i * 4 + 3];
    if (alpha !== 255) {
      r = overWhite(r, alpha);
      g = overWhite(g, alpha);
      b = overWhite(b, alpha);
    }
    if (channels === 1) {
      out[i] = luma(r, g, b);
    } else {
      out[i * 3] = r;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = b;
    }
  }
  return out;
}

/** fit_image: a float (h, w, channels) image resized to the contract's shape as uint8, by its resize mode. */
export function fitImage(pixels, h, w, contract) {
  const [height, width] = contract.imageShape;
  const channels = contract.channels;
  let out;
  if (contract.resize === "crop") {
    const scale = Math.max(height / h, width / w);
    const cropH = Math.min(h, Math.max(1, pyRound(height / scale)));
    const cropW = Math.min(w, Math.max(1, pyRound(width / scale)));
    const top = Math.floor((h - cropH) / 2);
    const left = Math.floor((w - cropW) / 2);
    const crop = new Float32Array(cropH * cropW * channels);
    for (let y = 0; y < cropH; y++) {
      const from = ((top + y) * w + left) * channels;
      crop.set(pixels.subarray(from, from + cropW * channels), y * cropW * channels);
    }
    out = resize(crop, cropH, cropW, channels, height, width);
  } else if (contract.resize === "pad") {
    const scale = Math.min(height / h, width / w);
    const innerH = Math.min(height, Math.max(1, pyRound(h * scale)));
    const innerW = Math.min(width, Math.max(1, pyRound(w * scale)));
    const top = Math.floor((height - innerH) / 2);
    const left = Math.floor((width - innerW) / 2);
    const inner = resize(pixels, h, w, channels, innerH, innerW);
    out = new Float32Array(height * width * channels);
    for (let y = 0; y < innerH; y++) {
      out.set(inner.subarray(y * innerW * channels, (y + 1) * innerW * channels), ((top + y) * width + left) * channels);
    }
  } else {
    out = resize(pixels, h, w, channels, height, width);
  }
  return toUint8(out);
}

/**
 * prepare_image, from pixels: float32 0..255 (h, w, channels) in the contract's channels to
 * one uint8 input of the contract (its image_shape, row-major).
 */
export function preparePixels(pixels, h, w, contract, name = "image") {
  if (contract.preprocessing === "mnist-digit") {
    return normalizeDigit(pixels, w, h, name);
  }
  return fitImage(pixels, h, w, contract);
}

/** prepare_image: an image file (a Blob) as one uint8 input of the contract. */
export async function prepareFile(blob, contract, name = blob.name || "image") {
  const { rgba, width, height } = await decodeImage(blob, name);
  return preparePixels(pixelsFromRgba(rgba, width, height, contract.channels), height, width, contract, name);
}
