// unit mean_s8 needs multiply_by_quantized_multiplier clamp_int32 wrapping_add
/* ---- MEAN, int8 --------------------------------------------------------------------------
 * TFLite's QuantizedMeanOrSum: an int32 sum over the reduced axes, less the input zero
 * point times their element count, rescaled by input scale / output scale / count (the
 * count folded into the multiplier as TFLite folds it), plus the output zero point. The
 * input is viewed as [outer, reduced, inner]: the reduced axes are adjacent once axes of
 * size 1 are dropped (the generator checks it). */
typedef struct {
  int32_t outer, reduced, inner;
  int32_t input_zero_point, output_zero_point, multiplier, shift;
} mean_params;

static void mean_s8(const mean_params *p, const int8_t *input, int8_t *output) {
  int32_t o, r, i;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->inner; ++i) {
      const int8_t *in = input + o * p->reduced * p->inner + i;
      int32_t sum = 0, out;
      for (r = 0; r < p->reduced; ++r) sum = wrapping_add(sum, in[r * p->inner]);
      sum = (int32_t)((int64_t)sum - (int64_t)p->input_zero_point * p->reduced);
      out = multiply_by_quantized_multiplier(sum, p->multiplier, p->shift) + p->output_zero_point;
      output[o * p->inner + i] = (int8_t)clamp_int32(out, -128, 127);
    }
  }
}
