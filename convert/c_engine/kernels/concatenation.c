// unit concatenation_s8
/* ---- CONCATENATION, int8 -----------------------------------------------------------------
 * Inputs and output share one scale and zero point (TFLite Micro requires it), so this is
 * a copy: for each index ahead of the axis, each input's block in turn. */
typedef struct {
  int32_t outer, inputs;
  const int32_t *block; /* bytes each input contributes per outer index */
} concatenation_params;

static void concatenation_s8(const concatenation_params *p, const int8_t *const *inputs, int8_t *output) {
  int32_t o, k;
  for (o = 0; o < p->outer; ++o) {
    for (k = 0; k < p->inputs; ++k) {
      memcpy(output, inputs[k] + o * p->block[k], (size_t)p->block[k]);
      output += p->block[k];
    }
  }
}
