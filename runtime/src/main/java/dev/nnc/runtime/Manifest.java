package dev.nnc.runtime;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What the runtime needs to run a compiled model, and nothing of the compiler: the arena size,
 * where every parameter, input and output lives in it, and per program the native calls in
 * order. Written as {@code manifest.json} next to an ahead-of-time library.
 */
public record Manifest(
    String model,
    int formatVersion,
    int batch,
    long arenaFloats,
    List<ParamSlot> params,
    Map<String, Program> programs,
    Map<String, Object> info,
    Target target,
    Library library) {

  public static final int FORMAT = 3;
  /** The manifest's name in a compiled folder; written last, so that it vouches for the rest. */
  public static final String FILE = "manifest.json";

  /** A manifest for code in this process (JIT): no library file, no target recorded. */
  public Manifest(String model, int formatVersion, int batch, long arenaFloats, List<ParamSlot> params,
      Map<String, Program> programs, Map<String, Object> info) {
    this(model, formatVersion, batch, arenaFloats, params, programs, info, null, null);
  }

  /**
   * What the code was compiled for: the LLVM triple and CPU ({@code native} is resolved to the
   * compiling host's name) and the instruction-set extensions it may use ({@link CpuFeatures}).
   */
  public record Target(String triple, String cpu, List<String> features) {}

  /** The shared library of a compiled folder: its file name and SHA-256 (hex). */
  public record Library(String file, String sha256) {}

  public Manifest withTarget(Target t) {
    return new Manifest(model, formatVersion, batch, arenaFloats, params, programs, info, t, library);
  }

  public Manifest withLibrary(Library l) {
    return new Manifest(model, formatVersion, batch, arenaFloats, params, programs, info, target, l);
  }

  /**
   * Opens the library this manifest names in {@code dir}, after checking that it is the very file
   * compiled with this manifest (its SHA-256: a folder mixing two compiles is refused) and that
   * this CPU has every extension the code uses (never an illegal instruction).
   */
  public KernelLibrary openLibrary(Path dir) throws IOException {
    Path lib = checkedLibrary(dir);
    checkCpu(CpuFeatures.hostFlags(), dir.resolve(FILE).toString());
    return KernelLibrary.open(lib);
  }

  /** The library file of compiled folder {@code dir}, checked to be the one this manifest was written with. */
  public Path checkedLibrary(Path dir) throws IOException {
    if (library == null) {
      throw new DataException(dir.resolve(FILE) + ": names no library (it describes code compiled in memory)");
    }
    Path lib = dir.resolve(library.file());
    if (!java.nio.file.Files.isRegularFile(lib)) {
      throw new DataException(lib + ": no such library; run `nnc compile` again");
    }
    String sha = sha256(lib);
    if (!sha.equals(library.sha256())) {
      throw new DataException(lib + " is not the library that " + dir.resolve(FILE) + " was written with (SHA-256 "
          + sha.substring(0, 12) + "…, the manifest says " + library.sha256().substring(0, Math.min(12,
              library.sha256().length())) + "…): the folder mixes files of different `nnc compile` runs; compile again");
    }
    return lib;
  }

  /** Refuses code that needs an extension this CPU lacks; {@code where} names the manifest. */
  public void checkCpu(java.util.Set<String> hostFlags, String where) throws DataException {
    if (target == null) {
      return;
    }
    List<String> missing = CpuFeatures.missing(target.features(), hostFlags);
    if (!missing.isEmpty()) {
      throw new DataException(where + ": the model was compiled for CPU " + target.cpu() + " and uses "
          + String.join(", ", missing) + ", which this machine's CPU does not have; compile it for a portable "
          + "level (`nnc compile --cpu x86-64-v3`, or `--cpu x86-64-v2`) or on the machine that runs it");
    }
  }

  /** The SHA-256 of a file, in hex. */
  public static String sha256(Path file) throws IOException {
    try {
      java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
      try (var in = java.nio.file.Files.newInputStream(file)) {
        byte[] buf = new byte[1 << 16];
        for (int r = in.read(buf); r > 0; r = in.read(buf)) {
          md.update(buf, 0, r);
        }
      }
      return java.util.HexFormat.of().formatHex(md.digest());
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A persistent tensor: weight ({@code role=weight}), frozen weight, or state. */
  public record ParamSlot(String name, long offset, int[] shape, String role, String init, double initValue) {
    /** Computed from the others by the {@code prepare} program: never saved, recomputed after every weight change. */
    @com.fasterxml.jackson.annotation.JsonIgnore
    public boolean derived() {
      return role.equals("derived");
    }

    /** Carried by weight files: weights, frozen weights and buffers (not optimizer state, not derived tensors). */
    @com.fasterxml.jackson.annotation.JsonIgnore
    public boolean saved() {
      return !role.equals("state") && !derived();
    }

    public long size() {
      long n = 1;
      for (int d : shape) {
        n *= d;
      }
      return n;
    }
  }

  /**
   * An input or output of a program: its arena slot and shape (batch first). An integer input
   * that indexes (class labels, token ids) has {@code bound} > 0 and takes values in
   * {@code [min, bound)}; {@code indexes} names its values for messages ({@code token id},
   * {@code sequence length}; null: class index); {@code min} is 0 but for sequence lengths (1).
   */
  public record Slot(String name, long offset, int[] shape, String dtype, int bound, String indexes, int min) {
    public Slot(String name, long offset, int[] shape, String dtype) {
      this(name, offset, shape, dtype, 0, null, 0);
    }

    public Slot(String name, long offset, int[] shape, String dtype, int bound, String indexes) {
      this(name, offset, shape, dtype, bound, indexes, 0);
    }

    public Slot(String name, long offset, int[] shape, String dtype, int bound) {
      this(name, offset, shape, dtype, bound, null);
    }

    public boolean integer() {
      return dtype.equals("i32");
    }

    public long size() {
      long n = 1;
      for (int d : shape) {
        n *= d;
      }
      return n;
    }
  }

  /**
   * A native call: {@code symbol(arena, lo, hi)} over {@code [0, extent)}. Or, with {@code repeat},
   * the head of a loop over time steps: the next {@code repeat.calls} calls run
   * {@code repeat.steps} times, the step's index {@code first + s·delta} stored as a float at arena
   * element {@code repeat.counter} before each.
   */
  @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
  public record Call(String symbol, long extent, double cost, Repeat repeat) {
    public Call(String symbol, long extent, double cost) {
      this(symbol, extent, cost, null);
    }
  }

  /** The loop of a {@link Call} that heads one. */
  public record Repeat(long counter, long steps, long first, long delta, int calls) {}

  public record Program(List<Slot> inputs, List<Slot> outputs, List<Call> calls) {
    public Slot input(String name) {
      return inputs.stream().filter(s -> s.name().equals(name)).findFirst().orElse(null);
    }

    public Slot output(String name) {
      return outputs.stream().filter(s -> s.name().equals(name)).findFirst().orElse(null);
    }
  }

  public Program program(String name) {
    Program p = programs.get(name);
    if (p == null) {
      throw new IllegalArgumentException("model " + model + " has no program '" + name + "' (it has "
          + programs.keySet() + ")");
    }
    return p;
  }

  public ParamSlot param(String name) {
    return params.stream().filter(p -> p.name().equals(name)).findFirst().orElse(null);
  }

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  public void write(Path file) throws IOException {
    AtomicFiles.write(file, JSON.writeValueAsBytes(this));
  }

  public static Manifest read(Path file) throws IOException {
    try {
      Manifest m = JSON.readValue(file.toFile(), Manifest.class);
      if (m.formatVersion() != FORMAT) {
        throw new IOException(file + ": manifest format " + m.formatVersion() + ", this runtime reads " + FORMAT
            + "; recompile the model with this nnc");
      }
      return m;
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new IOException(file + ": not a valid nnc manifest (" + e.getOriginalMessage() + ")");
    }
  }
}
