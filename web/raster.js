// The image operations of runtime/preprocess/raster.py, each a step-by-step port of the Python it names,
// so that the page's digit normalisation (digits.js) computes exactly what the runtime's does:
// percentiles by rank, block means, running max/min filters and the closings and openings
// made of them, the area-averaging resampler, binary dilation, a stroke width estimate and
// 8-connected components.
//
// Images are { data, width, height } in row-major order: Float32Array for numpy's float32
// arrays (each float32 operation rounded by f32, in numpy's order, sums in numpy's pairwise
// order), Uint8Array of 0/1 for boolean masks; Python floats are JavaScript numbers. Where a
// Python float meets a float32 array in a comparison, numpy rounds it to float32 first (a
// float32 array keeps its type against a Python scalar): so does `above`.
//
// When runtime/preprocess/raster.py changes, port it here again: tests/test_page_js.py runs this code in
// Node on the same images as the Python and holds them to agree bit for bit.

import { f32, pairwiseSum } from "./numeric.js";

/** An image: its values in row-major order and its size. */
export function grid(data, width, height) {
  return { data, width, height };
}

/**
 * percentile: the value at rank floor(q * (n - 1)) of the sorted values, as np.partition
 * finds it (a quickselect here; any selection finds the same value).
 */
export function percentile(values, q) {
  const a = new Float32Array(values);
  const rank = Math.trunc(q * (a.length - 1));
  let lo = 0;
  let hi = a.length - 1;
  for (let rounds = 0; hi > lo; rounds++) {
    if (rounds > 64) return a.subarray(lo, hi + 1).sort()[rank - lo]; // unlucky pivots: sort what is left
    const x = a[lo];
    const y = a[(lo + hi) >> 1];
    const z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y; // median of three
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (rank <= j) hi = j;
    else if (rank >= i) lo = i;
    else return a[rank]; // between the two parts: equal to the pivot
  }
  return a[rank];
}

/** The pixels of a float32 image above a Python float: numpy compares in float32. */
export function above(image, threshold) {
  const limit = f32(threshold);
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = image.data[i] > limit ? 1 : 0;
  return grid(out, image.width, image.height);
}

/** The values of `image` where `mask` is set, in row-major order: image[mask]. */
export function selected(image, mask) {
  let count = 0;
  for (const v of mask.data) count += v;
  const out = new Float32Array(count);
  let k = 0;
  for (let i = 0; i < mask.data.length; i++) if (mask.data[i]) out[k++] = image.data[i];
  return out;
}

export function any(flags) {
  for (const flag of flags) if (flag) return true;
  return false;
}

/**
 * reduce_blocks: means of min(k, height) x min(k, width) blocks, k = ceil(longer side / side),
 * so the result is never larger than side x side whatever the aspect ratio; incomplete
 * blocks dropped.
 */
export function reduceBlocks(image, side) {
  const { data, width, height } = image;
  const k = Math.ceil(Math.max(width, height) / side);
  if (k <= 1) return image;
  const bh = Math.min(k, height);
  const bw = Math.min(k, width);
  const h = Math.floor(height / bh);
  const w = Math.floor(width / bw);
  // .reshape(h * bh, w, bw).sum(axis=2, dtype=np.float32): each run of bw pixels, pairwise
  const rows = new Float32Array(h * bh * w);
  for (let y = 0; y < h * bh; y++) {
    for (let x = 0; x < w; x++) rows[y * w + x] = pairwiseSum(data, f32, y * width + x * bw, bw);
  }
  // the bh rows of each block added one after the other, then / np.float32(bh * bw)
  const out = new Float32Array(h * w);
  const area = f32(bh * bw);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = rows[y * bh * w + x];
      for (let j = 1; j < bh; j++) sum = f32(sum + rows[(y * bh + j) * w + x]);
      out[y * w + x] = f32(sum / area);
    }
  }
  return grid(out, w, h);
}

