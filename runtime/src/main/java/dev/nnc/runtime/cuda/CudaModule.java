package dev.nnc.runtime.cuda;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A model's GPU code as the runtime needs it: the PTX module and its launch table, per kernel of
 * the schedules its entry point, grid and block size, and the arena offsets it takes as arguments
 * after the arena. {@code nnc compile --target cuda} writes the table as {@value #FILE} beside the
 * PTX; {@code --device cuda} builds it in memory.
 */
public record CudaModule(String arch, String ptx, Map<String, Kernel> kernels) {
  /** The launch table's file name. */
  public static final String FILE = "launches.json";

  /** Threads per block the driver accepts at most. */
  static final int MAX_THREADS = 1024;

  /** A kernel's launch: entry point {@code entry}, {@code blocks} × {@code threads} threads, arguments {@code (arena, offsets…)}. */
  public record Kernel(String entry, long blocks, int threads, long[] offsets) {
    public Kernel {
      offsets = offsets.clone();
    }

    @Override
    public long[] offsets() {
      return offsets.clone();
    }
  }

  public CudaModule {
    kernels = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(kernels));
  }

  /** The launch table as JSON ({@value #FILE}). */
  public byte[] launchTable() {
    Map<String, Object> ks = new LinkedHashMap<>();
    kernels.forEach((symbol, k) -> {
      Map<String, Object> launch = new LinkedHashMap<>();
      launch.put("entry", k.entry());
      launch.put("blocks", k.blocks());
      launch.put("threads", k.threads());
      launch.put("offsets", k.offsets());
      ks.put(symbol, launch);
    });
    Map<String, Object> all = new LinkedHashMap<>();
    all.put("arch", arch);
    all.put("kernels", ks);
    try {
      return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(all);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Reads a compiled model's PTX and launch table; an unreadable or inconsistent table is an
   * {@link IOException} naming the file and what is wrong.
   */
  public static CudaModule read(Path ptxFile, Path launchesFile) throws IOException {
    String ptx = Files.readString(ptxFile, StandardCharsets.UTF_8);
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(launchesFile.toFile());
    } catch (IOException e) {
      throw new IOException(launchesFile + ": not a launch table (" + e.getMessage().lines().findFirst().orElse("")
          + "); compile the model again", e);
    }
    if (root == null || !root.path("arch").isTextual() || !root.path("kernels").isObject()) {
      throw new IOException(launchesFile + ": not a launch table (it needs \"arch\" and \"kernels\"); compile the model again");
    }
    Map<String, Kernel> kernels = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.get("kernels").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      JsonNode k = e.getValue();
      JsonNode offs = k.path("offsets");
      boolean ok = k.path("entry").isTextual() && k.path("blocks").canConvertToLong() && k.path("blocks").asLong() >= 1
          && k.path("threads").canConvertToInt() && k.path("threads").asInt() >= 1
          && k.path("threads").asInt() <= MAX_THREADS && offs.isArray();
      long[] offsets = new long[offs.size()];
      for (int i = 0; ok && i < offsets.length; i++) {
        ok = offs.get(i).canConvertToLong() && offs.get(i).asLong() >= 0;
        offsets[i] = offs.get(i).asLong();
      }
      if (!ok) {
        throw new IOException(launchesFile + ": kernel " + e.getKey() + " has no valid launch (entry, blocks >= 1, "
            + "threads in [1, " + MAX_THREADS + "], offsets >= 0); compile the model again");
      }
      kernels.put(e.getKey(), new Kernel(k.get("entry").asText(), k.get("blocks").asLong(), k.get("threads").asInt(),
          offsets));
    }
    return new CudaModule(root.get("arch").asText(), ptx, kernels);
  }
}
