// The few Pillow operations that runtime/images.py uses, ported from Pillow's C sources
// (src/libImaging: Resample.c, RankFilter.c with Filter.c's ImagingExpand, AlphaComposite.c,
// Convert.c), for images of Pillow's mode "F" (float32, one channel) and for decoding.
// Each function names the Pillow call it stands for.

/** Pillow's resampling filters: the kernel and its support (Resample.c). */
const FILTERS = {
  box: { support: 0.5, kernel: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) },
  lanczos: {
    support: 3.0,
    kernel: (x) => (-3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0),
  },
};

function sinc(x) {
  if (x === 0.0) return 1.0;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

/** Resample.c precompute_coeffs: for each output pixel, its first input pixel and weights. */
function coefficients(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = filter.support * filterscale;
  const inverse = 1.0 / filterscale;
  const rows = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const weights = new Float64Array(Math.max(xmax, 0));
    let total = 0.0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.kernel((x + xmin - center + 0.5) * inverse);
      weights[x] = w;
      total += w;
    }
    if (total !== 0.0) {
      for (let x = 0; x < xmax; x++) weights[x] /= total;
    }
    rows.push({ start: xmin, weights });
  }
  return rows;
}

/**
 * Image.fromarray(float32 array).resize((newWidth, newHeight), filter) for a mode "F" image:
 * a horizontal pass, then a vertical one, each skipped when that size is unchanged; sums in
 * double, stored as float32 (_ImagingResampleHorizontal_32bpc / Vertical_32bpc).
 */
export function resizeF(image, width, height, newWidth, newHeight, filterName) {
  const filter = FILTERS[filterName];
  let current = image;
  let currentWidth = width;
  if (newWidth !== width) {
    const cols = coefficients(width, newWidth, filter);
    const out = new Float32Array(height * newWidth);
    for (let y = 0; y < height; y++) {
      for (let xx = 0; xx < newWidth; xx++) {
        const { start, weights } = cols[xx];
        let sum = 0.0;
        for (let x = 0; x < weights.length; x++) sum += current[y * width + start + x] * weights[x];
        out[y * newWidth + xx] = sum;
      }
    }
    current = out;
    currentWidth = newWidth;
  }
  if (newHeight !== height) {
    const rows = coefficients(height, newHeight, filter);
    const out = new Float32Array(newHeight * currentWidth);
    for (let yy = 0; yy < newHeight; yy++) {
      const { start, weights } = rows[yy];
      for (let x = 0; x < currentWidth; x++) {
        let sum = 0.0;
        for (let y = 0; y < weights.length; y++) sum += current[(start + y) * currentWidth + x] * weights[y];
        out[yy * currentWidth + x] = sum;
      }
    }
    current = out;
  }
  return current === image ? Float32Array.from(image) : current;
}

/**
 * image.filter(ImageFilter.MedianFilter(3)) for a mode "F" image: the border is extended by
 * repeating the edge pixels (ImagingExpand), then each pixel becomes the median of its 3x3
 * neighbourhood (ImagingRankFilter, rank 4 of 9).
 */
export function median3F(image, width, height) {
  const out = new Float32Array(width * height);
  const window = new Float64Array(9);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let n = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const row = Math.min(Math.max(y + dy, 0), height - 1) * width;
        for (let dx = -1; dx <= 1; dx++) {
          // the 3x3 window, edge pixels repeated, insertion-sorted as it is read
          const v = image[row + Math.min(Math.max(x + dx, 0), width - 1)];
          let i = n++;
          while (i > 0 && window[i - 1] > v) {
            window[i] = window[i - 1];
            i--;
          }
          window[i] = v;
        }
      }
      out[y * width + x] = window[4];
    }
  }
  return out;
}

/**
 * Image.alpha_composite(white paper, rgba) for one pixel's colour channel (AlphaComposite.c,
 * its integer arithmetic with 7 bits of extra precision): transparency becomes white.
 */
export function overWhite(value, alpha) {
  if (alpha === 0) return 255;
  const PRECISION_BITS = 7;
  const outa255 = alpha * 255 + 255 * (255 - alpha);
  const coef1 = Math.floor((alpha * 255 * 255 * (1 << PRECISION_BITS)) / outa255);
  const coef2 = 255 * (1 << PRECISION_BITS) - coef1;
  const tmp = value * coef1 + 255 * coef2 + (0x80 << PRECISION_BITS);
  return (((tmp >>> 8) + tmp) >>> 8) >>> PRECISION_BITS;
}

/** Image.convert("L") of one RGB pixel: ITU-R 601-2 luma in Pillow's fixed point (Convert.c L24). */
export function luma(r, g, b) {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}
