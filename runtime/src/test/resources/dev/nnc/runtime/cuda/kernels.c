/* Two hand-written kernels in the form of the emulated back end's driver entries, for CudaExecutorTest. */
#include <stdint.h>

const int g0_scale_block = 4;
const int g1_add_block = 4;

/* y = x * w over 8 floats; arguments (arena, x, w, y). */
void g0_scale(void **p, int64_t lo, int64_t hi) {
  float *a = *(float **) p[0];
  int64_t x = *(int64_t *) p[1], w = *(int64_t *) p[2], y = *(int64_t *) p[3];
  for (int64_t b = lo; b < hi; b++)
    for (int t = 0; t < 4; t++) {
      int64_t i = b * 4 + t;
      if (i < 8) a[y + i] = a[x + i] * a[w + i];
    }
}

/* y += the loop counter; arguments (arena, y, counter). */
void g1_add(void **p, int64_t lo, int64_t hi) {
  float *a = *(float **) p[0];
  int64_t y = *(int64_t *) p[1], c = *(int64_t *) p[2];
  for (int64_t b = lo; b < hi; b++)
    for (int t = 0; t < 4; t++) {
      int64_t i = b * 4 + t;
      if (i < 8) a[y + i] += a[c];
    }
}
