// unit conv_s8 needs window_bounds multiply_by_quantized_multiplier clamp_int32
/* ---- CONV_2D, int8 with per-channel int32 rescaling --------------------------------------
 * TFLite's ConvPerChannel: for each output pixel and channel, the sum of filter * (input +
 * input_offset) over the window inside the image (padding contributes nothing), plus the
 * bias, rescaled, offset and clamped. Tensors are NHWC, the filter OHWI. Integer sums do
 * not depend on their order, so the window's bounds are computed once per pixel. */
typedef struct {
  int32_t in_h, in_w, in_c, out_h, out_w, out_c;
  int32_t filter_h, filter_w, filter_in_c; /* filter_in_c < in_c: grouped convolution */
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int32_t input_offset, output_offset, activation_min, activation_max;
} conv_params;

static void conv_s8(const conv_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                    const int32_t *multiplier, const int8_t *shift, int8_t *output) {
  const int32_t filters_per_group = p->out_c / (p->in_c / p->filter_in_c);
  int32_t out_y, out_x, out_c, ky, kx, ic;
  for (out_y = 0; out_y < p->out_h; ++out_y) {
    const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
    int32_t ky_first, ky_end;
    window_bounds(in_y0, p->dilation_h, p->filter_h, p->in_h, &ky_first, &ky_end);
    for (out_x = 0; out_x < p->out_w; ++out_x) {
      const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
      int32_t kx_first, kx_end;
      window_bounds(in_x0, p->dilation_w, p->filter_w, p->in_w, &kx_first, &kx_end);
      for (out_c = 0; out_c < p->out_c; ++out_c) {
        const int32_t group_start = (out_c / filters_per_group) * p->filter_in_c;
        const int8_t *f = filter + out_c * p->filter_h * p->filter_w * p->filter_in_c;
        int32_t acc = 0;
        for (ky = ky_first; ky < ky_end; ++ky) {
          const int32_t in_y = in_y0 + ky * p->dilation_h;
          for (kx = kx_first; kx < kx_end; ++kx) {
            const int32_t in_x = in_x0 + kx * p->dilation_w;
            const int8_t *in = input + (in_y * p->in_w + in_x) * p->in_c + group_start;
            const int8_t *w = f + (ky * p->filter_w + kx) * p->filter_in_c;
            for (ic = 0; ic < p->filter_in_c; ++ic) {
              acc += (int32_t)w[ic] * ((int32_t)in[ic] + p->input_offset);
            }
          }
        }
        if (bias != 0) acc += bias[out_c];
        acc = multiply_by_quantized_multiplier(acc, multiplier[out_c], shift[out_c]) + p->output_offset;
        output[(out_y * p->out_w + out_x) * p->out_c + out_c] = (int8_t)clamp_int32(acc, p->activation_min, p->activation_max);
      }
    }
  }
}
