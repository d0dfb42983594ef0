// The machine's fp32 FMA peak, measured so that the compiler cannot shrink the work.
//   gcc -O2 -mavx2 -mfma bench/peak-flops.c -o /tmp/peak-flops -lpthread && /tmp/peak-flops
//
// Why not ../shared/tools/peak-flops.c: its twelve accumulators start equal and see the same
// operations, so GCC 12 (-O2) merges them into one; its loop then runs a single FMA per
// iteration, bound by the FMA latency (4 cycles), while it counts twelve. It reports
// 12 x 16 flops per 4 cycles = 48 flops/cycle where the machine has 2 FMA pipes x 8 lanes x 2 =
// 32: about 1.5x the real peak (`objdump -d` shows one vfmadd132ps in its loop).
// Here every accumulator starts at its own value and an empty asm statement per iteration
// forces all twelve to be computed; the program prints the FMA count of its own loop.
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *spin256(void *arg) {
  long iters = *(long *)arg;
  __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  // Distinct starting values: equal ones let the compiler merge the chains.
  __m256 a0 = _mm256_set1_ps(1.000f), a1 = _mm256_set1_ps(1.001f), a2 = _mm256_set1_ps(1.002f), a3 = _mm256_set1_ps(1.003f);
  __m256 a4 = _mm256_set1_ps(1.004f), a5 = _mm256_set1_ps(1.005f), a6 = _mm256_set1_ps(1.006f), a7 = _mm256_set1_ps(1.007f);
  __m256 a8 = _mm256_set1_ps(1.008f), a9 = _mm256_set1_ps(1.009f), a10 = _mm256_set1_ps(1.010f), a11 = _mm256_set1_ps(1.011f);
  for (long i = 0; i < iters; i++) {
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3));
    __asm__ volatile("" : "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7));
    __asm__ volatile("" : "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    a0 = _mm256_fmadd_ps(a0, b, c);
    a1 = _mm256_fmadd_ps(a1, b, c);
    a2 = _mm256_fmadd_ps(a2, b, c);
    a3 = _mm256_fmadd_ps(a3, b, c);
    a4 = _mm256_fmadd_ps(a4, b, c);
    a5 = _mm256_fmadd_ps(a5, b, c);
    a6 = _mm256_fmadd_ps(a6, b, c);
    a7 = _mm256_fmadd_ps(a7, b, c);
    a8 = _mm256_fmadd_ps(a8, b, c);
    a9 = _mm256_fmadd_ps(a9, b, c);
    a10 = _mm256_fmadd_ps(a10, b, c);
    a11 = _mm256_fmadd_ps(a11, b, c);
  }
  __m256 s = a0;
  s = _mm256_add_ps(s, a1);
  s = _mm256_add_ps(s, a2);
  s = _mm256_add_ps(s, a3);
  s = _mm256_add_ps(s, a4);
  s = _mm256_add_ps(s, a5);
  s = _mm256_add_ps(s, a6);
  s = _mm256_add_ps(s, a7);
  s = _mm256_add_ps(s, a8);
  s = _mm256_add_ps(s, a9);
  s = _mm256_add_ps(s, a10);
  s = _mm256_add_ps(s, a11);
  float out[8];
  _mm256_storeu_ps(out, s);
  static volatile float sink;
  sink = out[0];
  return 0;
}

__attribute__((target("avx512f"))) static void *spin512(void *arg) {
  long iters = *(long *)arg;
  __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  // Distinct starting values: equal ones let the compiler merge the chains.
  __m512 a0 = _mm512_set1_ps(1.000f), a1 = _mm512_set1_ps(1.001f), a2 = _mm512_set1_ps(1.002f), a3 = _mm512_set1_ps(1.003f);
  __m512 a4 = _mm512_set1_ps(1.004f), a5 = _mm512_set1_ps(1.005f), a6 = _mm512_set1_ps(1.006f), a7 = _mm512_set1_ps(1.007f);
  __m512 a8 = _mm512_set1_ps(1.008f), a9 = _mm512_set1_ps(1.009f), a10 = _mm512_set1_ps(1.010f), a11 = _mm512_set1_ps(1.011f);
  for (long i = 0; i < iters; i++) {
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3));
    __asm__ volatile("" : "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7));
    __asm__ volatile("" : "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    a0 = _mm512_fmadd_ps(a0, b, c);
    a1 = _mm512_fmadd_ps(a1, b, c);
    a2 = _mm512_fmadd_ps(a2, b, c);
    a3 = _mm512_fmadd_ps(a3, b, c);
    a4 = _mm512_fmadd_ps(a4, b, c);
    a5 = _mm512_fmadd_ps(a5, b, c);
    a6 = _mm512_fmadd_ps(a6, b, c);
    a7 = _mm512_fmadd_ps(a7, b, c);
    a8 = _mm512_fmadd_ps(a8, b, c);
    a9 = _mm512_fmadd_ps(a9, b, c);
    a10 = _mm512_fmadd_ps(a10, b, c);
    a11 = _mm512_fmadd_ps(a11, b, c);
  }
  __m512 s = a0;
  s = _mm512_add_ps(s, a1);
  s = _mm512_add_ps(s, a2);
  s = _mm512_add_ps(s, a3);
  s = _mm512_add_ps(s, a4);
  s = _mm512_add_ps(s, a5);
  s = _mm512_add_ps(s, a6);
  s = _mm512_add_ps(s, a7);
  s = _mm512_add_ps(s, a8);
  s = _mm512_add_ps(s, a9);
  s = _mm512_add_ps(s, a10);
  s = _mm512_add_ps(s, a11);
  float out[16];
  _mm512_storeu_ps(out, s);
  static volatile float sink;
  sink = out[0];
  return 0;
}

static void run(const char *name, void *(*spin)(void *), int lanes) {
  long iters = 100000000;
  for (int threads = 1; threads <= 2; threads++) {
    double best = 1e30;  // best of 3: the VM's noise only ever slows a run down
    for (int rep = 0; rep < 3; rep++) {
      pthread_t t[2];
      double t0 = now();
      for (int i = 0; i < threads; i++) pthread_create(&t[i], 0, spin, &iters);
      for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
      double s = now() - t0;
      if (s < best) best = s;
    }
    printf("%s, %d thread(s): %.1f GFLOP/s fp32 peak\n", name, threads,
           threads * iters * 12.0 * lanes * 2 / best / 1e9);
  }
}

int main(void) {
  run("AVX2 (ymm)", spin256, 8);
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) run("AVX-512 (zmm)", spin512, 16);
  return 0;
}