/** box_mean3: 3x3 mean; at the border, divided by numpy's count_y * count_x. */
export function boxMean3({ data, width: w, height: h }) {
  const at = (y, x) => (y >= 0 && y < h && x >= 0 && x < w ? data[y * w + x] : 0); // np.pad(image, 1)
  const rows = new Float32Array(h * (w + 2)); // padded[:-2] + padded[1:-1] + padded[2:]
  for (let y = 0; y < h; y++) {
    for (let x = -1; x <= w; x++) rows[y * (w + 2) + x + 1] = f32(f32(at(y - 1, x) + at(y, x)) + at(y + 1, x));
  }
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const countY = 3 - (y === 0) - (y === h - 1); // count_y[0] -= 1; count_y[-1] -= 1
    for (let x = 0; x < w; x++) {
      const countX = 3 - (x === 0) - (x === w - 1);
      const r = y * (w + 2) + x;
      const total = f32(f32(rows[r] + rows[r + 1]) + rows[r + 2]);
      out[y * w + x] = f32(total / (countY * countX));
    }
  }
  return grid(out, w, h);
}

/**
 * running_extreme: max (or min) over a centred window of `window` (odd) pixels along `axis`
 * (0: down the columns, 1: along the rows), the window cut at the image border; van Herk /
 * Gil-Werman, as the Python (max and min are exact, so any order gives the same result).
 */
export function runningExtreme({ data, width, height }, window, axis, takeMax) {
  const n = axis === 0 ? height : width;
  const lines = axis === 0 ? width : height;
  const step = axis === 0 ? width : 1;
  const lineStep = axis === 0 ? 1 : width;
  const r = window >> 1;
  const length = Math.ceil((n + 2 * r) / window) * window;
  const padded = new Float32Array(length);
  const forward = new Float32Array(length);
  const backward = new Float32Array(length);
  const out = new Float32Array(data.length);
  const fill = takeMax ? -Infinity : Infinity;
  for (let line = 0; line < lines; line++) {
    const base = line * lineStep;
    padded.fill(fill);
    for (let i = 0; i < n; i++) padded[r + i] = data[base + i * step];
    for (let start = 0; start < length; start += window) {
      let acc = padded[start];
      forward[start] = acc;
      for (let i = start + 1; i < start + window; i++) {
        const v = padded[i];
        acc = takeMax ? (v > acc ? v : acc) : v < acc ? v : acc;
        forward[i] = acc;
      }
      acc = padded[start + window - 1];
      backward[start + window - 1] = acc;
      for (let i = start + window - 2; i >= start; i--) {
        const v = padded[i];
        acc = takeMax ? (v > acc ? v : acc) : v < acc ? v : acc;
        backward[i] = acc;
      }
    }
    for (let x = 0; x < n; x++) {
      const a = backward[x];
      const b = forward[x + window - 1];
      out[base + x * step] = takeMax ? (a > b ? a : b) : a < b ? a : b;
    }
  }
  return grid(out, width, height);
}

/** np.pad(image, r, mode="edge"). */
function padEdge({ data, width, height }, r) {
  const w = width + 2 * r;
  const h = height + 2 * r;
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = Math.min(Math.max(y - r, 0), height - 1) * width;
    for (let x = 0; x < w; x++) out[y * w + x] = data[row + Math.min(Math.max(x - r, 0), width - 1)];
  }
  return grid(out, w, h);
}

/** image[r : r + height, r : r + width]. */
function cropFloat({ data, width }, top, left, h, w) {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) out.set(data.subarray((top + y) * width + left, (top + y) * width + left + w), y * w);
  return grid(out, w, h);
}

/** closing: a max then a min filter, `window` x `window`, on the image extended by its edge pixels. */
export function closing(image, window) {
  return filterPair(image, window, true);
}

/** opening: a min then a max filter, edges extended as in `closing`. */
export function opening(image, window) {
  return filterPair(image, window, false);
}

