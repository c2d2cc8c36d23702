// unit broadcast_binary
/* ---- Elementwise binary ops with broadcasting ---------------------------------------------
 * Shapes are padded to 6 dimensions with leading 1s; an input's stride is 0 along a
 * dimension it is broadcast over. Each output element depends only on its two inputs, so
 * the order of the loops does not change any value. */
typedef struct {
  int32_t out_dims[6];
  int32_t in1_strides[6], in2_strides[6];
} broadcast_shape;

typedef int8_t (*binary_function)(const void *params, int8_t x, int8_t y);

static void broadcast_binary(const broadcast_shape *s, binary_function f, const void *params, const int8_t *in1,
                             const int8_t *in2, int8_t *out) {
  int32_t i0, i1, i2, i3, i4, i5;
  for (i0 = 0; i0 < s->out_dims[0]; ++i0)
    for (i1 = 0; i1 < s->out_dims[1]; ++i1)
      for (i2 = 0; i2 < s->out_dims[2]; ++i2)
        for (i3 = 0; i3 < s->out_dims[3]; ++i3)
          for (i4 = 0; i4 < s->out_dims[4]; ++i4)
            for (i5 = 0; i5 < s->out_dims[5]; ++i5) {
              const int32_t a = i0 * s->in1_strides[0] + i1 * s->in1_strides[1] + i2 * s->in1_strides[2] +
                                i3 * s->in1_strides[3] + i4 * s->in1_strides[4] + i5 * s->in1_strides[5];
              const int32_t b = i0 * s->in2_strides[0] + i1 * s->in2_strides[1] + i2 * s->in2_strides[2] +
                                i3 * s->in2_strides[3] + i4 * s->in2_strides[4] + i5 * s->in2_strides[5];
              *out++ = f(params, in1[a], in2[b]);
            }
}
