// unit requantize_s8 needs multiply_by_quantized_multiplier clamp_int32
/* ---- QUANTIZE from int8 to int8: a new scale and zero point -------------------------------
 * TFLite's Requantize: (x - input zero point) rescaled, plus the output zero point. */
typedef struct {
  int32_t size, input_zero_point, output_zero_point, multiplier, shift;
} requantize_params;

static void requantize_s8(const requantize_params *p, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t out = multiply_by_quantized_multiplier((int32_t)input[i] - p->input_zero_point, p->multiplier, p->shift) +
                        p->output_zero_point;
    output[i] = (int8_t)clamp_int32(out, -128, 127);
  }
}
