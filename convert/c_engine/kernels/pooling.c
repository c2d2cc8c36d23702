// unit pool_params
/* ---- AVERAGE_POOL_2D and MAX_POOL_2D, int8 -------------------------------------------------
 * TFLite's reference kernels: the window is clipped to the image (padding is not
 * counted), input and output share one scale and zero point, and the average of the raw
 * int8 values is rounded half away from zero. */
typedef struct {
  int32_t in_h, in_w, channels, out_h, out_w;
  int32_t filter_h, filter_w, stride_h, stride_w, pad_top, pad_left;
  int32_t activation_min, activation_max;
} pool_params;

// unit average_pool_s8 needs pool_params window_bounds clamp_int32
static void average_pool_s8(const pool_params *p, const int8_t *input, int8_t *output) {
  int32_t out_y, out_x, c, ky, kx;
  for (out_y = 0; out_y < p->out_h; ++out_y) {
    const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
    int32_t ky_first, ky_end;
    window_bounds(in_y0, 1, p->filter_h, p->in_h, &ky_first, &ky_end);
    for (out_x = 0; out_x < p->out_w; ++out_x) {
      const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
      int32_t kx_first, kx_end, count;
      window_bounds(in_x0, 1, p->filter_w, p->in_w, &kx_first, &kx_end);
      count = (ky_end - ky_first) * (kx_end - kx_first);
      for (c = 0; c < p->channels; ++c) {
        int32_t acc = 0;
        for (ky = ky_first; ky < ky_end; ++ky) {
          for (kx = kx_first; kx < kx_end; ++kx) {
            acc += input[((in_y0 + ky) * p->in_w + in_x0 + kx) * p->channels + c];
          }
        }
        if (count > 0) acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        output[(out_y * p->out_w + out_x) * p->channels + c] = (int8_t)clamp_int32(acc, p->activation_min, p->activation_max);
      }
    }
  }
}

// unit max_pool_s8 needs pool_params window_bounds clamp_int32
static void max_pool_s8(const pool_params *p, const int8_t *input, int8_t *output) {
  int32_t out_y, out_x, c, ky, kx;
  for (out_y = 0; out_y < p->out_h; ++out_y) {
    const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
    int32_t ky_first, ky_end;
    window_bounds(in_y0, 1, p->filter_h, p->in_h, &ky_first, &ky_end);
    for (out_x = 0; out_x < p->out_w; ++out_x) {
      const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
      int32_t kx_first, kx_end;
      window_bounds(in_x0, 1, p->filter_w, p->in_w, &kx_first, &kx_end);
      for (c = 0; c < p->channels; ++c) {
        int32_t max = -128;
        for (ky = ky_first; ky < ky_end; ++ky) {
          for (kx = kx_first; kx < kx_end; ++kx) {
            const int32_t value = input[((in_y0 + ky) * p->in_w + in_x0 + kx) * p->channels + c];
            if (value > max) max = value;
          }
        }
        output[(out_y * p->out_w + out_x) * p->channels + c] = (int8_t)clamp_int32(max, p->activation_min, p->activation_max);
      }
    }
  }
}