/** _filter_pair: a max (or min) filter, then the other, on the edge-extended image, cropped back. */
function filterPair(image, window, maxFirst) {
  const r = window >> 1;
  let out = padEdge(image, r);
  for (const takeMax of [maxFirst, !maxFirst]) {
    out = runningExtreme(runningExtreme(out, window, 0, takeMax), window, 1, takeMax);
  }
  return cropFloat(out, r, r, image.height, image.width);
}

/**
 * resample_weights: (nOut, nIn) float64 weights, row-major. Shrinking averages areas (output
 * pixel j covers [j*s, j*s + s), s = nIn / nOut); enlarging interpolates linearly at
 * x = (j + 0.5) * nIn / nOut - 0.5, clamped to [0, nIn - 1].
 */
export function resampleWeights(nIn, nOut) {
  const weights = new Float64Array(nOut * nIn);
  if (nOut <= nIn) {
    const s = nIn / nOut;
    for (let j = 0; j < nOut; j++) {
      const lo = j * s;
      for (let i = 0; i < nIn; i++) weights[j * nIn + i] = Math.max(Math.min(lo + s, i + 1) - Math.max(lo, i), 0) / s;
    }
    return weights;
  }
  for (let j = 0; j < nOut; j++) {
    const x = Math.min(Math.max(((j + 0.5) * nIn) / nOut - 0.5, 0), nIn - 1);
    const i0 = Math.floor(x);
    const i1 = Math.min(i0 + 1, nIn - 1);
    const frac = x - i0;
    weights[j * nIn + i0] += 1 - frac;
    weights[j * nIn + i1] += frac;
  }
  return weights;
}

/** resample: separable, along columns (axis 0), then along rows (axis 1). */
export function resample(image, height, width) {
  return resampleAxis(resampleAxis(image, height, 0), width, 1);
}

/**
 * _resample_axis: float32 weights; each output pixel adds, tap after tap from the first
 * input pixel with a weight, float32(weight * pixel) to a float32 sum starting at 0.
 */
function resampleAxis({ data, width, height }, nOut, axis) {
  const nIn = axis === 0 ? height : width;
  const weights = Float32Array.from(resampleWeights(nIn, nOut));
  const first = new Int32Array(nOut);
  let taps = 0;
  for (let j = 0; j < nOut; j++) {
    let count = 0;
    first[j] = -1;
    for (let i = 0; i < nIn; i++) {
      if (weights[j * nIn + i] > 0) {
        count++;
        if (first[j] < 0) first[j] = i;
      }
    }
    if (first[j] < 0) first[j] = 0; // np.argmax of no True
    taps = Math.max(taps, count);
  }
  const outWidth = axis === 0 ? width : nOut;
  const outHeight = axis === 0 ? nOut : height;
  const out = new Float32Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const j = axis === 0 ? y : x;
      let sum = 0;
      for (let t = 0; t < taps; t++) {
        const i = Math.min(first[j] + t, nIn - 1);
        const weight = first[j] + t >= nIn ? 0 : weights[j * nIn + i];
        const v = axis === 0 ? data[i * width + x] : data[y * width + i];
        sum = f32(sum + f32(weight * v));
      }
      out[y * outWidth + x] = sum;
    }
  }
  return grid(out, outWidth, outHeight);
}

/** resample_max: a binary image shrunk; output pixel j is the OR of input pixels floor(j*s) .. ceil((j+1)*s) - 1. */
export function resampleMax(binary, height, width) {
  let { data, width: w, height: h } = binary;
  const s0 = h / height; // rows
  let out = new Uint8Array(height * w);
  for (let j = 0; j < height; j++) {
    const start = Math.floor(j * s0);
    const stop = Math.min(Math.ceil((j + 1) * s0), h);
    for (let y = start; y < stop; y++) for (let x = 0; x < w; x++) out[j * w + x] |= data[y * w + x];
  }
  data = out;
  h = height;
  const s1 = w / width; // columns
  out = new Uint8Array(height * width);
  for (let j = 0; j < width; j++) {
    const start = Math.floor(j * s1);
    const stop = Math.min(Math.ceil((j + 1) * s1), w);
    for (let y = 0; y < h; y++) for (let x = start; x < stop; x++) out[y * width + j] |= data[y * w + x];
  }
  return grid(out, width, height);
}

