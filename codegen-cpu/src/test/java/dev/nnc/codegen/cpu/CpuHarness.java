package dev.nnc.codegen.cpu;

import dev.nnc.ir.Graph;
import dev.nnc.ir.kernel.Buffer;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.passes.backend.Compiled;
import dev.nnc.passes.backend.NativeCall;
import dev.nnc.passes.backend.PlannedProgram;
import dev.nnc.passes.lower.LowerToKernels;
import dev.nnc.passes.lower.MemoryPlan;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Compiles one graph with the CPU back end into a runnable model (program "p"), for tests and benchmarks. */
public final class CpuHarness {
  private CpuHarness() {}

  /** The graph lowered, planned and compiled, with the manifest that runs it as program "p". */
  public record Built(Compiled compiled, Manifest manifest) {}

  public static Built build(Graph g) {
    return build(g, new CpuBackend());
  }

  static Built build(Graph g, CpuBackend backend) {
    return build(g, backend, null);
  }

  /** With {@code cache} (null: the one the system properties name). */
  static Built build(Graph g, CpuBackend backend, ObjectCache cache) {
    return build(g, backend, cache, false);
  }

  /**
   * {@code prepack}: the GEMMs' parameter operands packed once into persistent copies, as for an
   * inference program; the manifest then has the back end's {@code prepare} program, which the
   * runtime runs whenever the weights changed.
   */
  static Built build(Graph g, CpuBackend backend, ObjectCache cache, boolean prepack) {
    return build(g, backend, prepack, programs -> cache == null ? backend.compile("t", programs)
        : backend.compile("t", programs, dev.nnc.passes.backend.Backend.NATIVE, cache));
  }

  /** The graph through any back end (the CUDA back end's emulation, for instance), planned with its scratch. */
  public static Built build(Graph g, dev.nnc.passes.backend.Backend backend) {
    return build(g, backend, false, programs -> backend.compile("t", programs));
  }

  /** As above, for the back end's target {@code cpu} (a GPU architecture for the CUDA back end). */
  public static Built buildFor(Graph g, dev.nnc.passes.backend.Backend backend, String cpu) {
    return build(g, backend, false, programs -> backend.compile("t", programs, cpu));
  }

  private static Built build(Graph g, dev.nnc.passes.backend.Backend backend, boolean prepack,
      java.util.function.Function<List<PlannedProgram>, Compiled> compile) {
    KernelProgram kp = LowerToKernels.lower(g, "p");
    Map<String, Long> offsets = new LinkedHashMap<>();
    List<Manifest.ParamSlot> slots = new ArrayList<>();
    long cursor = 0;
    for (Buffer b : kp.buffers()) {
      if (b.kind() == Buffer.Kind.PARAM) {
        offsets.put(b.name(), cursor);
        slots.add(new Manifest.ParamSlot(b.name(), cursor, b.shape().dims(), "weight", "zeros", 0));
        cursor += (b.size() + 15) / 16 * 16;
      }
    }
    MemoryPlan planned = MemoryPlan.plan(kp, offsets, cursor, backend::scratchFloats,
        (x, y) -> backend.sharesPackedA(x, y, dev.nnc.passes.backend.Backend.NATIVE));
    MemoryPlan.Packed packed = MemoryPlan.packOperands(List.of(kp), List.of(planned),
        prepack ? java.util.Set.of() : java.util.Set.of("p"), planned.regionEnd(),
        (gemm, a) -> backend.packedFloats(gemm, a, dev.nnc.passes.backend.Backend.NATIVE));
    MemoryPlan plan = packed.plans().get(0);
    long arena = Math.max(planned.regionEnd(), packed.end());
    List<PlannedProgram> programs = List.of(new PlannedProgram(kp, plan));
    Compiled c = compile.apply(programs);
    List<Manifest.Slot> ins = new ArrayList<>();
    kp.inputs().forEach((n, b) -> ins.add(new Manifest.Slot(n, plan.offset(b), kp.buffers().get(b).shape().dims(), "f32")));
    List<Manifest.Slot> outs = new ArrayList<>();
    kp.outputs().forEach((n, v) -> outs.add(new Manifest.Slot(n, plan.offset(v.buffer()), v.shape().dims(), "f32")));
    List<Manifest.Call> calls = new ArrayList<>();
    for (NativeCall nc : c.schedules().get("p")) {
      calls.add(manifestCall(nc));
    }
    Map<String, Manifest.Program> progs = new LinkedHashMap<>();
    progs.put("p", new Manifest.Program(ins, outs, calls));
    if (c.schedules().containsKey("prepare")) {
      progs.put("prepare", new Manifest.Program(List.of(), List.of(), c.schedules().get("prepare").stream()
          .map(nc -> manifestCall(nc)).toList()));
    }
    Manifest m = new Manifest("t", Manifest.FORMAT, 1, arena, slots, progs, Map.of());
    return new Built(c, m);
  }

  /** JIT-compiled (or, with {@code -Dprobe.aot=true}, through a shared library). */
  public static NativeModel compile(Graph g, int threads) {
    return Boolean.getBoolean("probe.aot") ? compileLibrary(g, threads, null) : compileJit(g, threads);
  }

  public static NativeModel compileJit(Graph g, int threads) {
    Built b = build(g);
    return new NativeModel(b.manifest(), KernelLibrary.ofAddresses(b.compiled().jit()), threads);
  }

  /** Linked into a shared library ({@code so}, or a temporary file) and loaded from it. */
  public static NativeModel compileLibrary(Graph g, int threads, java.nio.file.Path so) {
    Built b = build(g);
    try {
      java.nio.file.Path file = so;
      if (file == null) {
        file = java.nio.file.Files.createTempFile("probe", ".so");
        file.toFile().deleteOnExit();
      }
      b.compiled().writeLibrary(file);
      return new NativeModel(b.manifest(), KernelLibrary.open(file), threads);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** A schedule's call as the manifest records it (a loop's head with its repeat). */
  static Manifest.Call manifestCall(NativeCall c) {
    NativeCall.Repeat r = c.repeat();
    return new Manifest.Call(c.symbol(), c.extent(), c.costPerItem(),
        r == null ? null : new Manifest.Repeat(r.counter(), r.steps(), r.first(), r.delta(), r.calls()));
  }
}
