// unit depthwise_conv_s8 needs window_bounds multiply_by_quantized_multiplier clamp_int32
/* ---- DEPTHWISE_CONV_2D, int8 with per-channel int32 rescaling -----------------------------
 * TFLite's DepthwiseConvPerChannel: output channel c * depth_multiplier + m sees only input
 * channel c. The filter is 1HWC, C = in_c * depth_multiplier. */
typedef struct {
  int32_t in_h, in_w, in_c, out_h, out_w, depth_multiplier;
  int32_t filter_h, filter_w;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int32_t input_offset, output_offset, activation_min, activation_max;
} depthwise_conv_params;

static void depthwise_conv_s8(const depthwise_conv_params *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, const int32_t *multiplier, const int8_t *shift, int8_t *output) {
  const int32_t out_c = p->in_c * p->depth_multiplier;
  int32_t out_y, out_x, ic, m, ky, kx;
  for (out_y = 0; out_y < p->out_h; ++out_y) {
    const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
    int32_t ky_first, ky_end;
    window_bounds(in_y0, p->dilation_h, p->filter_h, p->in_h, &ky_first, &ky_end);
    for (out_x = 0; out_x < p->out_w; ++out_x) {
      const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
      int8_t *out = output + (out_y * p->out_w + out_x) * out_c;
      int32_t kx_first, kx_end;
      window_bounds(in_x0, p->dilation_w, p->filter_w, p->in_w, &kx_first, &kx_end);
      for (ic = 0; ic < p->in_c; ++ic) {
        for (m = 0; m < p->depth_multiplier; ++m) {
          const int32_t c = ic * p->depth_multiplier + m;
          int32_t acc = 0;
          for (ky = ky_first; ky < ky_end; ++ky) {
            const int32_t in_y = in_y0 + ky * p->dilation_h;
            for (kx = kx_first; kx < kx_end; ++kx) {
              const int32_t in_x = in_x0 + kx * p->dilation_w;
              acc += (int32_t)filter[(ky * p->filter_w + kx) * out_c + c] *
                     ((int32_t)input[(in_y * p->in_w + in_x) * p->in_c + ic] + p->input_offset);
            }
          }
          if (bias != 0) acc += bias[c];
          acc = multiply_by_quantized_multiplier(acc, multiplier[c], shift[c]) + p->output_offset;
          out[c] = (int8_t)clamp_int32(acc, p->activation_min, p->activation_max);
        }
      }
    }
  }
}
