// The Pillow operations that runtime/preprocess/images.py uses to decode an image file (read_pixels):
// transparency composited over white paper and RGB converted to grayscale, ported from
// Pillow's C sources (src/libImaging: AlphaComposite.c, Convert.c). Each function names the
// Pillow call it stands for.

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
