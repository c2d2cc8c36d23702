// unit logistic_s8 needs clamp_int32 multiply_by_quantized_multiplier rounding_divide_by_pot wrapping_sub exp_on_negative_values one_over_one_plus_x fixedpoint_one
/* ---- LOGISTIC, int8 in and out (output scale 1/256, zero point -128) ----------------------
 * TFLite's reference kernel: the input rescaled to Q4.27, gemmlowp's fixed-point logistic,
 * and the result rounded to 8 bits. */
typedef struct {
  int32_t size;
  int32_t input_zero_point, input_range_radius;
  int32_t input_multiplier, input_left_shift;
} logistic_params;

static void logistic_s8(const logistic_params *p, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t x = (int32_t)input[i] - p->input_zero_point;
    if (x <= -p->input_range_radius) {
      output[i] = -128;
    } else if (x >= p->input_range_radius) {
      output[i] = 127;
    } else {
      const int32_t a = multiply_by_quantized_multiplier(x, p->input_multiplier, p->input_left_shift);
      int32_t result;
      if (a == 0) {
        result = (int32_t)1 << 30; /* one half */
      } else {
        const int32_t abs_a = a > 0 ? a : wrapping_sub(0, a);
        const int32_t positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrapping_sub(0, abs_a), 4));
        result = a > 0 ? positive : wrapping_sub(FIXEDPOINT_ONE_Q0, positive);
      }
      output[i] = (int8_t)clamp_int32(rounding_divide_by_pot(result, 23) - 128, -128, 127);
    }
  }
}
