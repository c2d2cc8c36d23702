// unit add_params
/* ---- ADD and SUB, int8 ------------------------------------------------------------------
 * TFLite's AddFunc and SubElementwise: both inputs shifted left by 20 bits, rescaled to a
 * common scale, added (or the second subtracted), and the result rescaled to the output's.
 * (SUB's multipliers differ from ADD's: TFLite Micro combines its scales in float32.) */
typedef struct {
  int32_t size; /* output elements */
  int32_t subtract; /* 1: SUB */
  int32_t input1_offset, input2_offset, left_shift;
  int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift, output_offset, activation_min, activation_max;
} add_params;

// unit add_element needs add_params multiply_by_quantized_multiplier wrapping_add wrapping_sub clamp_int32
static int8_t add_element(const void *params, int8_t x, int8_t y) {
  const add_params *p = (const add_params *)params;
  const int32_t shifted1 = (int32_t)((uint32_t)(p->input1_offset + x) << p->left_shift);
  const int32_t shifted2 = (int32_t)((uint32_t)(p->input2_offset + y) << p->left_shift);
  const int32_t scaled1 = multiply_by_quantized_multiplier(shifted1, p->input1_multiplier, p->input1_shift);
  const int32_t scaled2 = multiply_by_quantized_multiplier(shifted2, p->input2_multiplier, p->input2_shift);
  const int32_t sum = p->subtract ? wrapping_sub(scaled1, scaled2) : wrapping_add(scaled1, scaled2);
  const int32_t out = multiply_by_quantized_multiplier(sum, p->output_multiplier, p->output_shift) + p->output_offset;
  return (int8_t)clamp_int32(out, p->activation_min, p->activation_max);
}

// unit add_s8 needs add_element
/* Same shapes: element by element (input1 or input2 may be the output buffer). */
static void add_s8(const add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
  int32_t i;
  for (i = 0; i < p->size; ++i) output[i] = add_element(p, input1[i], input2[i]);
}
