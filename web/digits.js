// MNIST's digit normalisation: a step-by-step port of `to_mnist` in runtime/images.py, so
// that a drawing or a photo on this page becomes the same 28x28 image the runtime makes.
// Light-on-dark polarity, crop to the ink, fit into 20x20 keeping the aspect ratio, place in
// 28x28 with the centre of mass at the centre. Each function names the Python it ports;
// float32 values are rounded to float32 (f32) where numpy computes in float32.
//
// When runtime/images.py changes, port it here again: tests/test_web.py feeds the same
// images to this code and to the Python and holds them to agree.

import { median3F, resizeF } from "./pillow.js";
import { f32, pyRound, roundHalfEven } from "./numeric.js";

export const MNIST_SIZE = 28;
export const DIGIT_BOX = 20; // MNIST fits each digit into 20x20 and pads it to 28x28.
export const MIN_CONTRAST = 60; // Ink must differ from paper by this much (0..255).
export const INK_FRACTION = 0.35; // Below this share of the strongest ink: paper.
export const WORKING_SIZE = 1024; // Photos are reduced to this longer side first.

/** An image holds no digit, or is not a grayscale image: the message says which. */
export class DigitError extends Error {}

/**
 * to_mnist(gray): grayscale float 0..255 (Float32Array, height x width, either polarity)
 * to an MNIST-style Uint8Array of 28 x 28.
 */
export function toMnist(gray, width, height, name = "image") {
  if (!(width >= 1 && height >= 1) || gray.length !== width * height) {
    throw new DigitError(`${name}: expected a 2-D grayscale image, got ${gray.length} values for ${width}x${height}`);
  }
  if (width === MNIST_SIZE && height === MNIST_SIZE && looksLikeMnist(gray)) {
    return Uint8Array.from(gray, Math.trunc); // gray.astype(np.uint8)
  }
  ({ gray, width, height } = shrink(gray, width, height, WORKING_SIZE));
  let paper = median(gray);
  let lowest = Infinity;
  let highest = -Infinity;
  for (const v of gray) {
    lowest = Math.min(lowest, v);
    highest = Math.max(highest, v);
  }
  if (paper > f32(f32(lowest + highest) / 2)) {
    // dark ink on light paper: make it light on dark
    gray = Float32Array.from(gray, (v) => 255.0 - v);
    paper = 255.0 - paper;
  }
  // The median pixel is paper; specks are dropped: _median3(np.clip(gray - paper, 0, None))
  const paper32 = f32(paper);
  const lifted = Float32Array.from(gray, (v) => Math.max(f32(v - paper32), 0));
  const ink = median3F(lifted, width, height);
  let strongest = 0;
  for (const v of ink) strongest = Math.max(strongest, v);
  if (strongest < MIN_CONTRAST) {
    throw new DigitError(
      `${name}: no digit found (nothing stands out from the background; contrast ${strongest.toFixed(0)} of 255)`,
    );
  }
  const threshold = f32(INK_FRACTION * strongest); // ink[ink < INK_FRACTION * strongest] = 0
  for (let i = 0; i < ink.length; i++) {
    if (ink[i] < threshold) ink[i] = 0;
  }
  const box = inkBox(ink, width, height);
  const gain = f32(255.0 / strongest);
  const cropWidth = box.right - box.left + 1;
  const cropHeight = box.bottom - box.top + 1;
  const digit = new Float32Array(cropWidth * cropHeight);
  for (let y = 0; y < cropHeight; y++) {
    for (let x = 0; x < cropWidth; x++) {
      digit[y * cropWidth + x] = f32(ink[(box.top + y) * width + box.left + x] * gain);
    }
  }
  const fitted = fit(digit, cropWidth, cropHeight, DIGIT_BOX);
  return centerOfMassPad(fitted.image, fitted.width, fitted.height);
}

/** _looks_like_mnist: already 28x28 light-on-dark with a dark border. */
function looksLikeMnist(gray) {
  let border = -Infinity;
  let highest = -Infinity;
  for (let y = 0; y < MNIST_SIZE; y++) {
    for (let x = 0; x < MNIST_SIZE; x++) {
      const v = gray[y * MNIST_SIZE + x];
      highest = Math.max(highest, v);
      if (y === 0 || y === MNIST_SIZE - 1 || x === 0 || x === MNIST_SIZE - 1) border = Math.max(border, v);
    }
  }
  return border < 32 && highest > 128;
}

/** _shrink: large photos are reduced (Pillow BOX) so the longer side is at most `size`. */
function shrink(gray, width, height, size) {
  if (Math.max(width, height) <= size) return { gray, width, height };
  const scale = size / Math.max(width, height);
  const newWidth = Math.max(1, pyRound(width * scale));
  const newHeight = Math.max(1, pyRound(height * scale));
  return { gray: resizeF(gray, width, height, newWidth, newHeight, "box"), width: newWidth, height: newHeight };
}

/** _median: the median pixel, np.partition(flat, n // 2)[n // 2]. */
function median(values) {
  const sorted = Float32Array.from(values).sort();
  return sorted[sorted.length >> 1];
}

/** The rows and columns that hold ink: np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0)). */
function inkBox(ink, width, height) {
  let top = height;
  let bottom = -1;
  let left = width;
  let right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] !== 0) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  return { top, bottom, left, right };
}

/** _fit: resized (Pillow LANCZOS) so the longer side is `box` pixels, clipped to 0..255. */
function fit(digit, width, height, box) {
  const scale = box / Math.max(height, width);
  const newWidth = Math.max(1, pyRound(width * scale));
  const newHeight = Math.max(1, pyRound(height * scale));
  const resized = resizeF(digit, width, height, newWidth, newHeight, "lanczos");
  const image = Float32Array.from(resized, (v) => Math.min(Math.max(v, 0), 255));
  return { image, width: newWidth, height: newHeight };
}

/** _center_of_mass_pad: placed in 28x28 so that its centre of mass is at the centre. */
function centerOfMassPad(digit, width, height) {
  let mass = 0;
  let sumY = 0;
  let sumX = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = digit[y * width + x];
      mass += v;
      sumY += y * v;
      sumX += x * v;
    }
  }
  mass = f32(mass); // digit.sum() is float32
  const cy = mass ? sumY / mass : height / 2;
  const cx = mass ? sumX / mass : width / 2;
  let top = pyRound((MNIST_SIZE - 1) / 2 - cy);
  let left = pyRound((MNIST_SIZE - 1) / 2 - cx);
  top = Math.min(Math.max(top, 0), MNIST_SIZE - height);
  left = Math.min(Math.max(left, 0), MNIST_SIZE - width);
  const canvas = new Uint8Array(MNIST_SIZE * MNIST_SIZE);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      canvas[(top + y) * MNIST_SIZE + left + x] = roundHalfEven(digit[y * width + x]); // np.round(canvas)
    }
  }
  return canvas;
}
