// unit pad_s8
/* ---- PAD and PADV2, int8 -----------------------------------------------------------------
 * The output is filled with the pad value (the output zero point, or PADV2's constant),
 * then each row of the input's innermost dimension is copied into place. Shapes are padded
 * to 4 dimensions with leading 1s. */
typedef struct {
  int32_t in_dims[4], out_dims[4], before[4]; /* before: padding ahead of each dimension */
  int32_t pad_value;
} pad_params;

static void pad_s8(const pad_params *p, const int8_t *input, int8_t *output) {
  const int32_t out_size = p->out_dims[0] * p->out_dims[1] * p->out_dims[2] * p->out_dims[3];
  int32_t i0, i1, i2;
  memset(output, (int8_t)p->pad_value, (size_t)out_size);
  for (i0 = 0; i0 < p->in_dims[0]; ++i0)
    for (i1 = 0; i1 < p->in_dims[1]; ++i1)
      for (i2 = 0; i2 < p->in_dims[2]; ++i2) {
        const int32_t o = (((i0 + p->before[0]) * p->out_dims[1] + i1 + p->before[1]) * p->out_dims[2] + i2 + p->before[2]) *
                          p->out_dims[3] + p->before[3];
        memcpy(output + o, input + ((i0 * p->in_dims[1] + i1) * p->in_dims[2] + i2) * p->in_dims[3], (size_t)p->in_dims[3]);
      }
}
