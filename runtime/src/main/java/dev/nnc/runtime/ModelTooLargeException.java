package dev.nnc.runtime;

/** A compiled model needs more memory than this machine can give it; the message says how much of each. */
public final class ModelTooLargeException extends RuntimeException {
  public ModelTooLargeException(String message) {
    super(message);
  }

  /** Bytes of memory available to a new allocation: {@code MemAvailable} on Linux, else the JVM's view. */
  public static long availableBytes() {
    try {
      for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/meminfo"))) {
        if (line.startsWith("MemAvailable:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (java.io.IOException | RuntimeException e) {
      // not Linux: fall through
    }
    var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getFreeMemorySize() : Long.MAX_VALUE;
  }

  static long totalBytes() {
    var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getTotalMemorySize() : -1;
  }

  /** Refuses an arena of {@code bytes} that the machine cannot hold, before anything is allocated. */
  static void checkFits(Manifest m, long bytes, long available) {
    checkFits(m.model(), m.batch(), bytes, available);
  }

  /** As above, for a model not compiled yet ({@code nnc check} plans its memory without code). */
  public static void checkFits(String model, int batch, long bytes, long available) {
    if (bytes > available) {
      long total = totalBytes();
      throw new ModelTooLargeException(String.format(java.util.Locale.ROOT,
          "model %s needs %.1f GiB of memory (weights, optimizer state and activations at batch %d) and this "
              + "machine has %.1f GiB available%s; lower the batch size (--batch) or make the model smaller",
          model, gib(bytes), batch, gib(available), total > 0 ? String.format(java.util.Locale.ROOT,
              " of %.1f GiB", gib(total)) : ""));
    }
  }

  /** Refuses an arena of {@code bytes} that GPU {@code gpu}, with {@code free} bytes free, cannot hold. */
  public static void checkFits(Manifest m, long bytes, long free, String gpu) {
    if (bytes > free) {
      throw new ModelTooLargeException(String.format(java.util.Locale.ROOT,
          "model %s needs %s of GPU memory (weights, optimizer state and activations at batch %d) and %s has "
              + "%s free; lower the batch size (--batch), make the model smaller, or use --device cpu",
          m.model(), size(bytes), m.batch(), gpu, size(free)));
    }
  }

  /** {@code 3.2 GiB}, {@code 12.5 MiB}, {@code 128 bytes}. */
  static String size(long bytes) {
    return bytes >= 1L << 30 ? String.format(java.util.Locale.ROOT, "%.1f GiB", gib(bytes))
        : bytes >= 1L << 20 ? String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20))
        : bytes + " bytes";
  }

  private static double gib(long bytes) {
    return bytes / (double) (1L << 30);
  }
}
