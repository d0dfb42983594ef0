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

/**
 * The CUDA driver ({@code libcuda.so.1}, installed with NVIDIA's kernel driver) through
 * java.lang.foreign, as the runtime calls its own kernels: nothing of CUDA is loaded until a
 * command asks for {@code --device cuda}, and no CUDA toolkit is needed where the model runs.
 * (org.bytedeco:cuda's JNI bindings would also need the CUDA runtime library, libcudart, of their
 * own version beside the driver.)
 */
public final class CudaDriver {
  /** Why there is no usable CUDA device; the message says what was looked for and what to do. */
  public static final class Unavailable extends Exception {
    public Unavailable(String message) {
      super(message);
    }
  }

  /** A GPU: its index, name and compute capability ({@code sm_90} for 9.0). */
  public record Device(int index, String name, int major, int minor) {
    public String arch() {
      return "sm_" + major + minor;
    }
  }

  public static final String LIBRARY_NAME = "libcuda.so.1";
  private static final int ATTRIBUTE_CC_MAJOR = 75;
  private static final int ATTRIBUTE_CC_MINOR = 76;

  private final MethodHandle cuInit;
  private final MethodHandle cuDeviceGetCount;
  private final MethodHandle cuDeviceGet;
  private final MethodHandle cuDeviceGetName;
  private final MethodHandle cuDeviceGetAttribute;
  private final MethodHandle cuGetErrorString;

  private CudaDriver(SymbolLookup lib) {
    Linker l = Linker.nativeLinker();
    ValueLayout.OfInt i = ValueLayout.JAVA_INT;
    ValueLayout p = ValueLayout.ADDRESS;
    cuInit = l.downcallHandle(find(lib, "cuInit"), FunctionDescriptor.of(i, i));
    cuDeviceGetCount = l.downcallHandle(find(lib, "cuDeviceGetCount"), FunctionDescriptor.of(i, p));
    cuDeviceGet = l.downcallHandle(find(lib, "cuDeviceGet"), FunctionDescriptor.of(i, p, i));
    cuDeviceGetName = l.downcallHandle(find(lib, "cuDeviceGetName"), FunctionDescriptor.of(i, p, i, i));
    cuDeviceGetAttribute = l.downcallHandle(find(lib, "cuDeviceGetAttribute"), FunctionDescriptor.of(i, p, i, i));
    cuGetErrorString = l.downcallHandle(find(lib, "cuGetErrorString"), FunctionDescriptor.of(i, i, p));
  }

  private static MemorySegment find(SymbolLookup lib, String name) {
    return lib.find(name).orElseThrow(() -> new IllegalStateException(LIBRARY_NAME + " has no " + name
        + ": a CUDA driver too old for nnc"));
  }

  /**
   * The driver, initialised, with its GPUs; {@link Unavailable} when there is no driver, it fails
   * to start, or it sees no GPU. {@code library}: the driver's file name (tests give a missing one).
   */
  public static List<Device> devices(String library) throws Unavailable {
    SymbolLookup lib;
    try {
      lib = SymbolLookup.libraryLookup(library, Arena.global());
    } catch (IllegalArgumentException e) {
      throw new Unavailable("no CUDA driver found (" + library + " could not be loaded: there is no NVIDIA driver on "
          + "this machine); use --device cpu");
    }
    CudaDriver d = new CudaDriver(lib);
    try (Arena a = Arena.ofConfined()) {
      d.check((int) d.cuInit.invokeExact(0), "starting the CUDA driver (cuInit)");
      MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
      d.check((int) d.cuDeviceGetCount.invokeExact(n), "counting GPUs");
      int count = n.get(ValueLayout.JAVA_INT, 0);
      if (count == 0) {
        throw new Unavailable("the CUDA driver sees no GPU; use --device cpu");
      }
      List<Device> out = new ArrayList<>();
      for (int k = 0; k < count; k++) {
        MemorySegment dev = a.allocate(ValueLayout.JAVA_INT);
        d.check((int) d.cuDeviceGet.invokeExact(dev, k), "opening GPU " + k);
        int handle = dev.get(ValueLayout.JAVA_INT, 0);
        MemorySegment name = a.allocate(256);
        d.check((int) d.cuDeviceGetName.invokeExact(name, 256, handle), "reading GPU " + k + "'s name");
        MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
        d.check((int) d.cuDeviceGetAttribute.invokeExact(v, ATTRIBUTE_CC_MAJOR, handle), "reading GPU " + k);
        int major = v.get(ValueLayout.JAVA_INT, 0);
        d.check((int) d.cuDeviceGetAttribute.invokeExact(v, ATTRIBUTE_CC_MINOR, handle), "reading GPU " + k);
        out.add(new Device(k, name.getString(0), major, v.get(ValueLayout.JAVA_INT, 0)));
      }
      return out;
    } catch (Unavailable | RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException("calling the CUDA driver", t);
    }
  }

  /** The driver on this machine ({@value #LIBRARY_NAME}). */
  public static List<Device> devices() throws Unavailable {
    return devices(LIBRARY_NAME);
  }

  private void check(int status, String what) throws Throwable {
    if (status == 0) {
      return;
    }
    String text = "error " + status;
    try (Arena a = Arena.ofConfined()) {
      MemorySegment p = a.allocate(ValueLayout.ADDRESS);
      if ((int) cuGetErrorString.invokeExact(status, p) == 0) {
        MemorySegment s = p.get(ValueLayout.ADDRESS, 0);
        if (!s.equals(MemorySegment.NULL)) {
          text = s.reinterpret(1024).getString(0) + " (" + status + ")";
        }
      }
    }
    throw new Unavailable("the CUDA driver failed " + what + ": " + text + "; use --device cpu");
  }
}
