// unit mul_element needs multiply_by_quantized_multiplier clamp_int32
/* ---- MUL, int8 ---------------------------------------------------------------------------
 * TFLite's reference: (x + offset1) * (y + offset2), rescaled to the output's scale. */
typedef struct {
  int32_t size; /* output elements */
  int32_t input1_offset, input2_offset;
  int32_t output_multiplier, output_shift, output_offset, activation_min, activation_max;
} mul_params;

static int8_t mul_element(const void *params, int8_t x, int8_t y) {
  const mul_params *p = (const mul_params *)params;
  const int32_t product = (p->input1_offset + x) * (p->input2_offset + y);
  const int32_t out = multiply_by_quantized_multiplier(product, p->output_multiplier, p->output_shift) + p->output_offset;
  return (int8_t)clamp_int32(out, p->activation_min, p->activation_max);
}

// unit mul_s8 needs mul_element
/* Same shapes: element by element (input1 or input2 may be the output buffer). */
static void mul_s8(const mul_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
  int32_t i;
  for (i = 0; i < p->size; ++i) output[i] = mul_element(p, input1[i], input2[i]);
}
