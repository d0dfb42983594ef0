/*
 * A stand-in for the CUDA driver (libcuda.so.1) for nnc's tests on machines without a GPU: the
 * driver-API functions nnc's CUDA executor calls, with the same C signatures, over host memory.
 *
 * "Device" memory is malloc'd and filled with 0xFF bytes (NaN floats) so that a float the
 * executor never copied in shows up in the results. Copies and launches are checked against the
 * live allocations, the calling thread must have made a context current (as with the real
 * driver), and a launch's block size must be the one its kernel was compiled for.
 *
 * A module's image must be PTX text; its kernels come from a host library of the same kernels,
 * compiled by nnc's emulated CUDA back end with driver entries: for entry point E, a function
 * E(void **params, int64_t lo, int64_t hi) running blocks [lo, hi) and an int E_block (threads per
 * block). That library is named by nnc_fake_cuda_kernels(path) or the environment variable
 * NNC_FAKE_CUDA_KERNELS; or NNC_FAKE_CUDA_KERNELS_DIR names a folder of them, each named by the
 * FNV-1a hash (64 bits, hex) of its module's PTX text. A function can only be looked up if the PTX
 * declares ".entry E(".
 *
 * Environment: NNC_FAKE_CUDA_DEVICES (GPUs, default 1), NNC_FAKE_CUDA_CC (compute capability as
 * two digits, default 80), NNC_FAKE_CUDA_MEMORY_MB (memory, default 1024).
 * This file is test code; nothing of it ships.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

enum {
  OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, NO_DEVICE = 100, INVALID_DEVICE = 101,
  INVALID_IMAGE = 200, INVALID_CONTEXT = 201, INVALID_PTX = 218, INVALID_HANDLE = 400, NOT_FOUND = 500,
  ILLEGAL_ADDRESS = 700, LAUNCH_FAILED = 719
};

struct context { int device; int retained; };
struct module { char *image; void *lib; };
struct function { void (*entry)(void **, int64_t, int64_t); int block; };
struct allocation { char *base; size_t bytes; };

static int initialised;
static struct context contexts[8];
static __thread struct context *current;
static struct allocation allocations[256];
static size_t live;
static char kernels_path[4096];
static long stats[8]; /* launches, bytes to device, bytes to host, contexts made current, modules */

static int env_int(const char *name, int fallback) {
  const char *v = getenv(name);
  return v && *v ? atoi(v) : fallback;
}

static int devices(void) { return env_int("NNC_FAKE_CUDA_DEVICES", 1); }

static long memory_mb = -1;

/* The GPU's memory in MiB from now on (-1: NNC_FAKE_CUDA_MEMORY_MB or 1024). */
void nnc_fake_cuda_memory(long mb) { memory_mb = mb; }

static size_t memory(void) {
  return (size_t) (memory_mb >= 0 ? memory_mb : env_int("NNC_FAKE_CUDA_MEMORY_MB", 1024)) << 20;
}

void nnc_fake_cuda_kernels(const char *path) {
  snprintf(kernels_path, sizeof kernels_path, "%s", path ? path : "");
}

/* Counters for the tests: launches, htod, dtoh, ctxset, modules, live (bytes allocated now). */
long nnc_fake_cuda_stat(const char *what) {
  if (!strcmp(what, "launches")) return stats[0];
  if (!strcmp(what, "htod")) return stats[1];
  if (!strcmp(what, "dtoh")) return stats[2];
  if (!strcmp(what, "ctxset")) return stats[3];
  if (!strcmp(what, "modules")) return stats[4];
  if (!strcmp(what, "live")) return (long) live;
  return -1;
}

CUresult cuInit(unsigned flags) {
  if (flags != 0) return INVALID_VALUE;
  initialised = 1;
  return OK;
}

