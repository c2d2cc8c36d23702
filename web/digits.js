// A photo or a drawing of one handwritten digit to the 28x28 image MNIST would have made of
// it: a step-by-step port of `normalize_digit` in runtime/digits.py, so that the page
// prepares an image exactly as the runtime does. The steps (see runtime/digits.py):
// reduce by block means, ink contrast against a closing of the paper, the digit's 8-connected
// components without frames, lines and specks, stroke weight brought to MNIST's, fitted
// into 20x20 and placed in 28x28 by its centre of mass.
//
// Each function names the Python it ports (the image operations are those of
// runtime/raster.py). Images are { data, width, height } in row-major
// order: Float32Array for numpy's float32 arrays (each float32 operation rounded by f32, in
// numpy's order, sums in numpy's pairwise order), Uint8Array of 0/1 for boolean masks;
// Python floats are JavaScript numbers. Where a Python float meets a float32 array in a
// comparison, numpy rounds it to float32 first (a float32 array keeps its type against a
// Python scalar): so does `above`.
//
// When runtime/digits.py or runtime/raster.py changes, port it here again: tests/test_web.py feeds the same
// images to this code and to the Python and holds them to agree.

import { f32, pairwiseSum, pyFixed, pyPercent, pyRound, roundHalfEven } from "./numeric.js";

// The constants of runtime/digits.py, with the same names and values (its docstrings say
// what each one means).
export const MNIST_SIZE = 28;
export const DIGIT_BOX = 20; // MNIST fits each digit into 20x20 and pads it to 28x28.
export const WORKING_SIDE = 512; // Photos are reduced by an integer block mean until the longer side is at most this.
const BACKGROUND_WINDOW = 1 / 4;
const LIGHT_INK_THIN = 0.5;
const PAPER_PERCENTILE = 0.9;
const DARK_PAPER_FLOOR = 0.5;
const MIN_CONTRAST = 0.12;
const NOISE_SPREADS = 6.0;
const RELATIVE_INK = 0.4;
const STRONG_PERCENTILE = 0.9;
const NO_DIGIT_CONTRAST = 60 / 255;
const FRAME_FILL = 0.7;
const LINE_COVER = 0.3;
const LINE_REACH = 0.7;
const LINE_THICKNESS = 0.02;
const LINE_DARKER = 1.4;
const FRAME_CONTACT = 0.6;
const FRAME_DEPTH = 0.25;
const TOUCH_WEIGHT = 0.25;
const LINE_SPAN = 0.6;
const THIN = 0.08;
const MIN_DIGIT_SIDE = 0.025;
const MIN_AREA = 0.00015;
const GROUP_MARGIN = 0.35;
const GROUP_MIN_MASS = 0.02;
const SECOND_DIGIT_MASS = 0.2;
const SECOND_DIGIT_HEIGHT = 0.6;
const SIDE_BY_SIDE_WIDTH = 0.9;
const TOUCHING_WIDTH = 1.8;
const JOIN_SHARE = 0.4;
const SCALE = 4;
const KEEP_STROKES = [6.75, 12.5];
const MNIST_STROKE = 8.3;
const MAX_ADJUST = 8;

/** An image holds no digit, or two, or is not a grayscale image: the message says which. */
export class DigitError extends Error {}

function grid(data, width, height) {
  return { data, width, height };
}

/**
 * normalize_digit(gray): grayscale float 0..255 (height x width values, row-major, either
 * polarity) to an MNIST-style Uint8Array of 28 x 28. Throws DigitError naming `name` when
 * the image holds no digit, or two side by side.
 */
