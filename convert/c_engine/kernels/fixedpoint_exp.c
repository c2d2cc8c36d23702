/* ---- Fixed-point exp and 1/(1+x) (gemmlowp's), for SOFTMAX and LOGISTIC -------------------
 * Values are Qm.n fixed-point numbers in an int32_t: m integer bits, 31 - m fractional
 * bits. These are gemmlowp's exp_on_negative_values and one_over_one_plus_x_for_x_in_0_1,
 * step for step, so that the results equal TFLite Micro's bit for bit. */

// unit fixedpoint_one
#define FIXEDPOINT_ONE_Q0 INT32_MAX /* 1.0 in Q0.31, as gemmlowp rounds it */

// unit exp_on_interval needs wrapping_add sat_rounding_doubling_high_mul rounding_divide_by_pot
/* exp(a) for a in [-1/4, 0), a in Q0.31: a Taylor expansion around -1/8. */
static int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
  const int32_t constant_term = 1895147668;  /* exp(-1/8) in Q0.31 */
  const int32_t constant_1_over_3 = 715827883;
  const int32_t x = wrapping_add(a, 1 << 28); /* a + 1/8 */
  const int32_t x2 = sat_rounding_doubling_high_mul(x, x);
  const int32_t x3 = sat_rounding_doubling_high_mul(x2, x);
  const int32_t x4 = sat_rounding_doubling_high_mul(x2, x2);
  const int32_t x4_over_4 = rounding_divide_by_pot(x4, 2);
  const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 = rounding_divide_by_pot(
      wrapping_add(sat_rounding_doubling_high_mul(wrapping_add(x4_over_4, x3), constant_1_over_3), x2), 1);
  return wrapping_add(constant_term,
                      sat_rounding_doubling_high_mul(constant_term,
                                                     wrapping_add(x, x4_over_24_plus_x3_over_6_plus_x2_over_2)));
}

// unit exp_on_negative_values needs exp_on_interval wrapping_sub saturating_left_shift fixedpoint_one
/* exp(a) for a <= 0, a in Q(integer_bits); the result in Q0.31. */
static int32_t exp_on_negative_values(int32_t a, int integer_bits) {
  /* exp(-2^-2), exp(-2^-1), exp(-1), exp(-2), exp(-4), exp(-8), exp(-16), in Q0.31 */
  static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int fractional_bits = 31 - integer_bits;
  const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
  const int32_t a_mod_quarter_minus_one_quarter = wrapping_sub(a & (one_quarter - 1), one_quarter);
  const int32_t remainder = wrapping_sub(a_mod_quarter_minus_one_quarter, a);
  int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
      integer_bits > 0 ? saturating_left_shift(a_mod_quarter_minus_one_quarter, integer_bits)
                       : a_mod_quarter_minus_one_quarter);
  int exponent;
  for (exponent = -2; exponent <= 4; ++exponent) {
    if (integer_bits > exponent && (remainder & ((int32_t)1 << (fractional_bits + exponent))) != 0) {
      result = sat_rounding_doubling_high_mul(result, multipliers[exponent + 2]);
    }
  }
  if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits))) result = 0; /* below -32 */
  if (a == 0) result = FIXEDPOINT_ONE_Q0;
  return result;
}

// unit one_over_one_plus_x needs fixedpoint_one wrapping_add wrapping_sub sat_rounding_doubling_high_mul saturating_left_shift
/* 1 / (1 + a) for a in [0, 1), a in Q0.31: Newton-Raphson division; the result in Q0.31. */
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  const int32_t one_q2 = (int32_t)1 << 29;  /* 1.0 in Q2.29 */
  const int64_t sum = (int64_t)a + FIXEDPOINT_ONE_Q0;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = wrapping_add(1515870810,  /* 48/17 in Q2.29 */
                           sat_rounding_doubling_high_mul(half_denominator, -1010580540 /* -32/17 */));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = sat_rounding_doubling_high_mul(half_denominator, x);
    const int32_t one_minus_half_denominator_times_x = wrapping_sub(one_q2, half_denominator_times_x);
    x = wrapping_add(x, saturating_left_shift(sat_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x), 2));
  }
  return saturating_left_shift(x, 1);
}
