package dev.nnc.codegen.cpu;

import static org.bytedeco.llvm.global.LLVM.*;

import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.ir.kernel.KernelTemplate;
import dev.nnc.passes.backend.Backend;
import dev.nnc.passes.backend.Compiled;
import dev.nnc.passes.backend.NativeCall;
import dev.nnc.passes.backend.PlannedProgram;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.llvm.LLVM.LLVMContextRef;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMTargetMachineRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * The x86-64 back end: kernel IR → LLVM IR for the host's vector width, optimised at -O3 and
 * compiled to object code in independent units (in parallel, and through the on-disk
 * {@link ObjectCache}), then either linked in memory by ORC LLJIT or linked into a shared library
 * by lld. Kernels with equal {@link KernelTemplate}s, across all the model's programs, share one
 * compiled body that takes their buffers' offsets as arguments; each kernel's own symbol is a
 * wrapper passing its offsets ({@link KernelEmitter#wrapper}).
 */
public final class CpuBackend implements Backend {
  /** The program that runs whenever the weights changed (dev.nnc.passes.HoistWeights). */
  static final String PREPARE = dev.nnc.passes.HoistWeights.PROGRAM;

  /** An exported i64: the arena size (floats) the code was planned for. */
  public static final String ARENA_SYMBOL = dev.nnc.runtime.KernelLibrary.ARENA_SYMBOL;

  /** The GEMM blocking; null: the default with {@code -Dnnc.gemm.*} overrides, read at compile time. */
  private final GemmEmitter.Tiling tiling;
  /**
   * The vector registers the default blocking may assume (for a row-split GEMM's micro-tile,
   * {@link GemmEmitter.Blocking#rowTiling}); 0: the host's (32 with AVX-512, else 16).
   */
  private final int registers;
  /** Whether loops over time that keep to their rows run whole per block of rows ({@link #fusedLoop}). */
  private final boolean fuseSteps;

  /** {@code -Dnnc.steps.fuse=false} runs every loop over time step by step, for comparisons. */
  static final boolean FUSE_STEPS = !"false".equals(System.getProperty("nnc.steps.fuse"));

  public CpuBackend() {
    this(null);
  }

  CpuBackend(GemmEmitter.Tiling tiling) {
    this(tiling, 0, FUSE_STEPS);
  }

  /** The default blocking, assuming {@code registers} vector registers (16 on any x86-64 with AVX). */
  CpuBackend(int registers) {
    this(null, registers, FUSE_STEPS);
  }

  private CpuBackend(GemmEmitter.Tiling tiling, int registers, boolean fuseSteps) {
    this.tiling = tiling;
    this.registers = registers;
    this.fuseSteps = fuseSteps;
  }

  /** This back end with every loop over time run step by step by the runtime (for comparisons in tests). */
  CpuBackend stepByStep() {
    return new CpuBackend(tiling, registers, false);
  }

  @Override
  public long scratchFloats(Kernel k) {
    return switch (k) {
      case Kernel.Gemm g -> GemmEmitter.scratchFloats(g);
      case Kernel.Loops l -> 0;
      // Its body's kernels are planned one by one.
      case Kernel.Steps st -> 0;
    };
  }

  /**
   * Inference GEMMs keep their weight operands packed (see {@link Backend#packedFloats}): the size
   * follows the blocking the GEMM will get on {@code cpu}.
   */
  @Override
  public long packedFloats(Kernel.Gemm g, boolean a, String cpu) {
    if (!PREPACK) {
      return 0;
    }
    Llvm.Host host = hosts.computeIfAbsent(cpu, Llvm::target);
    return GemmEmitter.prepackedFloats(g, blocking(host).tilingFor(g), a);
  }

  /**
   * A weight gradient's {@code dGᵀ} packed by {@code dW_hh = dGᵀ·h} serves {@code dW_ih = dGᵀ·x}
   * too: the later GEMM reads the earlier one's packed A when it would pack A the same way (one
   * product each, A packed by both, the same micro-tile rows). Checked again when compiling, for
   * the target then in force.
   */
  @Override
  public boolean sharesPackedA(Kernel.Gemm earlier, Kernel.Gemm later, String cpu) {
    if (!PREPACK) {
      return false;
    }
    return sharesPackedA(blocking(hosts.computeIfAbsent(cpu, Llvm::target)), earlier, later);
  }

  static boolean sharesPackedA(GemmEmitter.Blocking blocking, Kernel.Gemm earlier, Kernel.Gemm later) {
    return earlier.batch() == 1 && later.batch() == 1 && packsA(blocking, earlier) && packsA(blocking, later)
        && blocking.tilingFor(earlier).mr() == blocking.tilingFor(later).mr();
  }

  private static boolean packsA(GemmEmitter.Blocking blocking, Kernel.Gemm g) {
    return !GemmEmitter.readsAInPlace(blocking, g.m(), g.n(), g.k(), g.transA(), g.batch());
  }

  /** {@code -Dnnc.gemm.prepack=false} packs every operand on every call, as before weights were prepacked. */
  static final boolean PREPACK = !"false".equals(System.getProperty("nnc.gemm.prepack"));

  private final Map<String, Llvm.Host> hosts = new java.util.concurrent.ConcurrentHashMap<>();

  /** The GEMM blocking for {@code host}: the given tiling, or the default with {@code -Dnnc.gemm.*}, checked. */
  GemmEmitter.Blocking blocking(Llvm.Host host) {
    GemmEmitter.Tiling t = this.tiling != null ? this.tiling : GemmEmitter.Tiling.fromSystemProperties(host);
    t.checkFits(host);
    // The default blocking narrows to each GEMM's columns; a given one is used as it is.
    return new GemmEmitter.Blocking(t, this.tiling == null && !GemmEmitter.Tiling.overridden(),
        registers > 0 ? registers : host.vectorWidth() >= 16 ? 32 : 16);
  }

  @Override
  public String name() {
    return "cpu";
  }

  /** The optimisation pipeline every code unit runs (part of the cache key). */
  static final String PIPELINE = "default<O3>";

  /** Kernel bodies per code unit: small enough to spread over the cores, large enough to amortise a module. */
  static final int UNIT_KERNELS = 16;

  /** A kernel of a program: its symbol and the arena offsets of its template's buffers (then its GEMM scratch). */
  /** {@code borrowedA}: packedA is another GEMM's scratch, which that GEMM's own packing fills. */
  private record Instance(String symbol, long[] offsets, long packedA, long packedB, boolean borrowedA) {}

  /**
   * The kernels with one template: the body is compiled once, under the first kernel's name with
   * {@code _body} appended, and called by a wrapper per instance. A template with one instance is
   * compiled as that kernel, with its offsets as constants: exactly the code it had before bodies
   * were shared (LLVM's interprocedural constant propagation would put the constants back into a
   * one-caller body, but only after the early passes had canonicalised the code differently, and
   * some kernels then vectorised worse).
   */
  private record Group(int index, Kernel template, int buffers, boolean packedA, boolean packedB,
      List<Instance> instances) {
    boolean direct() {
      return instances.size() == 1;
    }

    /** The symbol the body's functions are named after. */
    String body() {
      return direct() ? instances.get(0).symbol() : instances.get(0).symbol() + "_body";
    }
  }

  /** One code unit to build: a run of groups, or (groups empty) the globals and the fused loops. */
  private record UnitSpec(String name, List<Group> groups, List<Fused> fused) {}

  /**
   * A loop over time run whole, all its steps, per block of {@value GemmEmitter#ROW_BLOCK} rows
   * ({@link KernelEmitter#emitFusedSteps}): its kernel {@code loop.name()} over {@code blocks}
   * work items replaces the loop's head and its per-step calls in the schedule.
   */
  private record Fused(Kernel.Steps loop, long counterOffset, long rows, List<FusedPart> parts) {
    long blocks() {
      return (rows + GemmEmitter.ROW_BLOCK - 1) / GemmEmitter.ROW_BLOCK;
    }

    double costPerBlock() {
      double flops = 0;
      for (Kernel k : loop.body()) {
        flops += switch (k) {
          case Kernel.Gemm g -> 2.0 * g.m() * g.n() * g.k();
          case Kernel.Loops l -> l.flops();
          case Kernel.Steps inner -> 0;
        };
      }
      return flops * loop.steps() / blocks();
    }
  }

  /** A step's part: a GEMM's compute function ({@code gemm}), or a nest at these offsets reading the counter's template buffer. */
  private record FusedPart(String gemm, int itemsPerBlock, Kernel.Loops nest, long[] offsets, int counterBuf) {}

  /**
   * The loop {@code st} (its leaves from {@code firstLeaf} in {@code kernels}) run whole per block
   * of rows, or null when it must run step by step: fusion off, a loop that does not keep to its
   * rows ({@link dev.nnc.ir.kernel.StepRows}), or a GEMM whose step is more than one row-split
   * compute call (packing A, a split K) or whose A is packed elsewhere. A fused loop runs no
   * barrier and no call of the runtime per step: a recurrent layer's steps on a block of 8
   * sequences stay on one core from the first to the last.
   */
  private Fused fusedLoop(Kernel.Steps st, dev.nnc.passes.lower.MemoryPlan plan, int firstLeaf,
      GemmEmitter.Blocking blocking) {
    long rows = fuseSteps ? dev.nnc.ir.kernel.StepRows.rows(st) : 0;
    if (rows == 0) {
      return null;
    }
    List<FusedPart> parts = new ArrayList<>();
    for (int i = 0; i < st.body().size(); i++) {
      int ki = firstLeaf + i;
      switch (st.body().get(i)) {
        case Kernel.Gemm g -> {
          int per = GemmEmitter.itemsPerRowBlock(blocking, g);
          if (per == 0 || plan.packedA(ki) >= 0 || plan.packedAFrom(ki) >= 0) {
            return null;
          }
          parts.add(new FusedPart(g.name(), per, null, null, -1));
        }
        case Kernel.Loops l -> {
          KernelTemplate t = KernelTemplate.of(l);
          long[] offs = new long[t.buffers().length];
          int counterBuf = -1;
          for (int b = 0; b < offs.length; b++) {
            offs[b] = plan.offsets()[t.buffers()[b]];
            if (t.buffers()[b] == st.counter()) {
              counterBuf = b;
            }
          }
          parts.add(new FusedPart(null, 0, (Kernel.Loops) t.kernel(), offs, counterBuf));
        }
        case Kernel.Steps inner -> {
          return null;
        }
      }
    }
    return new Fused(st, plan.offset(st.counter()), rows, parts);
  }

  /** What a built unit holds: per group, the calls of its body functions (symbols named after the body). */
  private record Built(CpuCompiled.Unit unit, List<List<NativeCall>> bodyCalls) {}

  @Override
  public Compiled compile(String model, List<PlannedProgram> programs, String cpu) {
    return compile(model, programs, cpu, ObjectCache.open());
  }

  /**
   * Compiles the programs as independent code units (runs of {@value #UNIT_KERNELS} kernels, each
   * its own LLVM context and module), built in parallel, each looked up in {@code cache} by a hash
   * of its IR and target before LLVM optimises it and generates its object code.
   */
  Compiled compile(String model, List<PlannedProgram> programs, String cpu, ObjectCache cache) {
    long t0 = System.nanoTime();
    Llvm.Host host = Llvm.target(cpu);
    GemmEmitter.Blocking blocking = blocking(host);
    VectorMath vecmath = VectorMath.forHost(host).orElse(null);
    // The arena size the code was planned for: the runtime refuses a manifest that disagrees.
    long arena = programs.stream().mapToLong(pp -> pp.plan().regionEnd()).max().orElse(0);
    // Group the kernels of all programs by template, in order of first appearance; remember
    // where each kernel of each program went, to rebuild the schedules afterwards.
    Map<Object, Group> groups = new LinkedHashMap<>();
    Map<String, List<int[]>> order = new LinkedHashMap<>();
    // Prepacked copies: start → end, checked not to overlap.
    java.util.TreeMap<Long, Long> copies = new java.util.TreeMap<>();
    // A loop over time steps: its head in the schedule (where it is met: {-1, loop}) and its end ({-2}).
    List<NativeCall.Repeat> loops = new ArrayList<>();
    // Per loop, its fused form (null: step by step).
    List<Fused> fusedLoops = new ArrayList<>();
    for (PlannedProgram pp : programs) {
      List<int[]> where = new ArrayList<>();
      List<Kernel> kernels = new ArrayList<>();
      for (Kernel top : pp.program().kernels()) {
        switch (top) {
          case Kernel.Steps st -> {
            where.add(new int[] {-1, loops.size()});
            loops.add(new NativeCall.Repeat(pp.plan().offset(st.counter()), st.steps(), st.first(), st.delta(), 0));
            fusedLoops.add(fusedLoop(st, pp.plan(), kernels.size(), blocking));
            for (Kernel leaf : KernelProgram.leaves(List.of(st))) {
              kernels.add(leaf);
              where.add(null);
            }
            where.add(new int[] {-2});
          }
          case Kernel.Loops l -> {
            kernels.add(l);
            where.add(null);
          }
          case Kernel.Gemm g -> {
            kernels.add(g);
            where.add(null);
          }
        }
      }
      // GEMMs in a loop whose B operand the loop never writes (a recurrent layer's W_hh): their B
      // is packed once, before the loop, instead of at every step (memory planning keeps a loop's
      // scratch for the whole loop).
      java.util.Set<Kernel> packBOnce = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
      for (Kernel top : pp.program().kernels()) {
        if (top instanceof Kernel.Steps st) {
          java.util.Set<Integer> written = writes(st);
          for (Kernel leaf : st.body()) {
            if (leaf instanceof Kernel.Gemm gm && !written.contains(gm.b())) {
              packBOnce.add(leaf);
            }
          }
        }
      }
      // Each leaf fills the next free place (null) in where, loops' markers staying around their bodies.
      int slot = 0;
      for (int ki = 0; ki < kernels.size(); ki++) {
        Kernel k = kernels.get(ki);
        KernelTemplate t = KernelTemplate.of(k);
        int nb = t.buffers().length;
        long pb = pp.plan().packedB(ki);
        long borrowed = borrowedA(pp.plan(), kernels, ki, blocking);
        boolean borrowedA = borrowed >= 0;
        long pa = borrowedA ? borrowed : pp.plan().packedA(ki);
        long[] offs = new long[nb + (k instanceof Kernel.Gemm ? 1 : 0) + (pa >= 0 ? 1 : 0) + (pb >= 0 ? 1 : 0)];
        for (int i = 0; i < nb; i++) {
          offs[i] = pp.plan().offsets()[t.buffers()[i]];
        }
        if (k instanceof Kernel.Gemm gk) {
          long scratch = pp.plan().scratch(ki);
          if (scratch < 0) {
            throw new IllegalStateException("no scratch planned for GEMM " + k.name());
          }
          offs[nb] = scratch;
          int next = nb + 1;
          for (boolean isA : new boolean[] {true, false}) {
            long at = isA ? pa : pb;
            if (at >= 0) {
              offs[next++] = at;
            }
            if (at >= 0 && !(isA && borrowedA)) {
              // The code writes the copy whole: the plan must have reserved that much, for this
              // copy alone (a blocking other than the planned one would write into the next); a
              // borrowed A is the earlier GEMM's scratch, checked as that GEMM's.
              long end = at + GemmEmitter.prepackedFloats(gk, blocking.tilingFor(gk), isA);
              Long other = copies.putIfAbsent(at, end);
              if (other != null && other != end) {
                throw new IllegalStateException("packed copy at " + at + " sized " + (end - at) + " and " + (other - at));
              }
              arena = Math.max(arena, (end + 15) / 16 * 16);
            }
          }
        } else if (pa >= 0 || pb >= 0) {
          throw new IllegalStateException("packed operands planned for " + k.name() + ", which is no GEMM");
        }
        Object key = shared(k) ? List.of(t.kernel(), pa >= 0, pb >= 0) : k;
        Group g = groups.computeIfAbsent(key, x -> new Group(groups.size(), t.kernel(), nb, pa >= 0, pb >= 0,
            new ArrayList<>()));
        g.instances().add(new Instance(k.name(), offs, pa, pb, borrowedA));
        while (where.get(slot) != null) {
          slot++;
        }
        where.set(slot, new int[] {g.index(), g.instances().size() - 1, packBOnce.contains(k) ? 1 : 0});
      }
      order.put(pp.program().name(), where);
    }
    List<Group> all = new ArrayList<>(groups.values());
    List<UnitSpec> specs = new ArrayList<>();
    specs.add(new UnitSpec(model + "_globals", List.of(),
        fusedLoops.stream().filter(java.util.Objects::nonNull).toList()));
    long previousEnd = Long.MIN_VALUE;
    for (Map.Entry<Long, Long> c : copies.entrySet()) {
      if (c.getKey() < previousEnd) {
        throw new IllegalStateException("packed GEMM operands overlap at " + c.getKey()
            + ": planned for another blocking than the code's");
      }
      previousEnd = c.getValue();
    }
    long arenaFloats = arena;
    for (int from = 0; from < all.size(); from += UNIT_KERNELS) {
      specs.add(new UnitSpec(model + "_" + from, all.subList(from, Math.min(all.size(), from + UNIT_KERNELS)),
          List.of()));
    }
    String version = llvmVersion();
    int threads = Math.max(1, Math.min(specs.size(),
        Integer.getInteger("nnc.compile.threads", Runtime.getRuntime().availableProcessors())));
    List<Built> built = new ArrayList<>();
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, "nnc-compile");
      t.setDaemon(true);
      return t;
    });
    try {
      List<java.util.concurrent.Future<Built>> futures = new ArrayList<>();
      for (UnitSpec spec : specs) {
        futures.add(pool.submit(() -> build(spec, host, vecmath, blocking, arenaFloats, cache, version)));
      }
      for (var f : futures) {
        built.add(f.get());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Llvm.LlvmException("interrupted while compiling");
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      if (e.getCause() instanceof Error err) {
        throw err;
      }
      throw new Llvm.LlvmException("compiling: " + e.getCause());
    } finally {
      pool.shutdownNow();
    }
    // Per group, its body's calls; an instance's calls are the same with its own symbols.
    List<List<NativeCall>> bodyCalls = new ArrayList<>();
    List<CpuCompiled.Unit> units = new ArrayList<>();
    boolean usesVecmath = false;
    for (Built bu : built) {
      units.add(bu.unit());
      bodyCalls.addAll(bu.bodyCalls());
      usesVecmath |= bu.unit().usesVecmath();
    }
    Map<String, List<NativeCall>> schedules = new LinkedHashMap<>();
    // A prepacked operand's packing call moves to prepare (once per copy), after prepare's own
    // kernels, which may compute what it packs.
    List<NativeCall> packing = new ArrayList<>();
    java.util.Set<Long> packed = new java.util.HashSet<>();
    order.forEach((program, where) -> {
      List<NativeCall> calls = new ArrayList<>();
      int head = -1;
      NativeCall.Repeat loop = null;
      Fused fused = null;
      for (int[] w : where) {
        if (w[0] == -1) {
          head = calls.size();
          loop = loops.get(w[1]);
          fused = fusedLoops.get(w[1]);
          calls.add(null);
          continue;
        }
        if (w[0] == -2) {
          int n = calls.size() - head - 1;
          calls.set(head, fused != null ? new NativeCall(fused.loop().name(), fused.blocks(), fused.costPerBlock())
              : new NativeCall("steps", 0, 0, new NativeCall.Repeat(loop.counter(), loop.steps(),
              loop.first(), loop.delta(), n)));
          if (fused != null && n != 0) {
            throw new IllegalStateException("fused loop " + fused.loop().name() + " left " + n + " calls per step");
          }
          fused = null;
          continue;
        }
        Group g = all.get(w[0]);
        Instance in = g.instances().get(w[1]);
        for (NativeCall c : bodyCalls.get(w[0])) {
          String suffix = c.symbol().substring(g.body().length());
          NativeCall call = new NativeCall(in.symbol() + suffix, c.extent(), c.costPerItem());
          long copy = suffix.equals(GemmEmitter.PACK_A) ? in.packedA() : suffix.equals(GemmEmitter.PACK_B) ? in.packedB() : -1;
          if (copy >= 0 && suffix.equals(GemmEmitter.PACK_A) && in.borrowedA()) {
            continue;   // the GEMM that packed it did so just before (its own packing call)
          }
          if (copy < 0 && suffix.equals(GemmEmitter.PACK_B) && w[2] == 1 && head >= 0 && calls.get(head) == null) {
            calls.add(head++, call);   // before the loop's head: once, not per step
          } else if (copy < 0 && fused != null) {
            // The fused kernel makes the step's calls: the nest's, and the GEMM's compute (nothing else).
            if (!suffix.isEmpty()) {
              throw new IllegalStateException("fused loop " + fused.loop().name() + " has a per-step call " + call.symbol());
            }
          } else if (copy < 0) {
            calls.add(call);
          } else if (packed.add(copy)) {
            packing.add(call);
          }
        }
      }
      schedules.put(program, calls);
    });
    if (!packing.isEmpty()) {
      schedules.computeIfAbsent(PREPARE, p -> new ArrayList<>()).addAll(packing);
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    return new CpuCompiled(host, units, schedules, usesVecmath ? vecmath.library() : null, seconds,
        cache.enabled() ? cache.dir() : null, all.size());
  }


  /**
   * Where kernel {@code ki} finds its A packed by an earlier GEMM ({@link dev.nnc.passes.lower.MemoryPlan#packedAFrom}:
   * in that GEMM's scratch, after its packed B), or -1: none planned, either operand prepacked, or
   * the blocking in force packs the two differently.
   */
  private static long borrowedA(dev.nnc.passes.lower.MemoryPlan plan, List<Kernel> kernels, int ki,
      GemmEmitter.Blocking blocking) {
    int from = plan.packedAFrom(ki);
    if (from < 0 || plan.packedA(ki) >= 0 || plan.packedA(from) >= 0 || plan.scratch(from) < 0
        || !(kernels.get(from) instanceof Kernel.Gemm earlier) || !(kernels.get(ki) instanceof Kernel.Gemm later)
        || !sharesPackedA(blocking, earlier, later)) {
      return -1;
    }
    return plan.scratch(from) + GemmEmitter.packedBFloats(earlier.n(), earlier.k());
  }

  /**
   * The buffers a loop writes: its counter and what its kernels store into ({@link
   * dev.nnc.ir.kernel.StepRows#written}).
   */
  private static java.util.Set<Integer> writes(Kernel.Steps st) {
    java.util.Set<Integer> out = dev.nnc.ir.kernel.StepRows.written(st);
    out.add(st.counter());
    return out;
  }

  /**
   * Whether {@code k} may share its body with the other kernels of its template. Kernels whose
   * loops store several streams (Winograd transforms) are compiled each on its own, with constant
   * offsets: given the offsets as arguments, LLVM vectorised them differently and slower
   * (ResNet-18 CIFAR's output transforms 3.2 → 14.8 ms, input transforms 9 → 12 ms a step).
   */
  static boolean shared(Kernel k) {
    return switch (k) {
      case Kernel.Gemm g -> true;
      case Kernel.Loops l -> !KernelEmitter.storesSeveralStreams(l);
      case Kernel.Steps st -> throw new IllegalStateException("steps " + st.name() + " is no kernel of its own");
    };
  }

  private static Built build(UnitSpec spec, Llvm.Host host, VectorMath vecmath, GemmEmitter.Blocking blocking,
      long arena, ObjectCache cache, String version) {
    LLVMTargetMachineRef tm = Llvm.targetMachine(host);
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(spec.name(), ctx);
    LLVMSetTarget(mod, host.triple());
    LLVMSetModuleDataLayout(mod, LLVMCreateTargetDataLayout(tm));
    List<List<NativeCall>> bodyCalls = new ArrayList<>();
    List<NativeCall> calls = new ArrayList<>();
    if (spec.groups().isEmpty()) {
      LLVMValueRef arenaGlobal = LLVMAddGlobal(mod, LLVMInt64TypeInContext(ctx), ARENA_SYMBOL);
      LLVMSetInitializer(arenaGlobal, LLVMConstInt(LLVMInt64TypeInContext(ctx), arena, 0));
      LLVMSetGlobalConstant(arenaGlobal, 1);
      if (!spec.fused().isEmpty()) {
        KernelEmitter e = new KernelEmitter(ctx, mod, vecmath);
        for (Fused f : spec.fused()) {
          List<KernelEmitter.StepPart> parts = new ArrayList<>();
          for (int i = 0; i < f.parts().size(); i++) {
            FusedPart p = f.parts().get(i);
            parts.add(p.nest() == null ? new KernelEmitter.StepPart(p.gemm(), null, p.itemsPerBlock())
                : new KernelEmitter.StepPart(null, e.emitLoopsCounted(p.nest(), f.loop().name() + "_part" + i,
                    p.offsets(), p.counterBuf()), 0));
          }
          Kernel.Steps st = f.loop();
          e.emitFusedSteps(st.name(), parts, st.steps(), st.first(), st.delta(), f.rows(), GemmEmitter.ROW_BLOCK,
              f.counterOffset());
          calls.add(new NativeCall(st.name(), f.blocks(), f.costPerBlock()));
        }
        LLVMDisposeBuilder(e.b);
      }
    } else {
      KernelEmitter e = new KernelEmitter(ctx, mod, vecmath);
      GemmEmitter gemm = new GemmEmitter(e, blocking);
      // The vector width that pays on this host, as the GEMM decided it (8 on Zen 4 and AVX2, 16 on Intel AVX-512).
      WinogradEmitter winograd = new WinogradEmitter(e, blocking.tiling().lanes());
      for (Group g : spec.groups()) {
        e.constantOffsets(g.direct() ? g.instances().get(0).offsets() : null);
        List<NativeCall> body = switch (g.template()) {
          case Kernel.Loops l -> {
            if (!winograd.emit(l.named(g.body()), g.buffers())) {
              e.emitLoops(l.named(g.body()), g.buffers());
            }
            // A cost of 0 keeps a serial kernel on the calling thread.
            double cost = l.parallel() ? l.flops() / Math.max(1, l.root().extent()) : 0;
            yield List.of(new NativeCall(g.body(), l.root().extent(), cost));
          }
          case Kernel.Gemm m -> gemm.emit(new Kernel.Gemm(g.body(), m.a(), m.aBase(), m.b(), m.bBase(), m.c(), m.m(),
              m.n(), m.k(), m.transA(), m.transB(), m.epilogue(), m.batch()), g.buffers(), g.packedA(), g.packedB());
          case Kernel.Steps st -> throw new IllegalStateException("steps " + st.name() + " is no kernel of its own");
        };
        bodyCalls.add(body);
        if (g.direct()) {
          calls.addAll(body);
          continue;
        }
        for (Instance in : g.instances()) {
          for (NativeCall c : body) {
            String symbol = in.symbol() + c.symbol().substring(g.body().length());
            e.wrapper(symbol, c.symbol(), in.offsets());
            calls.add(new NativeCall(symbol, c.extent(), c.costPerItem()));
          }
        }
      }
      LLVMDisposeBuilder(e.b);
    }
    boolean usesVecmath = vecmath != null && keepVectorFunctions(ctx, mod, vecmath);
    Llvm.verify(mod);
    BytePointer irText = LLVMPrintModuleToString(mod);
    String key = ObjectCache.key(host.triple(), host.cpu(), host.features(), version, PIPELINE, irText.getString());
    LLVMDisposeMessage(irText);
    byte[] object = cache.get(key);
    boolean cached = object != null;
    if (!cached) {
      optimise(mod, tm);
      object = emitObject(tm, mod);
      cache.put(key, object);
    }
    LLVMDisposeTargetMachine(tm);
    return new Built(new CpuCompiled.Unit(spec.name(), ctx, mod, !cached, object, cached, calls, usesVecmath), bodyCalls);
  }

  /**
   * Compiles a module of kernels made elsewhere ({@code void name(ptr arena, i64 lo, i64 hi)}, for
   * this host: the CUDA back end's emulation of its GPU kernels) the way this back end compiles its
   * own: verified, optimised at -O3, its object code JIT-linked or linked into a library, the
   * arena's size ({@code arenaFloats}) defined for the runtime's check. {@code schedules} are the
   * calls of its programs.
   */
  public static Compiled compileHostModule(String name, LLVMContextRef ctx, LLVMModuleRef mod,
      Map<String, List<NativeCall>> schedules, long arenaFloats) {
    long t0 = System.nanoTime();
    Llvm.Host host = Llvm.host();
    LLVMValueRef arenaGlobal = LLVMAddGlobal(mod, LLVMInt64TypeInContext(ctx), ARENA_SYMBOL);
    LLVMSetInitializer(arenaGlobal, LLVMConstInt(LLVMInt64TypeInContext(ctx), arenaFloats, 0));
    LLVMSetGlobalConstant(arenaGlobal, 1);
    Llvm.verify(mod);
    LLVMTargetMachineRef tm = Llvm.targetMachine(host);
    try {
      optimise(mod, tm);
      byte[] object = emitObject(tm, mod);
      List<NativeCall> calls = schedules.values().stream().flatMap(List::stream).filter(c -> c.repeat() == null)
          .distinct().toList();
      CpuCompiled.Unit unit = new CpuCompiled.Unit(name, ctx, mod, true, object, false, calls, false);
      return new CpuCompiled(host, List.of(unit), schedules, null, (System.nanoTime() - t0) / 1e9, null, calls.size());
    } finally {
      LLVMDisposeTargetMachine(tm);
    }
  }

  /** The -O3 pipeline on {@code mod} for {@code tm}'s target (the host's, or the GPU back end's). */
  public static void optimise(LLVMModuleRef mod, LLVMTargetMachineRef tm) {
    org.bytedeco.llvm.LLVM.LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    try {
      Llvm.check(LLVMRunPasses(mod, PIPELINE, tm, opts), "LLVM optimisation");
    } finally {
      LLVMDisposePassBuilderOptions(opts);
    }
  }

  private static byte[] emitObject(LLVMTargetMachineRef tm, LLVMModuleRef mod) {
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    org.bytedeco.llvm.LLVM.LLVMMemoryBufferRef buf = new org.bytedeco.llvm.LLVM.LLVMMemoryBufferRef();
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, err, buf) != 0) {
      String msg = err.getString();
      LLVMDisposeMessage(err);
      throw new Llvm.LlvmException("LLVM could not generate object code: " + msg);
    }
    try {
      byte[] out = new byte[(int) LLVMGetBufferSize(buf)];
      LLVMGetBufferStart(buf).capacity(out.length).get(out);
      return out;
    } finally {
      LLVMDisposeMemoryBuffer(buf);
    }
  }

  private static String llvmVersion() {
    int[] v = Llvm.version();
    return "llvm-" + v[0] + "." + v[1] + "." + v[2];
  }

  /**
   * Lists the declared vector variants in {@code llvm.compiler.used}, so that the optimiser keeps
   * their declarations until the vectoriser has used them (as LLVM's own InjectTLIMappings does).
   * Returns whether there are any.
   */
  private static boolean keepVectorFunctions(LLVMContextRef ctx, LLVMModuleRef mod, VectorMath vecmath) {
    List<LLVMValueRef> used = new ArrayList<>();
    for (String f : VectorMath.CANDIDATES) {
      LLVMValueRef decl = LLVMGetNamedFunction(mod, vecmath.vectorName(f));
      if (decl != null && !decl.isNull()) {
        used.add(decl);
      }
    }
    if (used.isEmpty()) {
      return false;
    }
    var ptrT = LLVMPointerTypeInContext(ctx, 0);
    var arrT = LLVMArrayType2(ptrT, used.size());
    LLVMValueRef g = LLVMAddGlobal(mod, arrT, "llvm.compiler.used");
    LLVMSetLinkage(g, LLVMAppendingLinkage);
    LLVMSetSection(g, "llvm.metadata");
    LLVMValueRef[] fns = used.toArray(new LLVMValueRef[0]);
    LLVMSetInitializer(g, LLVMConstArray2(ptrT, new org.bytedeco.javacpp.PointerPointer<>(fns), fns.length));
    return true;
  }
}
