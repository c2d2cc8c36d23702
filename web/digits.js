// A photo or a drawing of one handwritten digit to the 28x28 image MNIST would have made of
// it: a step-by-step port of `normalize_digit` in runtime/preprocess/digits.py, so that the page
// prepares an image exactly as the runtime does. The steps (see runtime/preprocess/digits.py):
// reduce by block means, ink contrast against a closing of the paper, the digit's 8-connected
// components without frames, lines and specks, stroke weight brought to MNIST's, fitted
// into 20x20 and placed in 28x28 by its centre of mass.
//
// Each function names the Python it ports; the image operations are those of runtime/preprocess/raster.py
// (raster.js), the components and their selection rules digits.py's Components (components.js),
// the tuning constants runtime/preprocess/digits.py's own (constants.js, generated from it). Images are { data, width, height }
// as raster.js describes.
//
// When runtime/preprocess/digits.py changes, port it here again: tests/test_page_js.py runs this code in
// Node on the same images as the Python, and tests/test_web.py in Chromium on image files, and
// both hold them to agree.

import { BACKGROUND_WINDOW, DARK_PAPER_FLOOR, DIGIT_BOX, FRAME_FILL, KEEP_STROKES, LIGHT_INK_THIN, LINE_COVER,
  LINE_DARKER, LINE_REACH, LINE_THICKNESS, MAX_ADJUST, MIN_AREA, MIN_CONTRAST, MIN_DIGIT_SIDE, MNIST_SIZE, MNIST_STROKE,
  NO_DIGIT_CONTRAST, NOISE_SPREADS, PAPER_PERCENTILE, RELATIVE_INK, SCALE, STRONG_PERCENTILE, WORKING_SIDE } from "./constants.js";
import { Components, narrowJoin } from "./components.js";
import { f32, pairwiseSum, pyFixed, pyPercent, pyRound, roundHalfEven } from "./numeric.js";
import { above, any, boxMean3, closing, cropBox, dilate, grid, inkBounds, opening, percentile, reduceBlocks, resample,
  resampleMax, selected, strokeWidth, transpose } from "./raster.js";

/** An image holds no digit, or two, or is not a grayscale image: the message says which. */
export class DigitError extends Error {}

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
