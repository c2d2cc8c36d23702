// Image resampling: a step-by-step port of runtime/resample.py, so that the page resizes
// images as `python -m runtime predict` does. A separable triangle (bilinear) filter whose
// width grows with the reduction factor: shrinking averages every source pixel
// (antialiased), enlarging interpolates bilinearly. Pixel centres sit at i + 0.5.
//
// Images are Float32Array in row-major (H, W, C) order; numbers are stored as float32 at
// the same steps as the numpy code (weights, the horizontal pass, the result).

import { roundHalfEven } from "./numeric.js";

/**
 * The filter of one axis: for each output pixel i, the first input pixel it reads and its
 * float32 weights (runtime.resample.filter_weights, without its zero entries).
 * Output pixel i is centred at (i + 0.5) * scale in input coordinates, scale = sizeIn / sizeOut,
 * and input pixel j weighs max(0, 1 - |j + 0.5 - centre| / support), support = max(scale, 1);
 * each row is normalised to sum to 1.
 */
export function filterWeights(sizeIn, sizeOut) {
  if (!(sizeIn >= 1 && sizeOut >= 1)) {
    throw new RangeError(`resample: sizes must be >= 1, got ${sizeIn} -> ${sizeOut}`);
  }
  const scale = sizeIn / sizeOut;
  const support = Math.max(scale, 1.0);
  const rows = [];
  for (let i = 0; i < sizeOut; i++) {
    const centre = (i + 0.5) * scale;
    const first = Math.max(0, Math.floor(centre - support - 0.5));
    const last = Math.min(sizeIn - 1, Math.ceil(centre + support - 0.5));
    let weights = [];
    let total = 0;
    for (let j = first; j <= last; j++) {
      const w = Math.max(0, 1.0 - Math.abs(j + 0.5 - centre) / support);
      weights.push(w);
      total += w;
    }
    let start = first;
    if (total === 0) {
      // An output pixel between two input centres at the border can miss every triangle
      // when enlarging by a lot; it takes its nearest input pixel.
      start = Math.min(Math.max(Math.floor(centre), 0), sizeIn - 1);
      weights = [1.0];
      total = 1.0;
    }
    rows.push({ start, weights: Float32Array.from(weights, (w) => w / total) });
  }
  return rows;
}

/**
 * float32 (height, width, channels) from a (h, w, channels) image: columns first, then rows,
 * as `rows @ (x @ cols.T)` in runtime.resample.resize.
 */
export function resize(image, h, w, channels, height, width) {
  const cols = filterWeights(w, width);
  const rows = filterWeights(h, height);
  const across = new Float32Array(h * width * channels); // x @ cols.T
  for (let y = 0; y < h; y++) {
    for (let i = 0; i < width; i++) {
      const { start, weights } = cols[i];
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let k = 0; k < weights.length; k++) {
          sum += weights[k] * image[(y * w + start + k) * channels + c];
        }
        across[(y * width + i) * channels + c] = sum;
      }
    }
  }
  const out = new Float32Array(height * width * channels); // rows @ across
  for (let o = 0; o < height; o++) {
    const { start, weights } = rows[o];
    for (let i = 0; i < width; i++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let k = 0; k < weights.length; k++) {
          sum += weights[k] * across[((start + k) * width + i) * channels + c];
        }
        out[(o * width + i) * channels + c] = sum;
      }
    }
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
