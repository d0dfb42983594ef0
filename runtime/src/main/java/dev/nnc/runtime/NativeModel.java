package dev.nnc.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A compiled model in memory: one arena (weights, optimizer state, inputs, activations), the
 * native kernels, and per program the schedule of calls. Not thread-safe: one program runs at a
 * time, its kernels split across the worker pool.
 *
 * <p>A model with a {@value #PREPARE} program (tensors derived from the weights alone, such as
 * folded or Winograd-transformed filters; {@code hoist-weights}) runs it before any other program
 * but training whenever the weights may have changed since it last ran: at first, and after
 * {@link #setParam}, {@link #initParams}, copying weights or a training step.
 */
public final class NativeModel implements AutoCloseable {

  /** The program that computes the derived tensors from the weights. */
  public static final String PREPARE = "prepare";

  /** The program that changes the weights (a training step). */
  static final String TRAIN = "train";

  /** Whether the derived tensors may be out of date (there is a prepare program and weights changed since it ran). */
  private boolean stale = true;

  /** A call bound to its code; a loop's head (repeat set) has none. */
  private record Bound(String symbol, Executor.Launch launch, Manifest.Repeat repeat) {}

  private final Manifest manifest;
  private final Arena arena;
  /** The host copy of the arena (on the CPU, the arena itself). */
  private final MemorySegment mem;
  private final Map<String, List<Bound>> schedules = new LinkedHashMap<>();
  private final Executor executor;
  private java.util.Map<String, long[]> profile;

  /** The model on this CPU: {@code library}'s kernels on {@code threads} threads. */
  public NativeModel(Manifest manifest, KernelLibrary library, int threads) {
    this(manifest, checkArena(manifest, library), threads, null);
  }

  /** The model on the executor that {@code device} makes for the host copy of its arena (a GPU's). */
  public NativeModel(Manifest manifest, java.util.function.Function<MemorySegment, Executor> device) {
    this(manifest, null, 0, java.util.Objects.requireNonNull(device, "device"));
  }

  /**
   * Kernels write the arena at offsets fixed when they were compiled: a manifest from another
   * build would let them write outside it, so the sizes must agree before anything runs.
   */
  private static KernelLibrary checkArena(Manifest manifest, KernelLibrary library) {
    long compiled = library.symbol(KernelLibrary.ARENA_SYMBOL).reinterpret(8).get(ValueLayout.JAVA_LONG, 0);
    if (compiled != manifest.arenaFloats()) {
      throw new IllegalStateException("the kernels were compiled for an arena of " + compiled + " floats but the "
          + "manifest of " + manifest.model() + " says " + manifest.arenaFloats() + "; library and manifest come "
          + "from different builds: compile the model again");
    }
    return library;
  }

  private NativeModel(Manifest manifest, KernelLibrary library, int threads,
      java.util.function.Function<MemorySegment, Executor> device) {
    this.manifest = manifest;
    long bytes = Math.multiplyExact(manifest.arenaFloats(), 4L);
    ModelTooLargeException.checkFits(manifest, bytes, ModelTooLargeException.availableBytes());
    this.arena = Arena.ofShared();
    try {
      this.mem = arena.allocate(bytes, 64);
    } catch (OutOfMemoryError e) {
      arena.close();
      ModelTooLargeException.checkFits(manifest, bytes, 0);
      throw e;
    }
    try {
      this.executor = device != null ? device.apply(mem) : new Executor.HostExecutor(mem, library, threads);
    } catch (RuntimeException | Error e) {
      arena.close();
      throw e;
    }
    try {
      bindSchedules();
    } catch (RuntimeException | Error e) {
      close();
      throw e;
    }
  }

  private void bindSchedules() {
    for (Map.Entry<String, Manifest.Program> p : manifest.programs().entrySet()) {
      List<Bound> calls = new ArrayList<>();
      List<Manifest.Call> cs = p.getValue().calls();
      for (int i = 0; i < cs.size(); i++) {
        Manifest.Call c = cs.get(i);
        Manifest.Repeat r = c.repeat();
        if (r != null) {
          // The loop's body must lie within the program, its counter within the arena, and loops
          // do not nest: a manifest that says otherwise is not from nnc.
          boolean fits = r.calls() >= 1 && i + r.calls() < cs.size() && r.steps() >= 1 && r.counter() >= 0
              && r.counter() < manifest.arenaFloats();
          if (!fits || cs.subList(i + 1, i + 1 + r.calls()).stream().anyMatch(x -> x.repeat() != null)) {
            throw new IllegalStateException("program " + p.getKey() + " of " + manifest.model() + ": loop " + c.symbol()
                + " of " + r.calls() + " calls does not fit its program; recompile the model");
          }
          calls.add(new Bound(c.symbol(), null, r));
          continue;
        }
        calls.add(new Bound(c.symbol(), executor.bind(c), null));
      }
      schedules.put(p.getKey(), calls);
    }
  }

  public Manifest manifest() {
    return manifest;
  }

  public int threads() {
    return executor.threads();
  }

  /** Returns when the kernels launched so far have finished ({@link Executor#synchronize}). */
  public void synchronize() {
    executor.synchronize();
  }

  /** Where the kernels run ({@link Executor#where}). */
  public String where() {
    return executor.where();
  }

  /** Runs one program (its inputs must be set), after {@value #PREPARE} if the derived tensors are out of date. */
  public void run(String program) {
    List<Bound> calls = schedules.get(program);
    if (calls == null) {
      throw new IllegalArgumentException("model " + manifest.model() + " has no program '" + program + "'");
    }
    if (program.equals(TRAIN)) {
      stale = true;
    } else if (stale && !program.equals(PREPARE) && schedules.containsKey(PREPARE)) {
      execute(schedules.get(PREPARE));
      stale = false;
    }
    execute(calls);
  }

  private void execute(List<Bound> calls) {
    for (int i = 0; i < calls.size(); i++) {
      Bound head = calls.get(i);
      Manifest.Repeat r = head.repeat();
      if (r == null) {
        call(head);
        continue;
      }
      List<Bound> body = calls.subList(i + 1, i + 1 + r.calls());
      for (long s = 0; s < r.steps(); s++) {
        executor.setCounter(r.counter(), (float) (r.first() + s * r.delta()));
        for (Bound b : body) {
          call(b);
        }
      }
      i += r.calls();
    }
  }

  private void call(Bound b) {
    long t0 = profile == null ? 0 : System.nanoTime();
    b.launch().run();
    if (profile != null) {
      executor.synchronize(); // a GPU's kernel has finished only then
      long[] acc = profile.computeIfAbsent(b.symbol(), k -> new long[2]);
      acc[0] += System.nanoTime() - t0;
      acc[1]++;
    }
  }

  /** Starts (or restarts) timing every kernel call. */
  public void startProfiling() {
    profile = new java.util.LinkedHashMap<>();
  }

  /** Time per kernel since {@link #startProfiling}, slowest first. */
  public String profileReport() {
    if (profile == null) {
      return "profiling is off\n";
    }
    long total = profile.values().stream().mapToLong(v -> v[0]).sum();
    StringBuilder sb = new StringBuilder(String.format("%-40s %8s %10s %6s%n", "kernel", "calls", "ms/call", "share"));
    profile.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0])).forEach(e ->
        sb.append(String.format("%-40s %8d %10.4f %5.1f%%%n", e.getKey(), e.getValue()[1],
            e.getValue()[0] / 1e6 / e.getValue()[1], 100.0 * e.getValue()[0] / Math.max(1, total))));
    return sb.toString();
  }

  private MemorySegment slice(long offsetFloats, long sizeFloats) {
    return mem.asSlice(offsetFloats * 4, sizeFloats * 4);
  }

  /** The host copy of floats {@code [offset, offset + size)}, up to date for reading. */
  private MemorySegment read(long offsetFloats, long sizeFloats) {
    executor.reading(offsetFloats, sizeFloats);
    return slice(offsetFloats, sizeFloats);
  }

  /**
   * Copies {@code data} into an input of {@code program}; its length must match the slot, and an
   * integer input must hold whole numbers within its bound (class labels in {@code [0, classes)}):
   * the kernels would otherwise read a one-hot row that is not there and train on garbage.
   */
  public void setInput(String program, String name, float[] data) {
    Manifest.Slot s = checkInput(program, name, data);
    MemorySegment.copy(data, 0, slice(s.offset(), s.size()), ValueLayout.JAVA_FLOAT, 0, data.length);
    executor.written(s.offset(), s.size());
  }

  /** Checks what {@link #setInput} checks, without copying; returns the input's slot. */
  public Manifest.Slot checkInput(String program, String name, float[] data) {
    Manifest.Slot s = slot(manifest.program(program).inputs(), name, program, "input");
    if (data == null || data.length != s.size()) {
      throw new IllegalArgumentException("input " + name + " of " + program + " needs " + s.size()
          + " values (shape " + java.util.Arrays.toString(s.shape()) + "), got " + (data == null ? 0 : data.length));
    }
    if (s.integer()) {
      checkIndices(s, data);
    }
    return s;
  }

  /** Copies every weight (trainable and frozen; not optimizer state) from a model of the same manifest. */
  void copyWeightsFrom(NativeModel other) {
    if (other.manifest != manifest) {
      throw new IllegalArgumentException("weights can only be copied between arenas of one manifest");
    }
    for (Manifest.ParamSlot p : manifest.params()) {
      if (p.saved()) {
        MemorySegment.copy(other.read(p.offset(), p.size()), 0, slice(p.offset(), p.size()), 0, p.size() * 4);
        executor.written(p.offset(), p.size());
      }
    }
    stale = true;
  }

  private static void checkIndices(Manifest.Slot s, float[] data) {
    for (int i = 0; i < data.length; i++) {
      float v = data[i];
      boolean whole = v == Math.rint(v);
      if (!whole || v < s.min() || (s.bound() > 0 && v >= s.bound())) {
        String value = whole ? String.valueOf((long) v) : String.valueOf(v);
        String noun = s.indexes() == null ? "class index" : s.indexes();
        if (noun.equals("sequence length")) {
          throw new IllegalArgumentException(s.name() + "[" + i + "] = " + value + " is not a sequence length in [1, "
              + (s.bound() - 1) + "]: " + (whole && v < 1 ? "a sequence needs at least one step (an empty sequence "
              + "has nothing to read)" : "the sequences are padded to " + (s.bound() - 1) + " steps"));
        }
        throw new IllegalArgumentException(s.name() + "[" + i + "] = " + value + " is not "
            + (s.bound() > 0 ? "a " + noun + " in [0, " + s.bound() + ")"
                + (noun.equals("token id") ? " (the vocabulary has " + s.bound() + " tokens)" : "")
                : "a non-negative integer"));
      }
    }
  }

  /**
   * Fills the rows after the first {@code n} of a batch buffer ({@code per} values each) with
   * copies of row 0: a batch completed with a real example is valid input everywhere (a padding
   * of zeros would be an empty sequence, which a recurrent layer refuses); its results are ignored.
   */
  public static void padBatch(float[] buf, int n, int per) {
    for (int r = Math.max(n, 1); (long) (r + 1) * per <= buf.length; r++) {
      System.arraycopy(buf, 0, buf, r * per, per);
    }
  }

  public float[] output(String program, String name) {
    Manifest.Slot s = slot(manifest.program(program).outputs(), name, program, "output");
    return read(s.offset(), s.size()).toArray(ValueLayout.JAVA_FLOAT);
  }

  /** Reads an output's first {@code count} floats without copying the rest. */
  public void output(String program, String name, float[] into) {
    Manifest.Slot s = slot(manifest.program(program).outputs(), name, program, "output");
    int n = Math.min(into.length, (int) s.size());
    MemorySegment.copy(read(s.offset(), n), ValueLayout.JAVA_FLOAT, 0, into, 0, n);
  }

  private static Manifest.Slot slot(List<Manifest.Slot> slots, String name, String program, String what) {
    for (Manifest.Slot s : slots) {
      if (s.name().equals(name)) {
        return s;
      }
    }
    throw new IllegalArgumentException(program + " has no " + what + " '" + name + "' (it has "
        + slots.stream().map(Manifest.Slot::name).toList() + ")");
  }

  public float[] param(String name) {
    Manifest.ParamSlot p = paramSlot(name);
    return read(p.offset(), p.size()).toArray(ValueLayout.JAVA_FLOAT);
  }

  public void setParam(String name, float[] v) {
    Manifest.ParamSlot p = paramSlot(name);
    if (v.length != p.size()) {
      throw new IllegalArgumentException("parameter " + name + " has " + p.size() + " elements, got " + v.length);
    }
    MemorySegment.copy(v, 0, slice(p.offset(), p.size()), ValueLayout.JAVA_FLOAT, 0, v.length);
    executor.written(p.offset(), p.size());
    stale = true;
  }

  public boolean hasParam(String name) {
    return manifest.param(name) != null;
  }

  private Manifest.ParamSlot paramSlot(String name) {
    Manifest.ParamSlot p = manifest.param(name);
    if (p == null) {
      throw new IllegalArgumentException("model " + manifest.model() + " has no parameter '" + name + "'");
    }
    return p;
  }

  /** Initialises every parameter from its initialiser, reproducibly from {@code seed}. */
  public void initParams(long seed) {
    for (Manifest.ParamSlot p : manifest.params()) {
      setParam(p.name(), Initializers.values(p, seed));
    }
  }

  @Override
  public void close() {
    executor.close();
    arena.close();
  }

  /** Fills parameters per their initialiser. */
  public static final class Initializers {
    private Initializers() {}

    /** Every parameter of {@code m}, initialised, by name (no native code needed). */
    public static java.util.Map<String, float[]> all(Manifest m, long seed) {
      java.util.Map<String, float[]> out = new LinkedHashMap<>();
      for (Manifest.ParamSlot p : m.params()) {
        out.put(p.name(), values(p, seed));
      }
      return out;
    }

    public static float[] values(Manifest.ParamSlot p, long seed) {
      int n = Math.toIntExact(p.size());
      float[] v = new float[n];
      int[] s = p.shape();
      long receptive = 1;
      for (int i = 2; i < s.length; i++) {
        receptive *= s[i];
      }
      double fanIn = s.length >= 2 ? (double) s[1] * receptive : Math.max(1, n);
      double fanOut = s.length >= 2 ? (double) s[0] * receptive : Math.max(1, n);
      SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ p.name().hashCode());
      switch (p.init()) {
        case "zeros" -> { }
        case "ones" -> java.util.Arrays.fill(v, 1f);
        case "constant" -> java.util.Arrays.fill(v, (float) p.initValue());
        case "glorot_uniform" -> uniform(v, rnd, Math.sqrt(6 / (fanIn + fanOut)));
        case "glorot_normal" -> normal(v, rnd, Math.sqrt(2 / (fanIn + fanOut)));
        case "he_uniform" -> uniform(v, rnd, Math.sqrt(6 / fanIn));
        case "he_normal" -> normal(v, rnd, Math.sqrt(2 / fanIn));
        case "fan_in_uniform" -> uniform(v, rnd, 1 / Math.sqrt(fanIn));
        case "normal" -> normal(v, rnd, 1);
        case "uniform" -> uniform(v, rnd, p.initValue());
        default -> throw new IllegalArgumentException("unknown initialiser " + p.init() + " for " + p.name());
      }
      return v;
    }

    private static void uniform(float[] v, SplittableRandom r, double limit) {
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) ((r.nextDouble() * 2 - 1) * limit);
      }
    }

    private static void normal(float[] v, SplittableRandom r, double std) {
      for (int i = 0; i < v.length; i++) {
        double u1 = 1 - r.nextDouble();
        double u2 = r.nextDouble();
        v[i] = (float) (std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
      }
    }
  }
}
