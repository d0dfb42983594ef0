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
}
