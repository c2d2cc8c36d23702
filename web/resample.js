// Image resizing for the resize contracts: a step-by-step port of Pillow's BILINEAR filter
// on float32 images (src/libImaging/Resample.c: precompute_coeffs and the 32bpc passes),
// which runtime/preprocess/resample.py calls, so that the page resizes images as `python -m runtime
// predict` does, to the bit. A separable triangle filter whose width grows with the
// reduction factor: shrinking averages every source pixel (antialiased), enlarging
// interpolates linearly. Pixel centres sit at i + 0.5.
//
// Images are Float32Array in row-major (H, W, C) order. As in Pillow, the weights and the
// sums are doubles (JavaScript numbers), and each pass is stored as float32: the horizontal
// pass first, then the vertical one; an axis whose size does not change is not resampled.

import { roundHalfEven } from "./numeric.js";

/**
 * precompute_coeffs: for each output pixel i, the first input pixel it reads and its weights.
 * Output pixel i is centred at (i + 0.5) * scale, scale = sizeIn / sizeOut; input pixels
 * trunc(centre - support + 0.5) .. trunc(centre + support + 0.5) - 1 (within the image),
 * support = max(scale, 1), weigh triangle((j - centre + 0.5) / max(scale, 1)), normalised
 * to sum to 1.
 */
export function filterWeights(sizeIn, sizeOut) {
  if (!(sizeIn >= 1 && sizeOut >= 1)) {
    throw new RangeError(`resize: sizes must be >= 1, got ${sizeIn} -> ${sizeOut}`);
  }
  const scale = sizeIn / sizeOut;
  const filterScale = Math.max(scale, 1.0);
  const support = 1.0 * filterScale; // BILINEAR's support is 1
  const ss = 1.0 / filterScale;
  const rows = [];
  for (let i = 0; i < sizeOut; i++) {
    const centre = (i + 0.5) * scale;
    const start = Math.max(Math.trunc(centre - support + 0.5), 0);
    const stop = Math.min(Math.trunc(centre + support + 0.5), sizeIn);
    const weights = new Float64Array(Math.max(stop - start, 0));
    let total = 0.0;
    for (let k = 0; k < weights.length; k++) {
      const x = Math.abs((start + k - centre + 0.5) * ss); // bilinear_filter
      weights[k] = x < 1.0 ? 1.0 - x : 0.0;
      total += weights[k];
    }
    if (total !== 0.0) for (let k = 0; k < weights.length; k++) weights[k] /= total;
    rows.push({ start, weights });
  }
  return rows;
}

/** float32 (height, width, channels) from a (h, w, channels) image: ImagingResampleInner, horizontal pass first. */
export function resize(image, h, w, channels, height, width) {
  let out = Float32Array.from(image);
  if (width !== w) {
    const cols = filterWeights(w, width);
    const across = new Float32Array(h * width * channels);
    for (let y = 0; y < h; y++) {
      for (let i = 0; i < width; i++) {
        const { start, weights } = cols[i];
        for (let c = 0; c < channels; c++) {
          let sum = 0.0;
          for (let k = 0; k < weights.length; k++) sum += out[(y * w + start + k) * channels + c] * weights[k];
          across[(y * width + i) * channels + c] = sum;
        }
      }
    }
    out = across;
  }
  if (height !== h) {
    const rows = filterWeights(h, height);
    const down = new Float32Array(height * width * channels);
    for (let o = 0; o < height; o++) {
      const { start, weights } = rows[o];
      for (let i = 0; i < width * channels; i++) {
        let sum = 0.0;
        for (let k = 0; k < weights.length; k++) sum += out[(start + k) * width * channels + i] * weights[k];
        down[o * width * channels + i] = sum;
      }
    }
    out = down;
  }
  return out;
}

/** Rounded to the nearest integer (halves to even, as np.round) and clipped to 0..255. */
export function toUint8(image) {
  const out = new Uint8Array(image.length);
  for (let i = 0; i < image.length; i++) {
    out[i] = Math.min(255, Math.max(0, roundHalfEven(image[i])));
  }
  return out;
}
