package dev.nnc.codegen.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * NVIDIA's PTX assembler, {@code ptxas}, run on generated PTX: what the driver would do when it
 * loads the module, so that PTX the driver would refuse is caught on a machine without a GPU.
 */
public final class Ptxas {
  private Ptxas() {}

  /** The ptxas executable: on the PATH, else under $CUDA_HOME/bin or /usr/local/cuda/bin; null if none. */
  public static Path find() {
    String path = System.getenv("PATH");
    if (path != null) {
      for (String dir : path.split(java.io.File.pathSeparator)) {
        Path p = Path.of(dir.isEmpty() ? "." : dir, "ptxas");
        if (Files.isExecutable(p)) {
          return p;
        }
      }
    }
    String home = System.getenv("CUDA_HOME");
    for (Path p : home == null ? List.of(Path.of("/usr/local/cuda/bin/ptxas"))
        : List.of(Path.of(home, "bin", "ptxas"), Path.of("/usr/local/cuda/bin/ptxas"))) {
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  /**
   * Assembles {@code ptx} for {@code arch} ({@code sm_80}); returns ptxas' report (with
   * {@code -v}: registers and shared memory per kernel). An error from ptxas is an
   * {@link IllegalStateException} with its output.
   */
  public static String check(String ptx, String arch) throws IOException {
    Path exe = find();
    if (exe == null) {
      throw new IOException("ptxas was not found on the PATH (nor under $CUDA_HOME/bin, /usr/local/cuda/bin): "
          + "install the CUDA toolkit to check generated PTX");
    }
    Path dir = Files.createTempDirectory("nnc-ptxas");
    try {
      Path in = dir.resolve("module.ptx");
      Files.writeString(in, ptx);
      Process p = new ProcessBuilder(exe.toString(), "-arch=" + arch, "-v", "-o", dir.resolve("module.cubin").toString(),
          in.toString()).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes());
      if (!p.waitFor(300, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException("ptxas did not finish in 300 s");
      }
      if (p.exitValue() != 0) {
        throw new IllegalStateException("ptxas -arch=" + arch + " refused the generated PTX:\n" + out);
      }
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running ptxas", e);
    } finally {
      try (var s = Files.walk(dir)) {
        s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }
  /** Registers per thread, bytes of shared memory per block and bytes of spilled registers of each entry point in a report of {@link #check}. */
  public record Resources(int registers, int sharedBytes, int spillStores) {
    /**
     * Whether a block of {@code threads} threads fits a multiprocessor of compute capability 7.0
     * to 9.0: at most 1,024 threads, 65,536 registers (allocated per warp in units of 256) and
     * 48 KB of static shared memory; otherwise the driver refuses the launch.
     */
    public boolean fits(int threads) {
      long perWarp = (registers * 32L + 255) / 256 * 256;
      return threads <= 1024 && perWarp * ((threads + 31) / 32) <= 65536 && sharedBytes <= 48 * 1024;
    }
  }

  /** The {@link Resources} of each entry point that {@code report} (ptxas {@code -v}) names. */
  public static java.util.Map<String, Resources> resources(String report) {
    java.util.Map<String, Resources> out = new java.util.LinkedHashMap<>();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "Compiling entry function '([^']+)'.*?(\\d+) bytes spill stores.*?Used (\\d+) registers"
            + "(?:, used \\d+ barriers)?(?:, (\\d+) bytes smem)?",
        java.util.regex.Pattern.DOTALL).matcher(report);
    while (m.find()) {
      out.put(m.group(1), new Resources(Integer.parseInt(m.group(3)), m.group(4) == null ? 0 : Integer.parseInt(m.group(4)),
          Integer.parseInt(m.group(2))));
    }
    return out;
  }
}