export function normalizeDigit(gray, width, height, name = "image") {
  if (!(width >= 1 && height >= 1)) {
    throw new DigitError(`${name}: expected a 2-D grayscale image, got shape (${height}, ${width})`);
  }
  if (gray.length !== width * height) {
    throw new DigitError(`${name}: expected a 2-D grayscale image, got ${gray.length} values for shape (${height}, ${width})`);
  }
  const image = grid(gray instanceof Float32Array ? gray : new Float32Array(gray), width, height); // never written to
  if (width === MNIST_SIZE && height === MNIST_SIZE && looksLikeMnist(image.data)) {
    return Uint8Array.from(image.data, roundHalfEven); // np.round(gray).astype(np.uint8)
  }
  const ink = inkContrast(reduceBlocks(image, WORKING_SIDE));
  const { mask, strong } = findDigit(ink, name);
  return centerOfMassPad(digitImage(ink, mask, strong));
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

// ---- numeric building blocks ------------------------------------------------------------

/**
 * percentile: the value at rank floor(q * (n - 1)) of the sorted values, as np.partition
 * finds it (a quickselect here; any selection finds the same value).
 */
function percentile(values, q) {
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
function above(image, threshold) {
  const limit = f32(threshold);
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = image.data[i] > limit ? 1 : 0;
  return grid(out, image.width, image.height);
}

/** The values of `image` where `mask` is set, in row-major order: image[mask]. */
function selected(image, mask) {
  let count = 0;
  for (const v of mask.data) count += v;
  const out = new Float32Array(count);
  let k = 0;
  for (let i = 0; i < mask.data.length; i++) if (mask.data[i]) out[k++] = image.data[i];
  return out;
}

function any(flags) {
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
function boxMean3({ data, width: w, height: h }) {
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
function runningExtreme({ data, width, height }, window, axis, takeMax) {
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
function closing(image, window) {
  return filterPair(image, window, true);
}

/** opening: a min then a max filter, edges extended as in `closing`. */
function opening(image, window) {
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
function resampleWeights(nIn, nOut) {
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
function resample(image, height, width) {
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
function resampleMax(binary, height, width) {
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
function dilate(binary, steps, grow = true) {
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
function strokeWidth({ data, width: w, height: h }) {
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
function inkBounds({ data, width, height }) {
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
function cropBox({ data, width }, { top, bottom, left, right }) {
  const w = right - left + 1;
  const h = bottom - top + 1;
  const out = new data.constructor(w * h);
  for (let y = 0; y < h; y++) out.set(data.subarray((top + y) * width + left, (top + y) * width + right + 1), y * w);
  return grid(out, w, h);
}

/** image.T */
function transpose({ data, width, height }) {
  const out = new data.constructor(data.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[x * height + y] = data[y * width + x];
  return grid(out, height, width);
}

// ---- steps ------------------------------------------------------------------------------

/**
 * ink_contrast: how much darker than the paper each pixel is, 0..1: clip((B - I) / max(B,
 * floor), 0, 1), B the closing of I; light ink on dark is turned round first.
 */
function inkContrast(work) {
  const { width: w, height: h } = work;
  const window = Math.max(3, pyRound(Math.max(w, h) * BACKGROUND_WINDOW) | 1);
  let low = Infinity;
  let high = -Infinity;
  for (const v of work.data) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  if (percentile(work.data, 0.5) < (low + high) / 2) {
    const smooth = boxMean3(work);
    const top = percentile(smooth.data, 0.99);
    const opened = opening(smooth, window).data;
    let smoothLow = Infinity;
    const thin = []; // (smooth - opening(smooth, window))[brightest]
    for (let i = 0; i < smooth.data.length; i++) {
      const v = smooth.data[i];
      smoothLow = Math.min(smoothLow, v);
      if (v >= top) thin.push(f32(v - opened[i]));
    }
    const mean = f32(pairwiseSum(thin, f32) / thin.length); // .mean() of float32: float32 sum / count
    const vanished = mean / Math.max(top - smoothLow, 1.0);
    if (vanished > LIGHT_INK_THIN) {
      const turned = new Float32Array(w * h);
      for (let i = 0; i < turned.length; i++) turned[i] = f32(255.0 - work.data[i]);
      work = grid(turned, w, h);
    }
  }
  const background = closing(work, window).data;
  const paper = percentile(background, PAPER_PERCENTILE);
  const floor = f32(Math.max(DARK_PAPER_FLOOR * paper, 1.0));
  const ink = new Float32Array(w * h);
  for (let i = 0; i < ink.length; i++) {
    const b = background[i];
    const contrast = f32(f32(b - work.data[i]) / (b > floor ? b : floor));
    ink[i] = Math.min(Math.max(contrast, 0), 1);
  }
  return grid(ink, w, h);
}

/**
 * find_digit: { mask of the digit's ink pixels, its strong ink level }, or DigitError.
 * Pass 1 at the paper's noise level, pass 2 also at a share of the digit's strong ink.
 */
function findDigit(ink, name) {
  const low = percentile(ink.data, 0.1);
  const high = percentile(ink.data, 0.3);
  const threshold = Math.max(MIN_CONTRAST, high + NOISE_SPREADS * (high - low));
  let mask = selectDigit(ink, above(ink, threshold), name, false);
  const strong = percentile(selected(ink, mask), STRONG_PERCENTILE);
  if (strong < NO_DIGIT_CONTRAST) {
    throw new DigitError(
      `${name}: no digit found (nothing stands out from the background; contrast ${pyFixed(strong * 255, 0)} of 255)`,
    );
  }
  const second = Math.max(threshold, RELATIVE_INK * strong);
  mask = selectDigit(ink, above(ink, second), name, true);
  return { mask, strong: percentile(selected(ink, mask), STRONG_PERCENTILE) };
}

/**
 * select_digit: the digit's pixels among the ink pixels `mask`: ruled lines removed, frames
 * and specks left out, the candidate with the most ink and those near it; with `refuseTwo`,
 * two digits are a DigitError.
 */
function selectDigit(ink, mask, name, refuseTwo) {
  const { width: w, height: h } = mask;
  const parts = new Components(removeLongLines(mask, ink), ink);
  const noDigit = `${name}: no digit found (only lines, edges or specks stand out)`;
  if (parts.count === 0) throw new DigitError(noDigit);
  const frames = parts.frames();
  const smallest = Math.max(2, MIN_AREA * h * w);
  const candidate = Uint8Array.from(frames, (frame, c) => (parts.area[c] >= smallest && !frame ? 1 : 0));
  if (!any(candidate)) throw new DigitError(noDigit);
  const first = parts.group(candidate);
  const { top, left, bottom, right } = parts.extent(first);
  const size = (Math.max(bottom - top, right - left) + 1) / Math.max(h, w);
  if (size < MIN_DIGIT_SIDE) {
    throw new DigitError(
      `${name}: no digit found (the largest mark is ${pyPercent(size, 1)} of the image's size, too small for a digit)`,
    );
  }
  if (!refuseTwo) return parts.pixels(first);
  const rest = Uint8Array.from(candidate, (c, k) => (c && !first[k] ? 1 : 0));
  if (any(rest)) {
    const second = parts.group(rest);
    if (parts.digitSized(second, first)) {
      throw new DigitError(`${name}: found more than one digit (${parts.describe(first, second)}); crop the photo to one digit`);
    }
  }
  const split = parts.sideBySide(first);
  if (split !== null) {
    throw new DigitError(`${name}: found two digits side by side (${parts.describe(...split)}); crop the photo to one digit`);
  }
  const digit = parts.pixels(first);
  const join = narrowJoin(digit);
  if (join !== null) {
    throw new DigitError(
      `${name}: found two digits side by side (ink ${pyFixed(join[0], 1)} times wider than tall, ` +
        `joined by a thin stroke at ${pyPercent(join[1], 0)} of its width); crop the photo to one digit`,
    );
  }
  return digit;
}

/**
 * Components: the 8-connected components of a mask and what selection needs of each (arrays
 * indexed 0..count-1 for labels 1..count). A set of components is a Uint8Array of 0/1.
 */
class Components {
  constructor(mask, ink) {
    const { width: w, height: h } = mask;
    this.width = w;
    this.height = h;
    const { labels, count } = labelComponents(mask);
    this.labels = labels;
    this.count = count;
    this.area = new Int32Array(count); // pixels
    this.mass = new Float64Array(count); // sum of float32 squared contrast, np.bincount's order
    this.top = new Int32Array(count).fill(h);
    this.left = new Int32Array(count).fill(w);
    this.bottom = new Int32Array(count).fill(-1);
    this.right = new Int32Array(count).fill(-1);
    const sides = new Int32Array(count * 4); // pixels on the top, bottom, left, right side
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const label = labels[y * w + x];
        if (!label) continue;
        const c = label - 1;
        const v = ink.data[y * w + x];
        this.area[c] += 1;
        this.mass[c] += f32(v * v);
        this.top[c] = Math.min(this.top[c], y);
        this.left[c] = Math.min(this.left[c], x);
        this.bottom[c] = Math.max(this.bottom[c], y);
        this.right[c] = Math.max(this.right[c], x);
        if (y === 0) sides[c * 4] += 1;
        if (y === h - 1) sides[c * 4 + 1] += 1;
        if (x === 0) sides[c * 4 + 2] += 1;
        if (x === w - 1) sides[c * 4 + 3] += 1;
      }
    }
    const lengths = [w, w, h, h];
    this.contact = Float64Array.from(sides, (n, k) => n / lengths[k % 4]); // share of each side touched
    this.touches = Uint8Array.from({ length: count }, (_, c) => (sides.subarray(c * 4, c * 4 + 4).some((n) => n > 0) ? 1 : 0));
  }

  /** pixels: mask of the chosen components' pixels. */
  pixels(chosen) {
    const out = new Uint8Array(this.labels.length);
    for (let i = 0; i < out.length; i++) {
      const label = this.labels[i];
      out[i] = label && chosen[label - 1] ? 1 : 0;
    }
    return grid(out, this.width, this.height);
  }

  /** frames: components along the image's edge, and those long and thin. */
  frames() {
    const { width: w, height: h } = this;
    const out = new Uint8Array(this.count);
    for (let c = 0; c < this.count; c++) {
      const height = this.bottom[c] - this.top[c] + 1;
      const width = this.right[c] - this.left[c] + 1;
      const depth = [height / h, height / h, width / w, width / w]; // away from each side
      let along = 0;
      let strip = false;
      for (let s = 0; s < 4; s++) {
        if (this.contact[c * 4 + s] >= FRAME_CONTACT) {
          along += 1;
          if (depth[s] <= FRAME_DEPTH) strip = true;
        }
      }
      const long = height >= LINE_SPAN * h || width >= LINE_SPAN * w;
      const thin = Math.min(height, width) < THIN * Math.max(height, width);
      out[c] = along >= 2 || strip || (long && thin) ? 1 : 0;
    }
    return out;
  }

  /** extent: { mass, top, left, bottom, right } of the chosen components together. */
  extent(chosen) {
    const masses = [];
    let top = Infinity;
    let left = Infinity;
    let bottom = -Infinity;
    let right = -Infinity;
    for (let c = 0; c < this.count; c++) {
      if (!chosen[c]) continue;
      masses.push(this.mass[c]);
      top = Math.min(top, this.top[c]);
      left = Math.min(left, this.left[c]);
      bottom = Math.max(bottom, this.bottom[c]);
      right = Math.max(right, this.right[c]);
    }
    return { mass: pairwiseSum(masses), top, left, bottom, right }; // self.mass[chosen].sum()
  }

  /** group: the candidate with the most ink and the candidates near it (see select_digit). */
  group(candidate) {
    let seed = 0;
    let best = -Infinity;
    for (let c = 0; c < this.count; c++) {
      const weight = candidate[c] ? (this.touches[c] ? TOUCH_WEIGHT : 1.0) * this.mass[c] : -1;
      if (weight > best) {
        best = weight;
        seed = c;
      }
    }
    const group = new Uint8Array(this.count);
    group[seed] = 1;
    const floor = GROUP_MIN_MASS * this.mass[seed];
    const open = Uint8Array.from(candidate, (v, c) => (v && (this.touches[seed] || !this.touches[c]) ? 1 : 0));
    for (;;) {
      const { top: y0, left: x0, bottom: y1, right: x1 } = this.extent(group);
      const margin = GROUP_MARGIN * Math.max(y1 - y0 + 1, x1 - x0 + 1);
      const near = [];
      for (let c = 0; c < this.count; c++) {
        if (open[c] && !group[c] && this.mass[c] >= floor && this.top[c] <= y1 + margin && this.bottom[c] >= y0 - margin &&
            this.left[c] <= x1 + margin && this.right[c] >= x0 - margin) {
          near.push(c);
        }
      }
      if (!near.length) return group;
      for (const c of near) group[c] = 1;
    }
  }

  /** digit_sized: `part` could be a digit of its own beside `other`. */
  digitSized(part, other) {
    const a = this.extent(other);
    const b = this.extent(part);
    return b.mass >= SECOND_DIGIT_MASS * a.mass && b.bottom - b.top + 1 >= SECOND_DIGIT_HEIGHT * (a.bottom - a.top + 1);
  }

  /** side_by_side: [left part, right part] split at the first column gap into two digit-sized parts, or null. */
  sideBySide(group) {
    const { top: t, left: l, bottom: b, right: r } = this.extent(group);
    if (r - l + 1 < SIDE_BY_SIDE_WIDTH * (b - t + 1)) return null;
    const order = [];
    for (let c = 0; c < this.count; c++) if (group[c]) order.push(c);
    order.sort((p, q) => this.left[p] - this.left[q]); // stable, as argsort(kind="stable")
    let reach = -1;
    for (let k = 0; k < order.length - 1; k++) {
      reach = Math.max(reach, this.right[order[k]]);
      if (this.left[order[k + 1]] > reach) {
        const a = new Uint8Array(this.count);
        for (const c of order.slice(0, k + 1)) a[c] = 1;
        const z = Uint8Array.from(group, (v, c) => (v && !a[c] ? 1 : 0));
        if (this.digitSized(a, z) && this.digitSized(z, a)) return [a, z];
      }
    }
    return null;
  }

  describe(a, b) {
    const places = [this.extent(a).left, this.extent(b).left].sort((p, q) => p - q);
    return `ink groups starting at ${pyPercent(places[0] / this.width, 0)} and ${pyPercent(places[1] / this.width, 0)} of the width`;
  }
}

/** _narrow_join: [width / height, place of the narrowest column as a share of the width] of two touching digits, or null. */
function narrowJoin(digit) {
  const { data, width: w } = digit;
  const { top, bottom, left, right } = inkBounds(digit);
  const height = bottom - top + 1;
  const width = right - left + 1;
  if (width < TOUCHING_WIDTH * height) return null;
  const counts = new Int32Array(width);
  for (let y = 0; y < digit.height; y++) for (let x = 0; x < width; x++) counts[x] += data[y * w + left + x];
  const lo = Math.floor(width / 4);
  const hi = width - lo;
  let middle = lo;
  for (let x = lo; x < hi; x++) if (counts[x] < counts[middle]) middle = x;
  if (counts[middle] <= JOIN_SHARE * Math.max(...counts)) return [width / height, middle / width];
  return null;
}

/**
 * remove_long_lines: the mask without ruled lines, horizontal (rows) then vertical (the
 * same on the transposed mask); both passes look at the original mask.
 */
function removeLongLines(mask, ink) {
  const out = mask.data.slice();
  for (const axis of [0, 1]) {
    let drop = axis === 0 ? lineDrop(mask, ink) : lineDrop(transpose(mask), transpose(ink));
    if (drop === null) continue;
    if (axis === 1) drop = transpose(drop);
    for (let i = 0; i < out.length; i++) if (drop.data[i]) out[i] = 0;
  }
  return grid(out, mask.width, mask.height);
}

/** One pass of remove_long_lines: the pixels of the ruled lines along the rows of m to remove, or null. */
function lineDrop(m, e) {
  const { data, width: w, height: h } = m;
  const open = new Uint8Array(w); // columns less than FRAME_FILL full: m.mean(axis=0) < FRAME_FILL
  let openCount = 0;
  let spanFirst = -1;
  let spanLast = -1;
  for (let x = 0; x < w; x++) {
    let full = 0;
    for (let y = 0; y < h; y++) full += data[y * w + x];
    if (full / h < FRAME_FILL) {
      open[x] = 1;
      openCount += 1;
      if (spanFirst < 0) spanFirst = x;
      spanLast = x;
    }
  }
  if (!openCount) return null;
  const span = spanLast - spanFirst + 1;
  const rows = new Uint8Array(h);
  for (let y = 0; y < h; y++) {
    let covered = 0;
    let first = -1;
    let last = -1;
    for (let x = 0; x < w; x++) {
      const widened = open[x] && (data[y * w + x] || (y > 0 && data[(y - 1) * w + x]) || (y < h - 1 && data[(y + 1) * w + x]));
      if (widened) {
        covered += 1;
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) [first, last] = [0, w - 1]; // np.argmax of no True
    rows[y] = covered >= LINE_COVER * openCount && last - first + 1 >= LINE_REACH * span ? 1 : 0;
  }
  const bands = [];
  for (let y = 0; y < h; y++) {
    if (!rows[y] || (y > 0 && rows[y - 1])) continue;
    let end = y;
    while (end < h && rows[end]) end++;
    if (end - y <= LINE_THICKNESS * h + 2) bands.push([y, end]);
  }
  if (!bands.length) return null;
  const onLine = new Uint8Array(w * h);
  for (const [r0, r1] of bands) {
    for (let i = r0 * w; i < r1 * w; i++) onLine[i] = data[i] && open[i % w] ? 1 : 0;
  }
  const lineInk = selected(e, grid(onLine, w, h));
  const darker = lineInk.length ? above(e, LINE_DARKER * percentile(lineInk, 0.9)).data : new Uint8Array(w * h);
  const drop = new Uint8Array(w * h);
  for (const [r0, r1] of bands) {
    for (let x = 0; x < w; x++) {
      let inkAbove = false;
      let inkBelow = false;
      for (let y = Math.max(0, r0 - 3); y < r0; y++) inkAbove ||= data[y * w + x] === 1;
      for (let y = r1; y < Math.min(h, r1 + 3); y++) inkBelow ||= data[y * w + x] === 1;
      if (inkAbove && inkBelow) continue; // a stroke crosses the line here
      for (let y = r0; y < r1; y++) drop[y * w + x] = onLine[y * w + x] && !darker[y * w + x] ? 1 : 0;
    }
  }
  return grid(drop, w, h);
}

/**
 * label_components: 8-connected components, numbered 1..count by each one's first pixel in
 * row-major order (a flood fill from each first pixel numbers them the same way).
 */
function labelComponents({ data, width: w, height: h }) {
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

/**
 * digit_image: the digit at MNIST's stroke weight, fitted into DIGIT_BOX pixels (float 0..255):
 * its own ink when its stroke width is in KEEP_STROKES, else its mask rebuilt at MNIST_STROKE.
 */
function digitImage(ink, mask, strong) {
  const stroke = strokeMask(mask);
  const width = strokeWidth(stroke);
  if (KEEP_STROKES[0] <= width && width <= KEEP_STROKES[1]) {
    const box = inkBounds(mask);
    const inside = cropBox(mask, box).data;
    const level = f32(strong);
    const soft = cropBox(ink, box);
    for (let i = 0; i < soft.data.length; i++) {
      soft.data[i] = inside[i] ? Math.min(Math.max(f32(soft.data[i] / level), 0), 1) : 0;
    }
    return fitBox(soft, DIGIT_BOX);
  }
  const rebuilt = restroke(stroke, width);
  return fitBox(grid(Float32Array.from(rebuilt.data), rebuilt.width, rebuilt.height), DIGIT_BOX);
}

/** stroke_mask: the digit's box of the mask at SCALE * DIGIT_BOX pixels on its longer side. */
function strokeMask(mask) {
  const crop = cropBox(mask, inkBounds(mask));
  const scale = (SCALE * DIGIT_BOX) / Math.max(crop.height, crop.width);
  const height = Math.max(1, pyRound(crop.height * scale));
  const width = Math.max(1, pyRound(crop.width * scale));
  if (scale >= 1) {
    const enlarged = resample(grid(Float32Array.from(crop.data), crop.width, crop.height), height, width);
    return grid(Uint8Array.from(enlarged.data, (v) => (v >= 0.5 ? 1 : 0)), width, height);
  }
  return resampleMax(crop, height, width);
}

/** restroke: the binary digit dilated (or eroded) to a stroke of MNIST_STROKE, cropped to its ink. */
function restroke(stroke, width) {
  const side = Math.max(stroke.width, stroke.height);
  const wanted = pyRound((side * (MNIST_STROKE - width)) / (2 * side - 2 * MNIST_STROKE));
  const steps = Math.min(Math.max(wanted, -MAX_ADJUST), MAX_ADJUST);
  if (steps > 0) {
    const padded = new Uint8Array((stroke.width + 2 * steps) * (stroke.height + 2 * steps));
    const w = stroke.width + 2 * steps;
    for (let y = 0; y < stroke.height; y++) {
      padded.set(stroke.data.subarray(y * stroke.width, (y + 1) * stroke.width), (y + steps) * w + steps);
    }
    stroke = dilate(grid(padded, w, stroke.height + 2 * steps), steps);
  } else if (steps < 0) {
    const thinner = dilate(stroke, -steps, false);
    if (any(thinner.data)) stroke = thinner;
  }
  return cropBox(stroke, inkBounds(stroke));
}

/** fit_box: resized so its longer side is `box` pixels, aspect ratio kept, as float 0..255. */
function fitBox(image, box) {
  const scale = box / Math.max(image.height, image.width);
  const height = Math.max(1, pyRound(image.height * scale));
  const width = Math.max(1, pyRound(image.width * scale));
  const resized = resample(image, height, width);
  return grid(Float32Array.from(resized.data, (v) => Math.min(Math.max(f32(v * 255.0), 0), 255)), width, height);
}

/** center_of_mass_pad: placed in 28x28 with its centre of mass at the centre, rounded to uint8. */
function centerOfMassPad(digit) {
  const { data, width, height } = digit;
  const mass = pairwiseSum(data, f32); // digit.sum(), float32
  let cy = height / 2;
  let cx = width / 2;
  if (mass) {
    // (ys * digit).sum(): int64 times float32 is float64, summed pairwise
    const ys = Float64Array.from(data, (v, i) => Math.floor(i / width) * v);
    const xs = Float64Array.from(data, (v, i) => (i % width) * v);
    cy = pairwiseSum(ys) / mass;
    cx = pairwiseSum(xs) / mass;
  }
  let top = pyRound((MNIST_SIZE - 1) / 2 - cy);
  let left = pyRound((MNIST_SIZE - 1) / 2 - cx);
  top = Math.min(Math.max(top, 0), MNIST_SIZE - height);
  left = Math.min(Math.max(left, 0), MNIST_SIZE - width);
  const canvas = new Uint8Array(MNIST_SIZE * MNIST_SIZE);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) canvas[(top + y) * MNIST_SIZE + left + x] = roundHalfEven(data[y * width + x]);
  }
  return canvas;
}
