// The 8-connected components of the ink and what the digit's selection needs of each: a
// port of the Components class and _narrow_join in runtime/preprocess/digits.py (select_digit uses
// them in digits.js). The Python says what each rule means; the constants are its own
// (constants.js, generated from it).

import { FRAME_CONTACT, FRAME_DEPTH, GROUP_MARGIN, GROUP_MIN_MASS, JOIN_SHARE, LINE_SPAN, SECOND_DIGIT_HEIGHT,
  SECOND_DIGIT_MASS, SIDE_BY_SIDE_WIDTH, THIN, TOUCH_WEIGHT, TOUCHING_WIDTH } from "./constants.js";
import { f32, pairwiseSum, pyPercent } from "./numeric.js";
import { grid, inkBounds, labelComponents } from "./raster.js";

/**
 * Components: the 8-connected components of a mask and what selection needs of each (arrays
 * indexed 0..count-1 for labels 1..count). A set of components is a Uint8Array of 0/1.
 */
export class Components {
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
export function narrowJoin(digit) {
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
