package dev.nnc.codegen.cuda;

import dev.nnc.passes.backend.Compiled;
import dev.nnc.passes.backend.NativeCall;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * A model's GPU code: one PTX module, the programs' schedules (a call's extent is its kernel's
 * blocks) and each kernel's launch geometry.
 */
public final class CudaCompiled implements Compiled {
  private final String arch;
  private final boolean tf32;
  private final int tensorCoreKernels;
  private final String ptx;
  private final Map<String, List<NativeCall>> schedules;
  private final Map<String, GpuEmitter.Launch> launches;
  private final double seconds;
  private final String times;

  CudaCompiled(String arch, boolean tf32, int tensorCoreKernels, String ptx, Map<String, List<NativeCall>> schedules,
      Map<String, GpuEmitter.Launch> launches, double seconds, String times) {
    this.times = times;
    this.arch = arch;
    this.tf32 = tf32;
    this.tensorCoreKernels = tensorCoreKernels;
    this.ptx = ptx;
    this.schedules = schedules;
    this.launches = launches;
    this.seconds = seconds;
  }

  @Override
  public Map<String, List<NativeCall>> schedules() {
    return schedules;
  }

  @Override
  public Target target() {
    return new Target(CudaBackend.TRIPLE, arch, List.of());
  }

  /** The GPU architecture the PTX is for ({@code sm_80}). */
  public String arch() {
    return arch;
  }

  /** Kernels in the module. */
  public int kernels() {
    return launches.size();
  }

  /** Entry points in the module: kernels with the same loop nests share one. */
  public int entries() {
    return (int) launches.values().stream().map(GpuEmitter.Launch::entry).distinct().count();
  }

  /** The entry point that runs kernel {@code symbol}, with its buffers' arena offsets as arguments. */
  public String entry(String symbol) {
    return launch(symbol).entry();
  }

  /** The arena offsets kernel {@code symbol} passes to its entry point after the arena. */
  public long[] arguments(String symbol) {
    return launch(symbol).offsets().clone();
  }

  GpuEmitter.Launch launch(String symbol) {
    GpuEmitter.Launch l = launches.get(symbol);
    if (l == null) {
      throw new IllegalArgumentException("no kernel " + symbol);
    }
    return l;
  }

  /** Threads per block of kernel {@code symbol}. */
  public int threads(String symbol) {
    return launch(symbol).threads();
  }

  /** Whether the large GEMMs run on the tensor cores in TF32 ({@code --tf32}). */
  public boolean tf32() {
    return tf32;
  }

  /** Kernels that are tensor-core GEMMs (0 without {@code --tf32}). */
  public int tensorCoreKernels() {
    return tensorCoreKernels;
  }

  @Override
  public String report() {
    return String.format("PTX for %s%s: %d kernels through %d entry points, %d KB, in %.1fs (%s)", arch,
        tf32 ? " (TF32: " + tensorCoreKernels + " GEMM" + (tensorCoreKernels == 1 ? "" : "s") + " on the tensor cores)" : "",
        launches.size(),
        entries(), ptx.length() / 1024, seconds, times);
  }

  /** The PTX module. */
  @Override
  public String text() {
    return ptx;
  }

  /** GPU code is not loaded into this process: the CUDA driver loads the PTX. */
  @Override
  public ToLongFunction<String> jit() {
    throw new UnsupportedOperationException("GPU code runs through the CUDA driver, not in this process: "
        + "no CUDA runtime is part of this build yet; use --device cpu");
  }

  /** Writes the PTX module (to a temporary file, then renamed). */
  @Override
  public void writeLibrary(Path file) throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
    try {
      Files.writeString(tmp, ptx);
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  @Override
  public void close() {}
}
