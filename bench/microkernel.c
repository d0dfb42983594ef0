// What a 6x16 AVX2 GEMM micro-kernel reaches on this machine with everything in L1 (no packing,
// no C traffic), for comparison with nnc's generated GEMM and with bench/peak-flops.c
// (docs/benchmarks.md).
//   gcc -O3 -mavx2 -mfma bench/microkernel.c -o /tmp/microkernel && /tmp/microkernel
// "broadcast" is the usual kernel (2 vector loads + 6 broadcasts per 12 FMAs, as nnc's);
// "registers" keeps A in registers (2 loads per 12 FMAs).
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define ROW(r, A0)                                 \
  {                                                \
    __m256 a = A0;                                 \
    c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);     \
    c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);     \
  }

#define KERNEL(NAME, AEXPR)                                                                  \
  __attribute__((noinline)) static void NAME(const float *A, const float *B, float *C, int kc) { \
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;  \
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;                  \
    __m256 r0 = _mm256_broadcast_ss(A), r1 = _mm256_broadcast_ss(A + 1);                      \
    __m256 r2 = _mm256_broadcast_ss(A + 2), r3 = _mm256_broadcast_ss(A + 3);                  \
    __m256 r4 = _mm256_broadcast_ss(A + 4), r5 = _mm256_broadcast_ss(A + 5);                  \
    for (int k = 0; k < kc; k++) {                                                            \
      __m256 b0 = _mm256_loadu_ps(B + k * 16), b1 = _mm256_loadu_ps(B + k * 16 + 8);          \
      ROW(0, AEXPR(0)) ROW(1, AEXPR(1)) ROW(2, AEXPR(2)) ROW(3, AEXPR(3)) ROW(4, AEXPR(4))    \
      ROW(5, AEXPR(5))                                                                        \
    }                                                                                         \
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c00, c01), _mm256_add_ps(c10, c11)), \
                             _mm256_add_ps(_mm256_add_ps(c20, c21), _mm256_add_ps(c30, c31)));\
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c40, c41), _mm256_add_ps(c50, c51)));    \
    _mm256_storeu_ps(C, s);                                                                   \
    (void)r0; (void)r1; (void)r2; (void)r3; (void)r4; (void)r5;                               \
  }

#define FROM_MEMORY(i) _mm256_broadcast_ss(A + k * 6 + i)
#define FROM_REGISTER(i) r##i
KERNEL(broadcast, FROM_MEMORY)
KERNEL(registers, FROM_REGISTER)

int main(void) {
  int kc = 256;
  float *A = aligned_alloc(64, 16 * 6 * kc * 4), *B = aligned_alloc(64, kc * 16 * 4), *C = aligned_alloc(64, 64);
  for (int i = 0; i < 16 * 6 * kc; i++) A[i] = 1e-3f;
  for (int i = 0; i < 16 * kc; i++) B[i] = 1e-3f;
  long n = 200000;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now();
    for (long i = 0; i < n; i++) broadcast(A + (i % 16) * 6 * kc, B, C, kc);
    double t1 = now();
    for (long i = 0; i < n; i++) registers(A + (i % 16) * 6 * kc, B, C, kc);
    double t2 = now();
    double flop = n * 2.0 * 6 * 16 * kc;
    printf("broadcast: %.1f GFLOP/s   registers: %.1f GFLOP/s (one core)\n", flop / (t1 - t0) / 1e9,
           flop / (t2 - t1) / 1e9);
  }
  return 0;
}