const SQUARE = [-1, 0, 1].flatMap((dy) => [-1, 0, 1].map((dx) => [dy, dx]));
const PLUS = [[-1, 0], [0, -1], [0, 0], [0, 1], [1, 0]];

/** dilate: `steps` dilations (or erosions) by a 3x3 square and a plus sign in turn; outside is background. */
export function dilate(binary, steps, grow = true) {
  const { width: w, height: h } = binary;
  let current = binary.data;
  for (let step = 0; step < steps; step++) {
    const shifts = step % 2 ? PLUS : SQUARE;
    const next = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let hit = !grow;
        for (const [dy, dx] of shifts) {
          const yy = y + dy;
          const xx = x + dx;
          const v = yy >= 0 && yy < h && xx >= 0 && xx < w ? current[yy * w + xx] : 0;
          if (grow && v) {
            hit = true;
            break;
          }
          if (!grow && !v) {
            hit = false;
            break;
          }
        }
        next[y * w + x] = hit ? 1 : 0;
      }
    }
    current = next;
  }
  return grid(current, w, h);
}

/** stroke_width: 2 * area / perimeter, the perimeter in pixel edges between ink and background (outside is background). */
export function strokeWidth({ data, width: w, height: h }) {
  let area = 0;
  for (const v of data) area += v;
  if (area === 0) return 0.0;
  const at = (y, x) => (y >= 0 && y < h && x >= 0 && x < w ? data[y * w + x] : 0);
  let edges = 0;
  for (let y = -1; y < h; y++) for (let x = 0; x < w; x++) edges += at(y, x) !== at(y + 1, x) ? 1 : 0;
  for (let y = 0; y < h; y++) for (let x = -1; x < w; x++) edges += at(y, x) !== at(y, x + 1) ? 1 : 0;
  return (2.0 * area) / edges;
}

/** The bounding box of a mask's set pixels, inclusive (np.nonzero's min and max). */
export function inkBounds({ data, width, height }) {
  let top = height;
  let bottom = -1;
  let left = width;
  let right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[y * width + x]) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  return { top, bottom, left, right };
}

/** image[top : bottom + 1, left : right + 1] of any image, as the same kind of array. */
export function cropBox({ data, width }, { top, bottom, left, right }) {
  const w = right - left + 1;
  const h = bottom - top + 1;
  const out = new data.constructor(w * h);
  for (let y = 0; y < h; y++) out.set(data.subarray((top + y) * width + left, (top + y) * width + right + 1), y * w);
  return grid(out, w, h);
}

/** image.T */
export function transpose({ data, width, height }) {
  const out = new data.constructor(data.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[x * height + y] = data[y * width + x];
  return grid(out, height, width);
}

/**
 * label_components: 8-connected components, numbered 1..count by each one's first pixel in
 * row-major order (a flood fill from each first pixel numbers them the same way).
 */
export function labelComponents({ data, width: w, height: h }) {
  const labels = new Int32Array(w * h);
  const stack = new Int32Array(w * h);
  let count = 0;
  for (let start = 0; start < data.length; start++) {
    if (!data[start] || labels[start]) continue;
    count += 1;
    labels[start] = count;
    let size = 0;
    stack[size++] = start;
    while (size) {
      const p = stack[--size];
      const y = Math.floor(p / w);
      const x = p - y * w;
      for (let yy = Math.max(0, y - 1); yy <= Math.min(h - 1, y + 1); yy++) {
        for (let xx = Math.max(0, x - 1); xx <= Math.min(w - 1, x + 1); xx++) {
          const q = yy * w + xx;
          if (data[q] && !labels[q]) {
            labels[q] = count;
            stack[size++] = q;
          }
        }
      }
    }
  }
  return { labels, count };
}
