// unit hard_swish_s8
/* ---- HARD_SWISH, int8 in and out ---------------------------------------------------------
 * TFLite's reference kernel, on 16-bit fixed-point values: x * relu6(x + 3) / 6 as the
 * input on a finer scale times a "relu-ish" factor in [0, 1]. The int16_t types and
 * conversions are those of the reference, so that rounding and saturation are too. */
typedef struct {
  int32_t size;
  int32_t input_zero_point, output_zero_point;
  int32_t output_multiplier_fixedpoint_int16, output_multiplier_exponent;
  int32_t reluish_multiplier_fixedpoint_int16, reluish_multiplier_exponent;
} hard_swish_params;

static int16_t sat_rounding_doubling_high_mul_16(int16_t a, int16_t b) {
  const int32_t ab = (int32_t)a * (int32_t)b;
  const int16_t nudge = (int16_t)(ab >= 0 ? (1 << 14) : (1 - (1 << 14)));
  if (a == b && a == INT16_MIN) return INT16_MAX;
  return (int16_t)((ab + nudge) / (1 << 15));
}

/* As sat_rounding_doubling_high_mul_16, rounding towards zero. */
static int16_t sat_doubling_high_mul_16(int16_t a, int16_t b) {
  const int32_t ab = (int32_t)a * (int32_t)b;
  if (a == b && a == INT16_MIN) return INT16_MAX;
  return (int16_t)(ab / (1 << 15));
}

static int16_t rounding_divide_by_pot_16(int16_t x, int exponent) {
  const int16_t mask = (int16_t)(((int64_t)1 << exponent) - 1);
  const int16_t remainder = (int16_t)(x & mask);
  const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
  return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

static int16_t saturating_left_shift_16(int16_t x, int amount) {
  const int64_t shifted = (int64_t)x * ((int64_t)1 << amount);
  return (int16_t)(shifted > INT16_MAX ? INT16_MAX : (shifted < INT16_MIN ? INT16_MIN : shifted));
}

static void hard_swish_s8(const hard_swish_params *p, const int8_t *input, int8_t *output) {
  const int16_t output_multiplier = (int16_t)p->output_multiplier_fixedpoint_int16;
  const int16_t reluish_multiplier = (int16_t)p->reluish_multiplier_fixedpoint_int16;
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int16_t value = (int16_t)(input[i] - p->input_zero_point);
    const int16_t value_on_hires_input_scale = (int16_t)(value * (1 << 7));
    const int16_t value_on_preshift_output_scale =
        sat_rounding_doubling_high_mul_16(value_on_hires_input_scale, output_multiplier);
    int16_t reluish = value_on_hires_input_scale;
    int16_t preshift_output, out;
    if (p->reluish_multiplier_exponent > 0) {
      reluish = saturating_left_shift_16(reluish, p->reluish_multiplier_exponent - 1);
    }
    reluish = sat_rounding_doubling_high_mul_16(reluish, reluish_multiplier);
    if (p->reluish_multiplier_exponent > 0) {
      reluish = saturating_left_shift_16(reluish, 1);
    }
    if (p->reluish_multiplier_exponent < 0) {
      reluish = rounding_divide_by_pot_16(reluish, -p->reluish_multiplier_exponent);
    }
    reluish = (int16_t)((reluish + (1 << 15)) >> 1); /* [-1, 1] to [0, 1] */
    preshift_output = sat_doubling_high_mul_16(reluish, value_on_preshift_output_scale);
    out = (int16_t)(rounding_divide_by_pot_16(preshift_output, -p->output_multiplier_exponent) + p->output_zero_point);
    output[i] = (int8_t)(out > 127 ? 127 : (out < -128 ? -128 : out));
  }
}
