// unit fully_connected_s8 needs multiply_by_quantized_multiplier clamp_int32
/* ---- FULLY_CONNECTED, int8 ---------------------------------------------------------------
 * TFLite's FullyConnected / FullyConnectedPerChannel: each output is the sum of (weight +
 * filter_offset) * (input + input_offset) over a row of the [out_c, depth] weights, plus
 * the bias, rescaled, offset and clamped. filter_offset is the weights' zero point
 * (per-tensor weights) or 0 (per-channel, symmetric by definition). */
typedef struct {
  int32_t batches, depth, out_c;
  int32_t input_offset, filter_offset, output_offset, activation_min, activation_max;
} fully_connected_params;

static void fully_connected_s8(const fully_connected_params *p, const int8_t *input, const int8_t *filter,
                               const int32_t *bias, const int32_t *multiplier, const int8_t *shift, int8_t *output) {
  int32_t b, c, d;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in = input + b * p->depth;
    for (c = 0; c < p->out_c; ++c) {
      const int8_t *w = filter + c * p->depth;
      int32_t acc = 0;
      for (d = 0; d < p->depth; ++d) {
        acc += ((int32_t)w[d] + p->filter_offset) * ((int32_t)in[d] + p->input_offset);
      }
      if (bias != 0) acc += bias[c];
      acc = multiply_by_quantized_multiplier(acc, multiplier[c], shift[c]) + p->output_offset;
      output[b * p->out_c + c] = (int8_t)clamp_int32(acc, p->activation_min, p->activation_max);
    }
  }
}
