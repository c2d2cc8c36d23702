/* ---- Fixed-point arithmetic -------------------------------------------------------------
 * TFLite's reference kernels rescale int32 accumulators with gemmlowp's fixed-point
 * helpers: a rounding doubling high multiply, then a rounding right shift ("double
 * rounding", TFLite Micro's default). They are written out here so that every result is
 * the same bit for bit. Additions that gemmlowp lets wrap are done on uint32_t, where C
 * defines the wrap; converting back to int32_t assumes two's complement, as TFLite does.
 * Right shifts of negative values are arithmetic on every compiler this targets. */

// unit wrapping_add
/* a + b, wrapping modulo 2^32. */
static int32_t wrapping_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

// unit wrapping_sub
/* a - b, wrapping modulo 2^32. */
static int32_t wrapping_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

// unit sat_rounding_doubling_high_mul
/* round(a * b / 2^31), saturating the one overflowing case (INT32_MIN * INT32_MIN). */
static int32_t sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
  const int64_t ab = (int64_t)a * (int64_t)b;
  const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  if (a == b && a == INT32_MIN) return INT32_MAX;
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

// unit rounding_divide_by_pot
/* x / 2^exponent, rounded to nearest, ties away from zero (0 <= exponent <= 31). */
static int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// unit saturating_left_shift
/* x * 2^exponent, saturating to int32 (exponent > 0). */
static int32_t saturating_left_shift(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

// unit multiply_by_quantized_multiplier needs sat_rounding_doubling_high_mul rounding_divide_by_pot
/* x * multiplier * 2^shift, multiplier a Q0.31 fraction in [0.5, 1): TFLite's
 * MultiplyByQuantizedMultiplier with double rounding. */
static int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  const int32_t shifted = (int32_t)((uint32_t)x << left_shift);
  return rounding_divide_by_pot(sat_rounding_doubling_high_mul(shifted, multiplier), right_shift);
}

// unit clamp_int32
static int32_t clamp_int32(int32_t x, int32_t low, int32_t high) {
  return x < low ? low : (x > high ? high : x);
}
