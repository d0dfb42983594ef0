package dev.nnc.runtime.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The tests' stand-in CUDA driver ({@code fakecuda.c}): built with gcc on first use, loaded under
 * its path (so {@link CudaDriver#open(String)} and this class share one copy of its state). It
 * runs a model's launches on kernels compiled by the emulated CUDA back end with driver entries.
 */
public final class FakeCuda {
  private static Path library;
  private static MethodHandle kernels;
  private static MethodHandle stat;
  private static MethodHandle memory;

  private FakeCuda() {}

  /** The stand-in driver's path, building it if needed (into target/, under the test's working directory). */
  public static synchronized Path library() throws IOException, InterruptedException {
    if (library != null) {
      return library;
    }
    Path dir = Files.createDirectories(Path.of("target", "fakecuda").toAbsolutePath());
    Path so = build("fakecuda.c", dir.resolve("libfakecuda-" + ProcessHandle.current().pid() + ".so"));
    SymbolLookup lib = SymbolLookup.libraryLookup(so, Arena.global());
    Linker l = Linker.nativeLinker();
    kernels = l.downcallHandle(lib.find("nnc_fake_cuda_kernels").orElseThrow(),
        FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
    stat = l.downcallHandle(lib.find("nnc_fake_cuda_stat").orElseThrow(),
        FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
    memory = l.downcallHandle(lib.find("nnc_fake_cuda_memory").orElseThrow(),
        FunctionDescriptor.ofVoid(ValueLayout.JAVA_LONG));
    library = so;
    return so;
  }

  /** Builds C source {@code resource} (beside this class) into shared library {@code so}. */
  public static Path build(String resource, Path so) throws IOException, InterruptedException {
    Path src = so.resolveSibling(resource);
    try (InputStream in = FakeCuda.class.getResourceAsStream(resource)) {
      Files.copy(in, src, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
    Process p = new ProcessBuilder("gcc", "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-o", so.toString(),
        src.toString(), "-ldl").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("gcc could not build " + resource + ":\n" + out);
    }
    return so;
  }

  /** The GPU's memory in MiB from now on (-1: the default, 1024). */
  public static void memory(long mb) throws Exception {
    library();
    try {
      memory.invokeExact(mb);
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /** Modules loaded from now on take their kernels from host library {@code kernels} (null: none). */
  public static void useKernels(Path kernelsLibrary) throws Exception {
    library();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment path = a.allocateFrom(kernelsLibrary == null ? "" : kernelsLibrary.toString());
      kernels.invokeExact(path);
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /** A counter of the stand-in: launches, htod and dtoh (bytes copied), ctxset, modules, live (bytes allocated now). */
  public static long stat(String what) {
    try (Arena a = Arena.ofConfined()) {
      return (long) stat.invokeExact(a.allocateFrom(what));
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /** The stand-in driver, opened through the runtime as the CLI opens the configured one. */
  public static CudaDriver driver() throws Exception {
    return CudaDriver.open(library().toString());
  }
}
