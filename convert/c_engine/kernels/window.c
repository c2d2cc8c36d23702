// unit window_bounds
/* ---- Convolution and pooling windows ------------------------------------------------------
 * Taps that fall outside the image (padding) are skipped, as in TFLite's reference kernels. */

/* The first and one past the last filter tap k with 0 <= origin + k * dilation < size. */
static void window_bounds(int32_t origin, int32_t dilation, int32_t taps, int32_t size, int32_t *first, int32_t *end) {
  int32_t k = 0;
  while (k < taps && origin + k * dilation < 0) ++k;
  *first = k;
  while (k < taps && origin + k * dilation < size) ++k;
  *end = k;
}
