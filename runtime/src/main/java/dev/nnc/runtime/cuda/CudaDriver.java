package dev.nnc.runtime.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The CUDA driver ({@code libcuda.so.1}, installed with NVIDIA's kernel driver) through
 * java.lang.foreign, as the runtime calls its own kernels: nothing of CUDA is loaded until a
 * command asks for {@code --device cuda}, and no CUDA toolkit is needed where the model runs.
 * (org.bytedeco:cuda's JNI bindings would also need the CUDA runtime library, libcudart, of their
 * own version beside the driver.) Only the driver API's stable entry points are used: the primary
 * context, module loading from PTX text (the driver JIT-compiles it for the GPU), device memory,
 * synchronous copies and {@code cuLaunchKernel} on the default stream.
 *
 * <p>The library is {@value #LIBRARY_NAME}, or the file that {@code -Dnnc.cuda.driver} or the
 * environment variable {@code NNC_CUDA_DRIVER} names (a driver outside the loader's path, such as
 * WSL's {@code /usr/lib/wsl/lib/libcuda.so.1}; the tests' stand-in driver).
 */
public final class CudaDriver {
  /** Why there is no usable CUDA device; the message says what was looked for and what to do. */
  public static final class Unavailable extends Exception {
    public Unavailable(String message) {
      super(message);
    }
  }

  /** The driver refused an operation on a device that was working: the message says which and why. */
  public static final class Failure extends RuntimeException {
    private final int status;

    Failure(String message, int status) {
      super(message);
      this.status = status;
    }

    /** The driver's status code ({@code CUresult}). */
    public int status() {
      return status;
    }
  }

  /** A GPU: its index, name, compute capability ({@code sm_90} for 9.0) and memory. */
  public record Device(int index, String name, int major, int minor, long memoryBytes) {
    public String arch() {
      return "sm_" + major + minor;
    }

    @Override
    public String toString() {
      return "GPU " + index + ", " + name + " (" + arch() + ", " + (memoryBytes >> 20) + " MiB)";
    }
  }

  public static final String LIBRARY_NAME = "libcuda.so.1";
  private static final int ATTRIBUTE_CC_MAJOR = 75;
  private static final int ATTRIBUTE_CC_MINOR = 76;
  private static final int JIT_ERROR_LOG_BUFFER = 5;
  private static final int JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
  static final int ERROR_OUT_OF_MEMORY = 2;

  private static final Map<String, CudaDriver> OPEN = new ConcurrentHashMap<>();
  /** The context current on this thread (its address), as last set through any driver here. */
  private static final ThreadLocal<Long> CURRENT = ThreadLocal.withInitial(() -> 0L);

  private final String library;
  private final MethodHandle cuInit;
  private final MethodHandle cuDeviceGetCount;
  private final MethodHandle cuDeviceGet;
  private final MethodHandle cuDeviceGetName;
  private final MethodHandle cuDeviceGetAttribute;
  private final MethodHandle cuDeviceTotalMem;
  private final MethodHandle cuGetErrorString;
  private final MethodHandle cuPrimaryCtxRetain;
  private final MethodHandle cuPrimaryCtxRelease;
  private final MethodHandle cuCtxSetCurrent;
  private final MethodHandle cuCtxSynchronize;
  private final MethodHandle cuMemAlloc;
  private final MethodHandle cuMemFree;
  private final MethodHandle cuMemGetInfo;
  private final MethodHandle cuMemcpyHtoD;
  private final MethodHandle cuMemcpyDtoH;
  private final MethodHandle cuModuleLoadDataEx;
  private final MethodHandle cuModuleUnload;
  private final MethodHandle cuModuleGetFunction;
  private final MethodHandle cuLaunchKernel;

  private CudaDriver(String library, SymbolLookup lib) {
    this.library = library;
    Linker l = Linker.nativeLinker();
    ValueLayout.OfInt i = ValueLayout.JAVA_INT;
    ValueLayout.OfLong j = ValueLayout.JAVA_LONG;
    ValueLayout p = ValueLayout.ADDRESS;
    cuInit = l.downcallHandle(find(lib, "cuInit"), FunctionDescriptor.of(i, i));
    cuDeviceGetCount = l.downcallHandle(find(lib, "cuDeviceGetCount"), FunctionDescriptor.of(i, p));
    cuDeviceGet = l.downcallHandle(find(lib, "cuDeviceGet"), FunctionDescriptor.of(i, p, i));
    cuDeviceGetName = l.downcallHandle(find(lib, "cuDeviceGetName"), FunctionDescriptor.of(i, p, i, i));
    cuDeviceGetAttribute = l.downcallHandle(find(lib, "cuDeviceGetAttribute"), FunctionDescriptor.of(i, p, i, i));
    cuDeviceTotalMem = l.downcallHandle(find(lib, "cuDeviceTotalMem_v2"), FunctionDescriptor.of(i, p, i));
    cuGetErrorString = l.downcallHandle(find(lib, "cuGetErrorString"), FunctionDescriptor.of(i, i, p));
    cuPrimaryCtxRetain = l.downcallHandle(find(lib, "cuDevicePrimaryCtxRetain"), FunctionDescriptor.of(i, p, i));
    cuPrimaryCtxRelease = l.downcallHandle(find(lib, "cuDevicePrimaryCtxRelease_v2"), FunctionDescriptor.of(i, i));
    cuCtxSetCurrent = l.downcallHandle(find(lib, "cuCtxSetCurrent"), FunctionDescriptor.of(i, p));
    cuCtxSynchronize = l.downcallHandle(find(lib, "cuCtxSynchronize"), FunctionDescriptor.of(i));
    cuMemAlloc = l.downcallHandle(find(lib, "cuMemAlloc_v2"), FunctionDescriptor.of(i, p, j));
    cuMemFree = l.downcallHandle(find(lib, "cuMemFree_v2"), FunctionDescriptor.of(i, j));
    cuMemGetInfo = l.downcallHandle(find(lib, "cuMemGetInfo_v2"), FunctionDescriptor.of(i, p, p));
    cuMemcpyHtoD = l.downcallHandle(find(lib, "cuMemcpyHtoD_v2"), FunctionDescriptor.of(i, j, p, j));
    cuMemcpyDtoH = l.downcallHandle(find(lib, "cuMemcpyDtoH_v2"), FunctionDescriptor.of(i, p, j, j));
    cuModuleLoadDataEx = l.downcallHandle(find(lib, "cuModuleLoadDataEx"), FunctionDescriptor.of(i, p, p, i, p, p));
    cuModuleUnload = l.downcallHandle(find(lib, "cuModuleUnload"), FunctionDescriptor.of(i, p));
    cuModuleGetFunction = l.downcallHandle(find(lib, "cuModuleGetFunction"), FunctionDescriptor.of(i, p, p, p));
    cuLaunchKernel = l.downcallHandle(find(lib, "cuLaunchKernel"),
        FunctionDescriptor.of(i, p, i, i, i, i, i, i, i, p, p, p));
  }

  private static MemorySegment find(SymbolLookup lib, String name) {
    return lib.find(name).orElseThrow(() -> new IllegalStateException(LIBRARY_NAME + " has no " + name
        + ": a CUDA driver too old for nnc (it needs CUDA 11.8 or later); update the NVIDIA driver"));
  }

  /** The driver library this machine is configured to use: {@code -Dnnc.cuda.driver}, {@code NNC_CUDA_DRIVER}, or {@value #LIBRARY_NAME}. */
  public static String configuredLibrary() {
    String p = System.getProperty("nnc.cuda.driver");
    if (p == null || p.isBlank()) {
      p = System.getenv("NNC_CUDA_DRIVER");
    }
    return p == null || p.isBlank() ? LIBRARY_NAME : p;
  }

  /** The configured driver ({@link #configuredLibrary}), loaded and initialised. */
  public static CudaDriver open() throws Unavailable {
    return open(configuredLibrary());
  }

  /** Driver {@code library} (a file name or path), loaded and initialised once per process. */
  public static CudaDriver open(String library) throws Unavailable {
    CudaDriver d = OPEN.get(library);
    if (d != null) {
      return d;
    }
    synchronized (OPEN) {
      d = OPEN.get(library);
      if (d != null) {
        return d;
      }
      SymbolLookup lib;
      try {
        lib = SymbolLookup.libraryLookup(library, Arena.global());
      } catch (IllegalArgumentException e) {
        throw new Unavailable("no CUDA driver found (" + library + " could not be loaded: there is no NVIDIA driver on "
            + "this machine" + (library.equals(LIBRARY_NAME) ? "" : ", or NNC_CUDA_DRIVER names a missing file")
            + "); use --device cpu");
      }
      d = new CudaDriver(library, lib);
      try {
        d.check((int) d.cuInit.invokeExact(0), "starting the CUDA driver (cuInit)");
      } catch (Failure f) {
        throw new Unavailable(f.getMessage() + "; use --device cpu");
      } catch (Throwable t) {
        throw rethrow(t);
      }
      OPEN.put(library, d);
      return d;
    }
  }

  /** The GPUs of driver {@code library}; {@link Unavailable} when there is no driver, it fails to start, or it sees no GPU. */
  public static List<Device> devices(String library) throws Unavailable {
    return open(library).gpus();
  }

  /** The GPUs of the configured driver. */
  public static List<Device> devices() throws Unavailable {
    return open().gpus();
  }

  /** This driver's GPUs, at least one ({@link Unavailable} otherwise). */
  public List<Device> gpus() throws Unavailable {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
      check((int) cuDeviceGetCount.invokeExact(n), "counting GPUs");
      int count = n.get(ValueLayout.JAVA_INT, 0);
      if (count == 0) {
        throw new Unavailable("the CUDA driver sees no GPU; use --device cpu");
      }
      List<Device> out = new ArrayList<>();
      for (int k = 0; k < count; k++) {
        MemorySegment dev = a.allocate(ValueLayout.JAVA_INT);
        check((int) cuDeviceGet.invokeExact(dev, k), "opening GPU " + k);
        int handle = dev.get(ValueLayout.JAVA_INT, 0);
        MemorySegment name = a.allocate(256);
        check((int) cuDeviceGetName.invokeExact(name, 256, handle), "reading GPU " + k + "'s name");
        MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
        check((int) cuDeviceGetAttribute.invokeExact(v, ATTRIBUTE_CC_MAJOR, handle), "reading GPU " + k);
        int major = v.get(ValueLayout.JAVA_INT, 0);
        check((int) cuDeviceGetAttribute.invokeExact(v, ATTRIBUTE_CC_MINOR, handle), "reading GPU " + k);
        int minor = v.get(ValueLayout.JAVA_INT, 0);
        MemorySegment mem = a.allocate(ValueLayout.JAVA_LONG);
        check((int) cuDeviceTotalMem.invokeExact(mem, handle), "reading GPU " + k + "'s memory size");
        out.add(new Device(k, name.getString(0), major, minor, mem.get(ValueLayout.JAVA_LONG, 0)));
      }
      return out;
    } catch (Failure f) {
      throw new Unavailable(f.getMessage() + "; use --device cpu");
    } catch (Unavailable | RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** The library this driver was loaded from. */
  public String library() {
    return library;
  }

  // ---- The operations the executor uses; each throws Failure with what failed and why. ----

  /** Retains GPU {@code device}'s primary context and makes it current on this thread. */
  MemorySegment retainPrimaryContext(int device) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment p = a.allocate(ValueLayout.ADDRESS);
      check((int) cuPrimaryCtxRetain.invokeExact(p, device), "opening GPU " + device + "'s context");
      MemorySegment ctx = p.get(ValueLayout.ADDRESS, 0);
      makeCurrent(ctx);
      return ctx;
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  void releasePrimaryContext(int device) {
    try {
      check((int) cuPrimaryCtxRelease.invokeExact(device), "releasing GPU " + device + "'s context");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Makes {@code ctx} current on this thread unless it already is (the driver's current context is per thread). */
  void makeCurrent(MemorySegment ctx) {
    if (CURRENT.get() == ctx.address()) {
      return;
    }
    try {
      check((int) cuCtxSetCurrent.invokeExact(ctx), "making the GPU's context current");
    } catch (Throwable t) {
      throw rethrow(t);
    }
    CURRENT.set(ctx.address());
  }

  void synchronize() {
    try {
      check((int) cuCtxSynchronize.invokeExact(), "running the kernels");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Free and total device memory, in bytes, of the current context's GPU. */
  long[] memoryInfo() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment free = a.allocate(ValueLayout.JAVA_LONG);
      MemorySegment total = a.allocate(ValueLayout.JAVA_LONG);
      check((int) cuMemGetInfo.invokeExact(free, total), "reading the GPU's free memory");
      return new long[] {free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0)};
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** {@code bytes} of device memory; its address. */
  long allocate(long bytes) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment p = a.allocate(ValueLayout.JAVA_LONG);
      check((int) cuMemAlloc.invokeExact(p, bytes), "allocating " + (bytes >> 20) + " MiB of GPU memory");
      return p.get(ValueLayout.JAVA_LONG, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  void free(long device) {
    try {
      check((int) cuMemFree.invokeExact(device), "freeing GPU memory");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  void copyToDevice(long dst, MemorySegment src, long bytes) {
    try {
      check((int) cuMemcpyHtoD.invokeExact(dst, src, bytes), "copying " + bytes + " bytes to the GPU");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  void copyToHost(MemorySegment dst, long src, long bytes) {
    try {
      check((int) cuMemcpyDtoH.invokeExact(dst, src, bytes), "copying " + bytes + " bytes from the GPU "
          + "(or running the kernels before it)");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Loads PTX text (the driver JIT-compiles it for the GPU); a refusal's message carries the JIT's log. */
  MemorySegment loadModule(String ptx, String what) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment image = a.allocateFrom(ptx);
      int logSize = 8192;
      MemorySegment log = a.allocate(logSize);
      MemorySegment options = a.allocate(ValueLayout.JAVA_INT, 2);
      options.setAtIndex(ValueLayout.JAVA_INT, 0, JIT_ERROR_LOG_BUFFER);
      options.setAtIndex(ValueLayout.JAVA_INT, 1, JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
      MemorySegment values = a.allocate(ValueLayout.ADDRESS, 2);
      values.setAtIndex(ValueLayout.ADDRESS, 0, log);
      values.setAtIndex(ValueLayout.ADDRESS, 1, MemorySegment.ofAddress(logSize));
      MemorySegment p = a.allocate(ValueLayout.ADDRESS);
      int status = (int) cuModuleLoadDataEx.invokeExact(p, image, 2, options, values);
      if (status != 0) {
        String jit = log.getString(0).strip();
        throw failure("loading " + what, status, jit.isEmpty() ? "" : "\n" + jit);
      }
      return p.get(ValueLayout.ADDRESS, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  void unloadModule(MemorySegment module) {
    try {
      check((int) cuModuleUnload.invokeExact(module), "unloading the kernels");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  MemorySegment function(MemorySegment module, String name) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment p = a.allocate(ValueLayout.ADDRESS);
      check((int) cuModuleGetFunction.invokeExact(p, module, a.allocateFrom(name)), "finding kernel " + name
          + " in the PTX (the launch table and the PTX come from different builds: compile the model again)");
      return p.get(ValueLayout.ADDRESS, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Launches {@code fn} on {@code blocks} × {@code threads} threads with {@code params} (a pointer per argument). */
  int launch(MemorySegment fn, int blocks, int threads, MemorySegment params) {
    try {
      return (int) cuLaunchKernel.invokeExact(fn, blocks, 1, 1, threads, 1, 1, 0, MemorySegment.NULL, params,
          MemorySegment.NULL);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** The driver's description of {@code status}. */
  String errorText(int status) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment p = a.allocate(ValueLayout.ADDRESS);
      if ((int) cuGetErrorString.invokeExact(status, p) == 0) {
        MemorySegment s = p.get(ValueLayout.ADDRESS, 0);
        if (!s.equals(MemorySegment.NULL)) {
          return s.reinterpret(1024).getString(0) + " (" + status + ")";
        }
      }
    } catch (Throwable t) {
      throw rethrow(t);
    }
    return "error " + status;
  }

  void check(int status, String what) {
    if (status != 0) {
      throw failure(what, status, "");
    }
  }

  Failure failure(String what, int status, String detail) {
    return new Failure("the CUDA driver failed " + what + ": " + errorText(status) + detail, status);
  }

  private static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) {
      throw r;
    }
    if (t instanceof Error e) {
      throw e;
    }
    throw new IllegalStateException("calling the CUDA driver", t);
  }
}
