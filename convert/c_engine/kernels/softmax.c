// unit softmax_s8 needs clamp_int32 sat_rounding_doubling_high_mul rounding_divide_by_pot wrapping_add exp_on_negative_values one_over_one_plus_x
/* ---- SOFTMAX, int8 in and out (output scale 1/256, zero point -128) -----------------------
 * TFLite's reference kernel: differences to the row's maximum are rescaled to Q5.26,
 * exponentiated in fixed point, summed in Q12.19 and divided through a fixed-point
 * reciprocal. */
typedef struct {
  int32_t rows, depth;
  int32_t input_multiplier, input_left_shift; /* beta * input scale, in Q5.26 steps */
  int32_t diff_min;                           /* smaller differences give exactly 0 */
} softmax_params;

static void softmax_s8(const softmax_params *p, const int8_t *input, int8_t *output) {
  int32_t row, c;
  for (row = 0; row < p->rows; ++row) {
    const int8_t *in = input + row * p->depth;
    int8_t *out = output + row * p->depth;
    int32_t max_in_row = -128, sum_of_exps = 0, reciprocal, shifted_sum_minus_one;
    int headroom_plus_one, num_bits_over_unit, exponent;
    for (c = 0; c < p->depth; ++c) {
      if (in[c] > max_in_row) max_in_row = in[c];
    }
    for (c = 0; c < p->depth; ++c) {
      const int32_t input_diff = (int32_t)in[c] - max_in_row;
      if (input_diff >= p->diff_min) {
        const int32_t scaled_diff = sat_rounding_doubling_high_mul(
            (int32_t)((uint32_t)input_diff << p->input_left_shift), p->input_multiplier);
        /* exp in Q0.31, accumulated in Q12.19 */
        sum_of_exps = wrapping_add(sum_of_exps, rounding_divide_by_pot(exp_on_negative_values(scaled_diff, 5), 12));
      }
    }
    /* 1 / sum: sum = 2^num_bits_over_unit * (1 + x), x in [0, 1) */
    headroom_plus_one = 0;
    while (headroom_plus_one < 32 && ((uint32_t)sum_of_exps & (0x80000000u >> headroom_plus_one)) == 0) {
      ++headroom_plus_one;
    }
    num_bits_over_unit = 12 - headroom_plus_one;
    shifted_sum_minus_one =
        (int32_t)(((uint32_t)sum_of_exps << (headroom_plus_one & 31)) - ((uint32_t)1 << 31));
    reciprocal = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
    exponent = num_bits_over_unit + 31 - 8;
    for (c = 0; c < p->depth; ++c) {
      const int32_t input_diff = (int32_t)in[c] - max_in_row;
      if (input_diff >= p->diff_min) {
        const int32_t scaled_diff = sat_rounding_doubling_high_mul(
            (int32_t)((uint32_t)input_diff << p->input_left_shift), p->input_multiplier);
        const int32_t exp_in_0 = exp_on_negative_values(scaled_diff, 5);
        const int32_t unsaturated = rounding_divide_by_pot(sat_rounding_doubling_high_mul(reciprocal, exp_in_0), exponent);
        out[c] = (int8_t)clamp_int32(unsaturated - 128, -128, 127);
      } else {
        out[c] = -128;
      }
    }
  }
}