CUresult cuGetErrorString(CUresult e, const char **s) {
  switch (e) {
    case OK: *s = "no error"; return OK;
    case INVALID_VALUE: *s = "invalid argument"; return OK;
    case OUT_OF_MEMORY: *s = "out of memory"; return OK;
    case NOT_INITIALIZED: *s = "initialization error"; return OK;
    case NO_DEVICE: *s = "no CUDA-capable device is detected"; return OK;
    case INVALID_DEVICE: *s = "invalid device ordinal"; return OK;
    case INVALID_IMAGE: *s = "device kernel image is invalid"; return OK;
    case INVALID_CONTEXT: *s = "invalid device context"; return OK;
    case INVALID_PTX: *s = "a PTX JIT compilation failed"; return OK;
    case INVALID_HANDLE: *s = "invalid resource handle"; return OK;
    case NOT_FOUND: *s = "named symbol not found"; return OK;
    case ILLEGAL_ADDRESS: *s = "an illegal memory access was encountered"; return OK;
    case LAUNCH_FAILED: *s = "unspecified launch failure"; return OK;
    default: *s = 0; return INVALID_VALUE;
  }
}

CUresult cuDeviceGetCount(int *n) {
  if (!initialised) return NOT_INITIALIZED;
  *n = devices();
  return OK;
}

CUresult cuDeviceGet(CUdevice *d, int ordinal) {
  if (!initialised) return NOT_INITIALIZED;
  if (ordinal < 0 || ordinal >= devices() || ordinal >= 8) return INVALID_DEVICE;
  *d = ordinal;
  return OK;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice d) {
  if (d < 0 || d >= devices()) return INVALID_DEVICE;
  snprintf(name, len, "nnc stand-in GPU %d", d);
  return OK;
}

CUresult cuDeviceGetAttribute(int *v, int attribute, CUdevice d) {
  if (d < 0 || d >= devices()) return INVALID_DEVICE;
  int cc = env_int("NNC_FAKE_CUDA_CC", 80);
  switch (attribute) {
    case 75: *v = cc / 10; return OK;  /* compute capability major */
    case 76: *v = cc % 10; return OK;  /* minor */
    case 16: *v = 4; return OK;        /* multiprocessors */
    case 1: *v = 1024; return OK;      /* max threads per block */
    default: return INVALID_VALUE;
  }
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d) {
  if (d < 0 || d >= devices()) return INVALID_DEVICE;
  *bytes = memory();
  return OK;
}

CUresult cuDevicePrimaryCtxRetain(void **ctx, CUdevice d) {
  if (!initialised) return NOT_INITIALIZED;
  if (d < 0 || d >= devices() || d >= 8) return INVALID_DEVICE;
  contexts[d].device = d;
  contexts[d].retained++;
  *ctx = &contexts[d];
  return OK;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
  if (d < 0 || d >= 8 || contexts[d].retained == 0) return INVALID_CONTEXT;
  contexts[d].retained--;
  return OK;
}

CUresult cuCtxSetCurrent(void *ctx) {
  current = ctx;
  stats[3]++;
  return OK;
}

CUresult cuCtxSynchronize(void) { return current ? OK : INVALID_CONTEXT; }

static struct allocation *find(CUdeviceptr p, size_t bytes) {
  for (int i = 0; i < 256; i++) {
    struct allocation *a = &allocations[i];
    if (a->base && (char *) p >= a->base && (char *) p + bytes <= a->base + a->bytes) return a;
  }
  return 0;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
  if (!current) return INVALID_CONTEXT;
  if (bytes == 0) return INVALID_VALUE;
  if (live + bytes > memory()) return OUT_OF_MEMORY;
  for (int i = 0; i < 256; i++) {
    if (!allocations[i].base) {
      char *m = malloc(bytes);
      if (!m) return OUT_OF_MEMORY;
      memset(m, 0xFF, bytes);
      allocations[i].base = m;
      allocations[i].bytes = bytes;
      live += bytes;
      *p = (CUdeviceptr) m;
      return OK;
    }
  }
  return OUT_OF_MEMORY;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
  if (!current) return INVALID_CONTEXT;
  for (int i = 0; i < 256; i++) {
    if (allocations[i].base == (char *) p) {
      free(allocations[i].base);
      live -= allocations[i].bytes;
      allocations[i].base = 0;
      return OK;
    }
  }
  return INVALID_VALUE;
}

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total) {
  if (!current) return INVALID_CONTEXT;
  *total = memory();
  *free_bytes = live > *total ? 0 : *total - live;
  return OK;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes) {
  if (!current) return INVALID_CONTEXT;
  if (!find(dst, bytes)) return INVALID_VALUE;
  memcpy((void *) dst, src, bytes);
  stats[1] += (long) bytes;
  return OK;
}

CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes) {
  if (!current) return INVALID_CONTEXT;
  if (!find(src, bytes)) return INVALID_VALUE;
  memcpy(dst, (const void *) src, bytes);
  stats[2] += (long) bytes;
  return OK;
}

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned n, int *options, void **values) {
  if (!current) return INVALID_CONTEXT;
  const char *ptx = image;
  char *log = 0;
  size_t logSize = 0;
  for (unsigned i = 0; i < n; i++) {
    if (options[i] == 5) log = values[i];
    if (options[i] == 6) logSize = (size_t) (uintptr_t) values[i];
  }
  if (strncmp(ptx, "//", 2) != 0 || !strstr(ptx, ".target sm_")) {
    if (log && logSize) snprintf(log, logSize, "ptxas fatal   : the image is not PTX text");
    return INVALID_PTX;
  }
  /* NNC_FAKE_CUDA_KERNELS_DIR: a folder of kernel libraries, each named by the FNV-1a hash of
     its module's PTX (the GPU check's bundle, packed with --stand-in). */
  char byHash[4096];
  const char *dir = getenv("NNC_FAKE_CUDA_KERNELS_DIR");
  const char *path = kernels_path[0] ? kernels_path : getenv("NNC_FAKE_CUDA_KERNELS");
  if (!kernels_path[0] && dir && *dir) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *c = (const unsigned char *) ptx; *c; c++) {
      h ^= *c;
      h *= 0x100000001b3ULL;
    }
    snprintf(byHash, sizeof byHash, "%s/%016llx.so", dir, (unsigned long long) h);
    path = byHash;
  }
  if (!path || !*path) {
    if (log && logSize) snprintf(log, logSize, "nnc's CUDA stand-in: no emulated kernels (NNC_FAKE_CUDA_KERNELS)");
    return INVALID_IMAGE;
  }
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    if (log && logSize) snprintf(log, logSize, "nnc's CUDA stand-in: %s", dlerror());
    return INVALID_IMAGE;
  }
  struct module *m = malloc(sizeof *m);
  m->image = strdup(ptx);
  m->lib = lib;
  *module = m;
  stats[4]++;
  return OK;
}

CUresult cuModuleUnload(void *module) {
  struct module *m = module;
  if (!m) return INVALID_HANDLE;
  dlclose(m->lib);
  free(m->image);
  free(m);
  return OK;
}

CUresult cuModuleGetFunction(void **f, void *module, const char *name) {
  struct module *m = module;
  if (!m) return INVALID_HANDLE;
  char decl[512];
  snprintf(decl, sizeof decl, ".entry %s(", name);
  if (!strstr(m->image, decl)) return NOT_FOUND;
  char block[512];
  snprintf(block, sizeof block, "%s_block", name);
  void *entry = dlsym(m->lib, name);
  int *threads = dlsym(m->lib, block);
  if (!entry || !threads) return NOT_FOUND;
  struct function *fn = malloc(sizeof *fn);
  fn->entry = (void (*)(void **, int64_t, int64_t)) entry;
  fn->block = *threads;
  *f = fn;
  return OK;
}

CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
    unsigned shared, void *stream, void **params, void **extra) {
  struct function *fn = f;
  if (!current) return INVALID_CONTEXT;
  if (!fn) return INVALID_HANDLE;
  if (gx == 0 || gy != 1 || gz != 1 || by != 1 || bz != 1 || bx != (unsigned) fn->block || extra || !params)
    return INVALID_VALUE;
  (void) shared;
  (void) stream;
  if (!find(*(CUdeviceptr *) params[0], 4)) return ILLEGAL_ADDRESS;
  fn->entry(params, 0, gx);
  stats[0]++;
  return OK;
}
