package dev.nnc.codegen.cuda;

import static dev.nnc.codegen.cuda.Ir.pp;
import static org.bytedeco.llvm.global.LLVM.*;

import dev.nnc.codegen.cpu.KernelEmitter;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.ir.kernel.KernelTemplate;
import dev.nnc.passes.backend.NativeCall;
import dev.nnc.passes.backend.PlannedProgram;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.llvm.LLVM.LLVMTypeRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * Kernel programs → GPU kernels in LLVM IR: one kernel per {@link Kernel.Loops} and
 * {@link Kernel.Gemm}, its work items (the parallel outer loop's iterations; a GEMM's elements
 * of C) spread over thread blocks of {@link #BLOCK} threads, one item per thread. Each item runs
 * the same code the CPU back end's {@link KernelEmitter} makes for the slice {@code [i, i+1)} of
 * the outer loop, so both back ends compute from one description of the loop nests.
 *
 * <p>Two flavours of the same IR: {@link Flavor#PTX}, a {@code ptx_kernel} that reads its block
 * and thread from the NVPTX special registers; and {@link Flavor#EMULATED}, for this host, where
 * the kernel is the CPU back end's {@code void name(ptr arena, i64 lo, i64 hi)} over blocks
 * {@code [lo, hi)} and the block's threads are a loop: the block and thread indices become loop
 * variables. Loop nests' threads never synchronise, so a block's threads run one after another;
 * the tiled GEMM's do, and it is written as phases ({@link BlockCode}), each run for all the
 * block's threads before the next.
 *
 * <p>Kernels that must run their iterations in order (the IR's serial loops, such as a leading
 * reduction accumulating row by row) are one block of one thread running them all. Loops over
 * time ({@link Kernel.Steps}) stay with the host: a schedule's loop head, as on the CPU.
 */
final class GpuEmitter {
  /** Threads per block. */
  static final int BLOCK = 256;

  /** {@code ptx_kernel}, LLVM's calling convention of an NVPTX entry point. */
  static final int PTX_KERNEL = 71;

  enum Flavor {
    PTX,
    EMULATED
  }

  /**
   * A kernel's launch: entry point {@code entry} with the kernel's buffers' arena offsets as its
   * arguments after the arena, {@code blocks} blocks of {@code threads} threads, for {@code items}
   * work items. Kernels with the same loop nests share an entry point.
   */
  record Launch(String symbol, String entry, long[] offsets, long blocks, int threads, long items) {}

  /** What was emitted: per program, its calls (extent: the blocks); per kernel, its launch; how many kernels are tensor-core GEMMs. */
  record Result(Map<String, List<NativeCall>> schedules, Map<String, Launch> launches, int tensorCoreKernels) {}

  private final KernelEmitter e;
  private final Flavor flavor;
  private final Map<String, Launch> launches = new LinkedHashMap<>();

  /**
   * Emulated only: instead of a {@code (arena, lo, hi)} function per kernel, one entry per group
   * under its PTX entry point's name, taking what {@code cuLaunchKernel} is given: {@code (params,
   * lo, hi)} runs blocks {@code [lo, hi)} with the arena and offsets that {@code params} (the
   * kernel-parameter array, a pointer to each argument) points to; a global {@code <entry>_block}
   * holds its threads per block. A stand-in CUDA driver runs the GPU runtime's launches on these.
   */
  private final boolean driverEntries;

  /**
   * Whether the GEMMs that run register-blocked run on the tensor cores instead
   * ({@link #emitMmaGemm}: TF32 inputs, FP32 sums; {@code --tf32}).
   */
  private final boolean tf32;

  GpuEmitter(KernelEmitter e, Flavor flavor) {
    this(e, flavor, false, false);
  }

  GpuEmitter(KernelEmitter e, Flavor flavor, boolean driverEntries, boolean tf32) {
    if (driverEntries && flavor != Flavor.EMULATED) {
      throw new IllegalArgumentException("driver entries are emulated entries");
    }
    this.e = e;
    this.flavor = flavor;
    this.driverEntries = driverEntries;
    this.tf32 = tf32;
  }

  /** A kernel to emit: its template's body is shared by the kernels with the same loop nests. */
  private record Instance(Kernel kernel, long[] offsets) {}

  Result emit(List<PlannedProgram> programs) {
    Map<String, List<NativeCall>> schedules = new LinkedHashMap<>();
    Map<Kernel, List<Instance>> groups = new LinkedHashMap<>();
    for (PlannedProgram pp : programs) {
      List<NativeCall> calls = new ArrayList<>();
      List<Kernel> leaves = pp.program().leaves();
      int leaf = 0;
      for (Kernel top : pp.program().kernels()) {
        switch (top) {
          case Kernel.Steps st -> {
            List<NativeCall> body = new ArrayList<>();
            for (Kernel k : KernelProgram.leaves(List.of(st))) {
              body.addAll(plan(k instanceof Kernel.Loops l ? gpuForm(l) : k, pp, groups, scratch(pp, leaves, leaf++, k)));
            }
            calls.add(new NativeCall("steps", 0, 0, new NativeCall.Repeat(pp.plan().offset(st.counter()), st.steps(),
                st.first(), st.delta(), body.size())));
            calls.addAll(body);
          }
          case Kernel.Loops l -> calls.addAll(plan(gpuForm(l), pp, groups, scratch(pp, leaves, leaf++, l)));
          case Kernel.Gemm g -> calls.addAll(plan(g, pp, groups, scratch(pp, leaves, leaf++, g)));
        }
      }
      schedules.put(pp.program().name(), calls);
    }
    int index = 0;
    for (Map.Entry<Kernel, List<Instance>> g : groups.entrySet()) {
      emitGroup(entryName(index++, g.getValue().get(0).kernel()), g.getKey(), g.getValue());
    }
    int tensorCore = 0;
    for (Map.Entry<Kernel, List<Instance>> g : groups.entrySet()) {
      if (tensorCore(computed(g.getKey(), g.getValue().get(0).offsets().length - 1))) {
        tensorCore += g.getValue().size();
      }
    }
    return new Result(schedules, launches, tensorCore);
  }

  /** Where leaf {@code index} of {@code pp} ({@code k}) has its scratch, or -1. */
  private static long scratch(PlannedProgram pp, List<Kernel> leaves, int index, Kernel k) {
    if (leaves.get(index) != k) {
      throw new IllegalStateException("kernel " + k.name() + " is not leaf " + index + " of " + pp.program().name());
    }
    return pp.plan().scratch(index);
  }

  /**
   * Records kernel {@code k} of program {@code pp} in its template's group; returns its calls (a
   * GEMM split along K: the partial products', then their sum's).
   */
  private List<NativeCall> plan(Kernel k, PlannedProgram pp, Map<Kernel, List<Instance>> groups, long scratch) {
    KernelTemplate t = KernelTemplate.of(k);
    dev.nnc.ir.kernel.BlockReduction red = reduction(t.kernel());
    int split = t.kernel() instanceof Kernel.Gemm tg ? splitK(tg) : red != null ? red.parts() : 1;
    long[] offsets = new long[t.buffers().length + (split > 1 ? 1 : 0)];
    for (int i = 0; i < t.buffers().length; i++) {
      offsets[i] = pp.plan().offsets()[t.buffers()[i]];
    }
    if (split > 1) {
      if (scratch < 0) {
        throw new IllegalStateException(k.name() + " is split (a GEMM along K, or a reduction over blocks) but has no scratch for its parts");
      }
      offsets[t.buffers().length] = scratch;
    }
    groups.computeIfAbsent(t.kernel(), x -> new ArrayList<>()).add(new Instance(k, offsets));
    Kernel computed = computed(t.kernel(), t.buffers().length);
    long count = items(computed);
    double flops = switch (t.kernel()) {
      case Kernel.Loops l -> l.flops();
      case Kernel.Gemm g -> 2.0 * g.batch() * g.m() * g.n() * g.k();
      case Kernel.Steps st -> throw new IllegalStateException("steps " + st.name() + " inside a loop over time");
    };
    boolean blockwise = (computed instanceof Kernel.Gemm g && tiled(g)) || red != null;
    int threads = red != null ? red.threads() : blockwise ? TILE * TILE : (int) Math.min(BLOCK, count);
    long blocks = red != null ? count * red.parts() : blockwise ? count : (count + threads - 1) / threads;
    launches.put(k.name(), new Launch(k.name(), null, offsets, blocks, threads, count));
    List<NativeCall> calls = new ArrayList<>();
    calls.add(new NativeCall(k.name(), blocks, serialExtent(t.kernel()) >= 0 ? 0 : flops / blocks));
    if (split > 1 && red != null) {
      int sumThreads = (int) Math.min(BLOCK, count);
      long sumBlocks = (count + sumThreads - 1) / sumThreads;
      launches.put(k.name() + PARTS, new Launch(k.name() + PARTS, null, offsets, sumBlocks, sumThreads, count));
      calls.add(new NativeCall(k.name() + PARTS, sumBlocks, (double) split * count / sumBlocks));
    } else if (split > 1) {
      Kernel.Gemm g = (Kernel.Gemm) t.kernel();
      long mn = (long) g.m() * g.n();
      int sumThreads = (int) Math.min(BLOCK, mn);
      long sumBlocks = (mn + sumThreads - 1) / sumThreads;
      launches.put(k.name() + SUM, new Launch(k.name() + SUM, null, offsets, sumBlocks, sumThreads, mn));
      calls.add(new NativeCall(k.name() + SUM, sumBlocks, (double) split * mn / sumBlocks));
    }
    return calls;
  }

  /** The suffix of the kernel that adds a split GEMM's partial products ({@link #splitK}). */
  static final String SUM = "_splitk_sum";

  /** A split GEMM's least K per part: each block's product stays long enough to hide its tiles' loads. */
  static final int SPLIT_MIN_K = 512;

  /**
   * The parts GEMM {@code g} is split into along K (1: none; {@code -Dnnc.gpu.splitk=false} never
   * splits, for comparisons). A product with few tiles of C and a long K (a weight gradient,
   * {@code dyᵀ·x} summed over a batch of images: ResNet-18 CIFAR's first layers have C of 64 × 27
   * or 128 × 576 and K of 32,768 to 131,072) would otherwise keep a few blocks busy, each over all
   * of K, on a GPU of a hundred multiprocessors. Split into S parts, it is a batch of S products
   * of K/S, each into its own slice of the kernel's scratch, and a second kernel adds the S
   * partial results in order and applies the epilogue. Only where A is stored [K,M] and B [K,N]
   * (the weight gradients' form), so that each part's A and B are contiguous blocks of them, and
   * where S divides K. S brings the tiles to {@link #BLOCKED_MIN_BLOCKS}, with at least
   * {@link #SPLIT_MIN_K} of K per part.
   */
  static int splitK(Kernel.Gemm g) {
    if (g.batch() != 1 || !g.transA() || g.transB() || !tiled(g)
        || "false".equals(System.getProperty("nnc.gpu.splitk"))) {
      return 1;
    }
    int side = g.m() >= BLOCKED_TILE && g.n() >= BLOCKED_TILE ? BLOCKED_TILE : TILE;
    long tiles = (long) ((g.m() + side - 1) / side) * ((g.n() + side - 1) / side);
    if (tiles >= BLOCKED_MIN_BLOCKS) {
      return 1;
    }
    int s = (int) Math.min((BLOCKED_MIN_BLOCKS + tiles - 1) / tiles, g.k() / SPLIT_MIN_K);
    while (s > 1 && g.k() % s != 0) {
      s--;
    }
    return Math.max(1, s);
  }

  /** Scratch floats kernel {@code k} needs on the GPU: a split GEMM's partial products, a split block reduction's parts' sums. */
  static long scratchFloats(Kernel k) {
    if (reduction(k) instanceof dev.nnc.ir.kernel.BlockReduction r && r.parts() > 1) {
      return (long) r.nest().root().extent() * r.parts() * r.locals().size();
    }
    int parts = k instanceof Kernel.Gemm g ? splitK(g) : 1;
    return parts > 1 ? (long) parts * ((Kernel.Gemm) k).m() * ((Kernel.Gemm) k).n() : 0;
  }

  /**
   * What template {@code k} computes as its first kernel: a split GEMM's batch of partial products
   * (into template buffer {@code scratch}, the one after the template's), else {@code k}.
   */
  static Kernel computed(Kernel k, int scratch) {
    if (!(k instanceof Kernel.Gemm g) || splitK(g) == 1) {
      return k;
    }
    int s = splitK(g);
    return new Kernel.Gemm(g.name(), g.a(), g.aBase(), g.b(), g.bBase(), scratch, g.m(), g.n(), g.k() / s, true, false,
        null, s);
  }

  /** The side of a tiled GEMM's tile of C: a block of TILE × TILE threads, one element each. */
  static final int TILE = 16;

  /**
   * Whether GEMM {@code g} runs tiled through shared memory: unless C is thinner than a tile (a
   * matrix-vector product would leave most of the block idle), where a thread per element of C
   * reading A and B directly is used.
   */
  static boolean tiled(Kernel.Gemm g) {
    return g.m() >= TILE && g.n() >= TILE;
  }

  /** The side of a register-blocked GEMM's tile of C: 16 × 16 threads, 4 × 4 elements each. */
  static final int BLOCKED_TILE = 64;
  /** The side of a wide register-blocked GEMM's tile of C: 16 × 16 threads, 8 × 8 elements each. */
  static final int WIDE_TILE = 128;
  /** The depth of a register-blocked GEMM's tiles of A and B in shared memory. */
  static final int BLOCKED_K = 8;
  /** A register-blocked thread's rows (and columns) of C come in runs of this many, read from shared memory as one vector. */
  static final int RUN = 4;

  /** Blocks a register-blocked GEMM needs at least: about one per multiprocessor of a large GPU (108 on an A100, 132 on an H100). */
  static final long BLOCKED_MIN_BLOCKS = 128;

  /**
   * Whether GEMM {@code g} runs register-blocked and double-buffered: where C holds at least a
   * {@value #BLOCKED_TILE}-square tile and there are enough of them to occupy the GPU's
   * multiprocessors ({@value #BLOCKED_MIN_BLOCKS}); smaller GEMMs keep the one-element-a-thread
   * tile, sixteen times the blocks. {@code -Dnnc.gpu.gemm=blocked} takes the blocked kernel of
   * {@value #BLOCKED_TILE}-square tiles wherever C holds one, {@code wide} the kernel of
   * {@value #WIDE_TILE}-square tiles wherever C holds one of those ({@link #wide}), {@code tiled}
   * never either (comparisons; the tests).
   */
  static boolean blocked(Kernel.Gemm g) {
    if (g.m() < BLOCKED_TILE || g.n() < BLOCKED_TILE) {
      return false;
    }
    return switch (gemmChoice()) {
      case "blocked", "wide" -> true;
      case "tiled" -> false;
      default -> enough(g, BLOCKED_TILE, BLOCKED_MIN_BLOCKS);
    };
  }

  /**
   * Whether register-blocked GEMM {@code g} takes {@value #WIDE_TILE}-square tiles of C, 8 × 8
   * elements a thread: where C holds twice {@value #BLOCKED_MIN_BLOCKS} of them (a 2048-square
   * product has 256), two blocks for each multiprocessor of a large GPU, which is what fits of this
   * kernel (123 registers a thread); with fewer, the {@value #BLOCKED_TILE}-square kernel's four
   * times as many blocks keep more warps on each. Per step of K a thread then does 64 FMAs for
   * four vector reads of shared memory, where the {@value #BLOCKED_TILE}-square tile does 16 for
   * two: what keeps a large product from waiting on shared memory ({@link #emitBlockedGemm}).
   */
  static boolean wide(Kernel.Gemm g) {
    if (g.m() < WIDE_TILE || g.n() < WIDE_TILE) {
      return false;
    }
    return switch (gemmChoice()) {
      case "wide" -> true;
      case "blocked", "tiled" -> false;
      default -> enough(g, WIDE_TILE, 2 * BLOCKED_MIN_BLOCKS);
    };
  }

  /** {@code -Dnnc.gpu.gemm}: auto (the default), blocked, wide or tiled. */
  private static String gemmChoice() {
    String force = System.getProperty("nnc.gpu.gemm", "auto");
    return switch (force) {
      case "auto", "blocked", "wide", "tiled" -> force;
      default -> throw new IllegalArgumentException("-Dnnc.gpu.gemm=" + force + ": use auto, blocked, wide or tiled");
    };
  }

  /** Whether GEMM {@code g} has at least {@code blocks} tiles of C of {@code side} × {@code side}. */
  private static boolean enough(Kernel.Gemm g, int side, long blocks) {
    return (long) g.batch() * ((g.m() + side - 1) / side) * ((g.n() + side - 1) / side) >= blocks;
  }

  /** Whether {@code k} runs on the tensor cores: a GEMM that runs register-blocked, with {@link #tf32} asked for. */
  private boolean tensorCore(Kernel k) {
    return tf32 && k instanceof Kernel.Gemm g && tiled(g) && blocked(g);
  }

  /** The side of tiled GEMM {@code g}'s tiles of C: the tensor cores' and the register-blocked kernels', else {@value #TILE}. */
  private int side(Kernel.Gemm g) {
    if (tensorCore(g)) {
      return BLOCKED_TILE;
    }
    return wide(g) ? WIDE_TILE : blocked(g) ? BLOCKED_TILE : TILE;
  }

  /** Tiles of C per product of a tiled GEMM. */
  private long tiles(Kernel.Gemm g) {
    int side = side(g);
    return (long) ((g.m() + side - 1) / side) * ((g.n() + side - 1) / side);
  }

  /**
   * Work items of a kernel: the parallel loop's iterations, a GEMM's elements (or a tiled GEMM's
   * blocks), or 1 for a serial loop nest.
   */
  private long items(Kernel k) {
    return switch (k) {
      case Kernel.Loops l when reduction(l) != null -> reduction(l).nest().root().extent();
      case Kernel.Loops l when spread(l) > 0 -> l.root().extent() * dev.nnc.ir.kernel.Independence.secondLoops(l) * spread(l);
      case Kernel.Loops l when collapsed(l) -> l.root().extent() * dev.nnc.ir.kernel.Independence.secondLoops(l);
      case Kernel.Loops l -> l.parallel() ? l.root().extent() : 1;
      case Kernel.Gemm g when tiled(g) -> g.batch() * tiles(g);
      case Kernel.Gemm g -> (long) g.batch() * g.m() * g.n();
      case Kernel.Steps st -> throw new IllegalStateException("steps " + st.name() + " inside a loop over time");
    };
  }

  /** {@code l}, or its sum per output where it is a serial sum of rows ({@link dev.nnc.ir.kernel.BlockReduction#perOutput}: one thread otherwise). */
  static Kernel.Loops gpuForm(Kernel.Loops l) {
    Kernel.Loops p = dev.nnc.ir.kernel.BlockReduction.perOutput(l);
    return p != null ? p : l;
  }

  /**
   * Nest {@code k} as a block per output ({@link dev.nnc.ir.kernel.BlockReduction}) where it is a
   * sum per output with fewer outputs than {@link #COLLAPSE_BELOW} (a bias's or batchnorm's
   * gradient: 64 to 512 outputs, each summing over the batch), else null. Where the outputs are
   * fewer than {@value #BLOCKED_MIN_BLOCKS} (about a multiprocessor each) and each sums at least
   * {@value #PARTS_MIN_FLOPS} FLOPs, each output's sum is split over the power of two of blocks
   * (at most {@value #MAX_PARTS}) that brings them to {@value #BLOCKED_MIN_BLOCKS}, or the most
   * below that the sum splits into: ResNet-18 CIFAR's first 64 channels' statistics, 33.5 MB
   * each, would otherwise leave half of a large GPU idle. A second kernel ({@value #PARTS}) adds
   * each output's parts in order and runs the stores. {@code -Dnnc.gpu.parts=false} never splits.
   */
  static dev.nnc.ir.kernel.BlockReduction reduction(Kernel k) {
    if (!(k instanceof Kernel.Loops l) || l.root().extent() >= COLLAPSE_BELOW) {
      return null;
    }
    dev.nnc.ir.kernel.BlockReduction one = dev.nnc.ir.kernel.BlockReduction.of(l);
    if (one == null || "false".equals(System.getProperty("nnc.gpu.parts"))) {
      return one;
    }
    long outputs = one.nest().root().extent();
    if (outputs >= BLOCKED_MIN_BLOCKS || l.flops() / outputs < PARTS_MIN_FLOPS) {
      return one;
    }
    int parts = 1;
    while (parts < MAX_PARTS && outputs * parts < BLOCKED_MIN_BLOCKS) {
      parts *= 2;
    }
    for (; parts > 1; parts /= 2) {
      dev.nnc.ir.kernel.BlockReduction r = dev.nnc.ir.kernel.BlockReduction.of(l, parts);
      if (r != null) {
        return r;
      }
    }
    return one;
  }

  /** Blocks per output at most of a split block reduction. */
  static final int MAX_PARTS = 16;
  /** FLOPs per output at least (the kernel's count: a sum of 32,768 products) for a block reduction to be split over several blocks. */
  static final double PARTS_MIN_FLOPS = 32 * 1024;
  /** The suffix of the kernel that adds a split block reduction's parts and stores the results. */
  static final String PARTS = "_parts_sum";

  /**
   * A sum per output with a block per output, blocks {@code [lo, hi)}: each thread sums its share
   * of the reduction ({@link dev.nnc.ir.kernel.BlockReduction#partial}); the warps add their
   * threads' sums by a butterfly of shuffles (after five steps every lane holds its warp's sum);
   * each warp's first lane puts it in shared memory; after a barrier every thread adds the warps'
   * sums in order, and thread 0 runs the stores. Emulated, a shuffle reads the other thread's
   * register of the step before (two registers alternate), which is what {@code shfl.sync} gives.
   */
  private void emitBlockReduction(dev.nnc.ir.kernel.BlockReduction r, String name, int buffers) {
    Kernel.Loops k = r.nest().named(name);
    e.beginFunction(name, buffers);
    e.beginNest(k);
    LLVMValueRef fn = e.function();
    int warps = r.threads() / 32;
    int sums = r.locals().size();
    BlockCode bc = new BlockCode(e, flavor, r.threads());
    BlockCode.Register[][] regs = new BlockCode.Register[sums][];
    for (int x = 0; x < sums; x++) {
      regs[x] = new BlockCode.Register[] {bc.register("sum" + x), bc.register("sum" + x + "b")};
    }
    // Warp w's sum of local x at [x·warps + w].
    LLVMValueRef warpSums = bc.shared(warps * sums);
    LLVMValueRef blk = e.slot(e.i64, "blk");
    e.loop(blk, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), 1, () -> {
      // Block b is part b mod parts of output b / parts; its thread t is the reduction's thread
      // part·threads + t.
      LLVMValueRef b = e.load64(blk);
      LLVMValueRef part = r.parts() > 1 ? LLVMBuildURem(e.b, b, e.c64(r.parts()), "part") : e.c64(0);
      LLVMBuildStore(e.b, r.parts() > 1 ? LLVMBuildUDiv(e.b, b, e.c64(r.parts()), "") : b, e.varSlot(k.root().var()));
      bc.forAllThreads(t -> {
        // The reduction's thread (v; the block's thread t for the registers).
        LLVMValueRef v = r.parts() > 1 ? LLVMBuildAdd(e.b, LLVMBuildMul(e.b, part, e.c64(r.threads()), ""), t, "") : t;
        if (r.across() >= 0) {
          LLVMBuildStore(e.b, LLVMBuildURem(e.b, v, e.c64(r.along()), ""), e.varSlot(r.thread()));
          LLVMBuildStore(e.b, LLVMBuildUDiv(e.b, v, e.c64(r.along()), ""), e.varSlot(r.across()));
        } else {
          LLVMBuildStore(e.b, v, e.varSlot(r.thread()));
        }
        for (int l : r.locals()) {
          LLVMBuildStore(e.b, e.cf(0), e.localSlot(l));
        }
        e.emitStatements(List.of(r.partial()));
        for (int x = 0; x < sums; x++) {
          regs[x][0].set(t, LLVMBuildLoad2(e.b, e.f32, e.localSlot(r.locals().get(x)), ""));
        }
      });
      int cur = 0;
      for (int off = 16; off >= 1; off /= 2) {
        int from = cur;
        int o = off;
        bc.forAllThreads(t -> {
          for (int x = 0; x < sums; x++) {
            BlockCode.Register src = regs[x][from];
            regs[x][1 - from].set(t, LLVMBuildFAdd(e.b, src.get(t), bc.shuffleXor(src, t, o), ""));
          }
        });
        cur = 1 - cur;
      }
      int last = cur;
      bc.forAllThreads(t -> Ir.when(e, fn, LLVMBuildICmp(e.b, LLVMIntEQ, LLVMBuildURem(e.b, t, e.c64(32), ""), e.c64(0),
          ""), () -> {
            LLVMValueRef w = LLVMBuildUDiv(e.b, t, e.c64(32), "");
            for (int x = 0; x < sums; x++) {
              LLVMBuildStore(e.b, regs[x][last].get(t), bc.element(warpSums,
                  LLVMBuildAdd(e.b, e.c64((long) x * warps), w, "")));
            }
          }));
      bc.barrier();
      bc.forAllThreads(t -> {
        for (int x = 0; x < sums; x++) {
          LLVMValueRef total = LLVMBuildLoad2(e.b, e.f32, bc.element(warpSums, e.c64((long) x * warps)), "");
          for (int w = 1; w < warps; w++) {
            total = LLVMBuildFAdd(e.b, total, LLVMBuildLoad2(e.b, e.f32, bc.element(warpSums,
                e.c64((long) x * warps + w)), ""), "");
          }
          LLVMBuildStore(e.b, total, e.localSlot(r.locals().get(x)));
        }
        Ir.when(e, fn, LLVMBuildICmp(e.b, LLVMIntEQ, t, e.c64(0), ""), () -> {
          if (r.parts() == 1) {
            e.emitStatements(r.after());
            return;
          }
          // Part p of output o's sums at scratch[(o·parts + p)·sums + x], for the parts' sum.
          LLVMValueRef at = LLVMBuildMul(e.b, b, e.c64(sums), "");
          for (int x = 0; x < sums; x++) {
            LLVMBuildStore(e.b, LLVMBuildLoad2(e.b, e.f32, e.localSlot(r.locals().get(x)), ""), e.at(LLVMBuildAdd(e.b,
                e.off(buffers - 1), LLVMBuildAdd(e.b, at, e.c64(x), ""), "")));
          }
        });
      });
      // The warps' sums are read before the next block's are written.
      bc.barrier();
    });
    e.endFunction();
  }

  /**
   * The sum of split block reduction {@code r}'s parts, items {@code [lo, hi)}: item o adds, for
   * each of its sums, the parts' sums {@code scratch[(o·parts + p)·sums + x]} in order of p, then
   * runs the reduction's stores for output o (the scratch is template buffer {@code buffers − 1}).
   */
  private void emitPartsSum(dev.nnc.ir.kernel.BlockReduction r, String name, int buffers) {
    Kernel.Loops k = r.nest().named(name);
    e.beginFunction(name, buffers);
    e.beginNest(k);
    LLVMValueRef fn = e.function();
    int sums = r.locals().size();
    LLVMValueRef it = e.slot(e.i64, "it");
    e.loop(it, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), 1, () -> {
      LLVMValueRef o = e.load64(it);
      LLVMBuildStore(e.b, o, e.varSlot(k.root().var()));
      LLVMValueRef first = LLVMBuildAdd(e.b, e.off(buffers - 1), LLVMBuildMul(e.b, o, e.c64((long) r.parts() * sums), ""),
          "");
      for (int x = 0; x < sums; x++) {
        LLVMValueRef sum = LLVMBuildLoad2(e.b, e.f32, e.at(LLVMBuildAdd(e.b, first, e.c64(x), "")), "");
        for (int p = 1; p < r.parts(); p++) {
          sum = LLVMBuildFAdd(e.b, sum, LLVMBuildLoad2(e.b, e.f32, e.at(LLVMBuildAdd(e.b, first,
              e.c64((long) p * sums + x), "")), ""), "");
        }
        LLVMBuildStore(e.b, sum, e.localSlot(r.locals().get(x)));
      }
      e.emitStatements(r.after());
    });
    e.endFunction();
  }

  /** Below this many iterations of its parallel loop a nest spreads its second loop over threads too, where it may. */
  static final long COLLAPSE_BELOW = 16 * 1024;

  /**
   * Whether nest {@code l}'s work items are its two outer loops' iteration pairs: its parallel
   * loop is short (LeNet-5's im2col at batch 64, a Winograd transform's 64 channels: a few blocks
   * on a GPU of a hundred multiprocessors) and the loops inside it are independent too.
   */
  static boolean collapsed(Kernel.Loops l) {
    return l.parallel() && l.root().extent() < COLLAPSE_BELOW && dev.nnc.ir.kernel.Independence.secondLoops(l) > 1;
  }


  /** Below this many (outer, second) pairs a collapsed nest spreads the loops inside its second loops over threads too, where it may. */
  static final long SPREAD_BELOW = 64 * 1024;

  /**
   * The lanes of each of nest {@code l}'s pairs (outer iteration, iteration of its second loops:
   * as {@link #collapsed}, or with one image) when the perfect nests inside its second loops are
   * spread over threads too ({@link dev.nnc.ir.kernel.Independence#spreadLanes}: a
   * Winograd transform's tiles, 64 per image and channel of ResNet-18 CIFAR's first layers, which
   * as pairs ran 8,192 threads of 64 tiles each), else 0. {@code -Dnnc.gpu.spread=false} never
   * spreads, for comparisons.
   */
  static long spread(Kernel.Loops l) {
    return l.parallel() && l.root().extent() < COLLAPSE_BELOW && !"false".equals(System.getProperty("nnc.gpu.spread"))
        ? dev.nnc.ir.kernel.Independence.spreadLanes(l, SPREAD_BELOW) : 0;
  }

  /** The outer loop's extent of a serial loop nest, which one thread runs whole; -1 for parallel kernels. */
  private static long serialExtent(Kernel k) {
    return k instanceof Kernel.Loops l && !l.parallel() && reduction(l) == null ? l.root().extent() : -1;
  }

  /**
   * One template's body {@code body(arena, lo, hi, off0, …)}, emitted once. On the GPU it is
   * inlined into one entry point for all its kernels, which takes the buffers' offsets as kernel
   * arguments: LLVM and ptxas (and the driver, when it loads the PTX) work on each distinct loop
   * nest once (ResNet-18 CIFAR: 719 kernels, one entry for the same Winograd transform of the
   * training, evaluation and inference programs). Device functions called from per-kernel entries
   * would share the LLVM work too, but ptxas inlines them back: 84 s instead of 17 for that model.
   * Emulated, each kernel is the CPU's {@code (arena, lo, hi)} function with its offsets as
   * constants, calling the shared body.
   */
  private void emitGroup(String name, Kernel template, List<Instance> instances) {
    int buffers = instances.get(0).offsets().length;
    e.constantOffsets(null);
    // A split GEMM: its partial products here, their sum below (buffer buffers-1 is the scratch).
    Kernel computed = computed(template, buffers - 1);
    dev.nnc.ir.kernel.BlockReduction parts = reduction(template) instanceof dev.nnc.ir.kernel.BlockReduction r
        && r.parts() > 1 ? r : null;
    boolean split = computed != template || parts != null;
    String second = parts != null ? PARTS : SUM;
    boolean blockwise = (computed instanceof Kernel.Gemm tg && tiled(tg)) || reduction(template) != null;
    switch (computed) {
      case Kernel.Loops l when reduction(l) != null -> emitBlockReduction(reduction(l), name + "_items", buffers);
      case Kernel.Loops l when spread(l) > 0 -> e.emitLoopsSpread(l.named(name + "_items"), buffers, spread(l));
      case Kernel.Loops l when collapsed(l) -> e.emitLoopsCollapsed(l.named(name + "_items"), buffers);
      case Kernel.Loops l -> e.emitLoops(l.named(name + "_items"), buffers);
      case Kernel.Gemm g when tensorCore(g) -> emitMmaGemm(g, name + "_items", buffers);
      case Kernel.Gemm g when blockwise && wide(g) -> emitBlockedGemm(g, name + "_items", buffers, WIDE_TILE);
      case Kernel.Gemm g when blockwise && blocked(g) -> emitBlockedGemm(g, name + "_items", buffers, BLOCKED_TILE);
      case Kernel.Gemm g when blockwise -> emitTiledGemm(g, name + "_items", buffers);
      case Kernel.Gemm g -> emitGemmItems(g, name + "_items", buffers);
      case Kernel.Steps st -> throw new IllegalStateException("steps " + st.name() + " inside a loop over time");
    }
    LLVMValueRef body = e.function();
    LLVMValueRef sumBody = null;
    if (parts != null) {
      emitPartsSum(parts, name + PARTS + "_items", buffers);
      sumBody = e.function();
    } else if (split) {
      emitSplitSum((Kernel.Gemm) template, splitK((Kernel.Gemm) template), name + SUM + "_items", buffers);
      sumBody = e.function();
    }
    // The kernels' symbols are their names, and with the sum's suffix for a split kernel's second launch.
    List<String> suffixes = split ? List.of("", second) : List.of("");
    if (flavor == Flavor.PTX || driverEntries) {
      for (String sfx : suffixes) {
        entryPoint(name + sfx, sfx.isEmpty() ? body : sumBody, buffers,
            launches.get(instances.get(0).kernel().name() + sfx), sfx.isEmpty() ? serialExtent(template) : -1,
            sfx.isEmpty() && blockwise);
        for (Instance in : instances) {
          Launch l = launches.get(in.kernel().name() + sfx);
          launches.put(l.symbol(), new Launch(l.symbol(), name + sfx, l.offsets(), l.blocks(), l.threads(), l.items()));
        }
      }
      return;
    }
    for (String sfx : suffixes) {
      Launch first = launches.get(instances.get(0).kernel().name() + sfx);
      for (Instance in : instances) {
        entry(in.kernel().name() + sfx, sfx.isEmpty() ? body : sumBody, in.offsets(), buffers, first.items(),
            first.threads(), sfx.isEmpty() ? serialExtent(template) : -1, sfx.isEmpty() && blockwise);
        Launch l = launches.get(in.kernel().name() + sfx);
        launches.put(l.symbol(), new Launch(l.symbol(), l.symbol(), l.offsets(), l.blocks(), l.threads(), l.items()));
      }
    }
  }

  /**
   * The GPU entry point {@code name} (or, emulated with driver entries, its {@code (params, lo,
   * hi)} function and {@code <name>_block}, its threads per block) for the kernels whose body is
   * {@code body}, inlined into it.
   */
  private void entryPoint(String name, LLVMValueRef body, int buffers, Launch first, long serialExtent,
      boolean blockwise) {
    String always = "alwaysinline";
    String never = "noinline";
    LLVMRemoveEnumAttributeAtIndex(body, LLVMAttributeFunctionIndex,
        LLVMGetEnumAttributeKindForName(never, never.length()));
    LLVMAddAttributeAtIndex(body, LLVMAttributeFunctionIndex,
        LLVMCreateEnumAttribute(e.ctx, LLVMGetEnumAttributeKindForName(always, always.length()), 0));
    entry(name, body, null, buffers, first.items(), first.threads(), serialExtent, blockwise);
    if (driverEntries) {
      LLVMValueRef threads = LLVMAddGlobal(e.mod, e.i32, name + "_block");
      LLVMSetInitializer(threads, LLVMConstInt(e.i32, first.threads(), 0));
      LLVMSetGlobalConstant(threads, 1);
    }
  }

  /** An entry point's name for the kernels like {@code k}: {@code g3_winograd_tiles} (the op after the kernel's number). */
  static String entryName(int index, Kernel k) {
    String n = k.name();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("_k\\d+_(\\w+)$").matcher(n);
    return "g" + index + (m.find() ? "_" + m.group(1) : "");
  }

  /**
   * The kernel {@code name}: item {@code i = block·threads + thread}, if below {@code count}, runs
   * {@code body(arena, i, i+1, offsets…)}; a serial kernel's one item runs {@code body(arena, 0, extent, offsets…)}.
   */
  private void entry(String name, LLVMValueRef body, long[] offsets, int buffers, long count, int threads,
      long serialExtent, boolean blockwise) {
    LLVMTypeRef type = e.kernelType;
    if (flavor == Flavor.PTX) {
      LLVMTypeRef[] params = new LLVMTypeRef[1 + buffers];
      params[0] = e.ptr;
      java.util.Arrays.fill(params, 1, params.length, e.i64);
      type = LLVMFunctionType(e.voidT, pp(params), params.length, 0);
    }
    LLVMValueRef fn = LLVMAddFunction(e.mod, name, type);
    LLVMSetLinkage(fn, LLVMExternalLinkage);
    String noalias = "noalias";
    LLVMAddAttributeAtIndex(fn, 1, LLVMCreateEnumAttribute(e.ctx,
        LLVMGetEnumAttributeKindForName(noalias, noalias.length()), 0));
    // Single-precision denormals flush to zero, as in the item bodies inlined here (the CPU back
    // end's FTZ/DAZ): PTX's .ftz instructions.
    String denormal = "denormal-fp-math";
    String mode = "preserve-sign,preserve-sign";
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
        LLVMCreateStringAttribute(e.ctx, denormal, denormal.length(), mode, mode.length()));
    LLVMPositionBuilderAtEnd(e.b, LLVMAppendBasicBlockInContext(e.ctx, fn, "entry"));
    LLVMValueRef first = LLVMGetParam(fn, 0);
    LLVMValueRef[] offs = new LLVMValueRef[buffers];
    for (int k = 0; k < buffers; k++) {
      offs[k] = offsets != null ? e.c64(offsets[k]) : flavor == Flavor.PTX ? LLVMGetParam(fn, 1 + k)
          : LLVMBuildLoad2(e.b, e.i64, parameter(first, 1 + k), "off" + k);
    }
    LLVMValueRef arena = driverEntries ? LLVMBuildLoad2(e.b, e.ptr, parameter(first, 0), "arena") : first;
    if (flavor == Flavor.PTX) {
      LLVMSetFunctionCallConv(fn, PTX_KERNEL);
      LLVMValueRef block = LLVMBuildZExt(e.b, Ir.intrinsic(e, "llvm.nvvm.read.ptx.sreg.ctaid.x"), e.i64, "block");
      if (blockwise) {
        // The body is the block's code (its threads synchronise): every thread runs it.
        call(body, offs, arena, block, LLVMBuildAdd(e.b, block, e.c64(1), ""));
      } else {
        LLVMValueRef thread = LLVMBuildZExt(e.b, Ir.intrinsic(e, "llvm.nvvm.read.ptx.sreg.tid.x"), e.i64, "thread");
        item(fn, body, offs, arena, block, thread, count, threads, serialExtent);
      }
      LLVMBuildRetVoid(e.b);
      return;
    }
    if (blockwise) {
      // Emulated: the body runs blocks [lo, hi), their threads in phases.
      call(body, offs, arena, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2));
      LLVMBuildRetVoid(e.b);
      return;
    }
    // Emulated: blocks [lo, hi) of the runtime's call, each block's threads in a loop.
    LLVMValueRef blockSlot = LLVMBuildAlloca(e.b, e.i64, "block");
    LLVMValueRef threadSlot = LLVMBuildAlloca(e.b, e.i64, "thread");
    Ir.loop(e, fn, blockSlot, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), () ->
        Ir.loop(e, fn, threadSlot, e.c64(0), e.c64(threads), () ->
            item(fn, body, offs, arena, LLVMBuildLoad2(e.b, e.i64, blockSlot, ""),
                LLVMBuildLoad2(e.b, e.i64, threadSlot, ""),
                count, threads, serialExtent)));
    LLVMBuildRetVoid(e.b);
  }

  /** One thread's item: a guarded call of the body. */
  private void item(LLVMValueRef fn, LLVMValueRef body, LLVMValueRef[] offsets, LLVMValueRef arena, LLVMValueRef block,
      LLVMValueRef thread, long count, int threads, long serialExtent) {
    LLVMValueRef i = LLVMBuildAdd(e.b, LLVMBuildMul(e.b, block, e.c64(threads), ""), thread, "item");
    LLVMValueRef in = LLVMBuildICmp(e.b, LLVMIntULT, i, e.c64(count), "");
    Ir.when(e, fn, in, () -> {
      LLVMValueRef lo = serialExtent >= 0 ? e.c64(0) : i;
      LLVMValueRef hi = serialExtent >= 0 ? e.c64(serialExtent) : LLVMBuildAdd(e.b, i, e.c64(1), "");
      call(body, offsets, arena, lo, hi);
    });
  }

  /** {@code body(arena, lo, hi, offsets…)}. */
  private void call(LLVMValueRef body, LLVMValueRef[] offsets, LLVMValueRef arena, LLVMValueRef lo, LLVMValueRef hi) {
    LLVMValueRef[] args = new LLVMValueRef[LLVMCountParams(body)];
    args[0] = arena;
    args[1] = lo;
    args[2] = hi;
    System.arraycopy(offsets, 0, args, 3, args.length - 3);
    LLVMBuildCall2(e.b, LLVMGlobalGetValueType(body), body, pp(args), args.length, "");
  }

  /** The address of kernel argument {@code k}: {@code params[k]}, of {@code cuLaunchKernel}'s array of pointers. */
  private LLVMValueRef parameter(LLVMValueRef params, int k) {
    return LLVMBuildLoad2(e.b, e.ptr, e.gep(e.ptr, params, e.c64(k)), "param" + k);
  }

  /**
   * A GEMM tiled through shared memory, blocks {@code [lo, hi)}: block {@code q·tiles + r} computes
   * tile r of product q's C, a {@value #TILE}×{@value #TILE} square, one element per thread.
   * Over K in steps of {@value #TILE}, the block's threads copy a tile of A and one of B into
   * shared memory (each thread one element of each, zero past the matrices' edges), wait for each
   * other, and each adds its row of the one times its column of the other to its sum; then C =
   * epilogue(sum) where the element exists. Each element of A and B is read from memory once per
   * tile instead of once per thread that needs it. Written as phases ({@link BlockCode}), so the
   * emulation runs it with the barriers honoured.
   */
  private void emitTiledGemm(Kernel.Gemm g, String name, int buffers) {
    e.beginFunction(name, buffers);
    LLVMValueRef fn = e.function();
    BlockCode bc = new BlockCode(e, flavor, TILE * TILE);
    LLVMValueRef as = bc.shared(TILE * TILE);
    LLVMValueRef bs = bc.shared(TILE * TILE);
    BlockCode.Register acc = bc.register("acc");
    LLVMValueRef blk = e.slot(e.i64, "blk");
    LLVMValueRef k0 = e.slot(e.i64, "k0");
    LLVMValueRef iSlot = e.slot(e.i64, "i");
    LLVMValueRef jSlot = e.slot(e.i64, "j");
    e.loop(blk, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), 1, () -> {
      BlockTile bt = blockTile(g, e.load64(blk), TILE);
      LLVMValueRef q = bt.q();
      LLVMValueRef row0 = bt.row0();
      LLVMValueRef col0 = bt.col0();
      LLVMValueRef aBase = bt.aBase();
      LLVMValueRef bBase = bt.bBase();
      bc.forAllThreads(t -> acc.set(t, e.cf(0)));
      e.loop(k0, e.c64(0), e.c64(g.k()), TILE, () -> {
        LLVMValueRef kv = e.load64(k0);
        bc.forAllThreads(t -> {
          LLVMValueRef tx = LLVMBuildURem(e.b, t, e.c64(TILE), "tx");
          LLVMValueRef ty = LLVMBuildUDiv(e.b, t, e.c64(TILE), "ty");
          // As[ty][tx] = A(row0 + ty, k0 + tx); Bs[ty][tx] = B(k0 + ty, col0 + tx); 0 outside.
          LLVMValueRef i = LLVMBuildAdd(e.b, row0, ty, "");
          LLVMValueRef ka = LLVMBuildAdd(e.b, kv, tx, "");
          LLVMValueRef inA = LLVMBuildAnd(e.b, LLVMBuildICmp(e.b, LLVMIntSLT, i, e.c64(g.m()), ""),
              LLVMBuildICmp(e.b, LLVMIntSLT, ka, e.c64(g.k()), ""), "");
          LLVMValueRef slot = rowMajor(ty, TILE, tx);
          LLVMBuildStore(e.b, guardedLoad(inA, aBase, aIndex(g, i, ka)), bc.element(as, slot));
          LLVMValueRef kb = LLVMBuildAdd(e.b, kv, ty, "");
          LLVMValueRef j = LLVMBuildAdd(e.b, col0, tx, "");
          LLVMValueRef inB = LLVMBuildAnd(e.b, LLVMBuildICmp(e.b, LLVMIntSLT, kb, e.c64(g.k()), ""),
              LLVMBuildICmp(e.b, LLVMIntSLT, j, e.c64(g.n()), ""), "");
          LLVMBuildStore(e.b, guardedLoad(inB, bBase, bIndex(g, kb, j)), bc.element(bs, slot));
        });
        bc.barrier();
        bc.forAllThreads(t -> {
          LLVMValueRef tx = LLVMBuildURem(e.b, t, e.c64(TILE), "tx");
          LLVMValueRef ty = LLVMBuildUDiv(e.b, t, e.c64(TILE), "ty");
          LLVMValueRef sum = acc.get(t);
          for (int kk = 0; kk < TILE; kk++) {
            LLVMValueRef x = LLVMBuildLoad2(e.b, e.f32, bc.element(as, rowMajor(ty, TILE, e.c64(kk))), "");
            LLVMValueRef y = LLVMBuildLoad2(e.b, e.f32, bc.element(bs, rowMajor(e.c64(kk), TILE, tx)), "");
            LLVMValueRef prod = LLVMBuildFMul(e.b, x, y, "");
            LLVMSetFastMathFlags(prod, LLVMFastMathAllowContract);
            sum = LLVMBuildFAdd(e.b, sum, prod, "");
            LLVMSetFastMathFlags(sum, LLVMFastMathAllowContract);
          }
          acc.set(t, sum);
        });
        bc.barrier();
      });
      bc.forAllThreads(t -> {
        LLVMValueRef i = LLVMBuildAdd(e.b, row0, LLVMBuildUDiv(e.b, t, e.c64(TILE), ""), "");
        LLVMValueRef j = LLVMBuildAdd(e.b, col0, LLVMBuildURem(e.b, t, e.c64(TILE), ""), "");
        storeC(g, q, i, j, acc.get(t), iSlot, jSlot);
      });
    });
    e.endFunction();
  }

  /**
   * A register-blocked, double-buffered GEMM, blocks {@code [lo, hi)}: block {@code q·tiles + r}
   * computes tile r of product q's C, {@code side} × {@code side} ({@value #BLOCKED_TILE} or
   * {@value #WIDE_TILE}), with 16 × 16 threads; thread (ty, tx) holds {@code side/16} ×
   * {@code side/16} elements of C in registers, its rows in runs of {@value #RUN} at
   * {@code 64·u + 4·ty + r} and its columns likewise with tx. Over K in steps of
   * {@value #BLOCKED_K}, tiles of A (stored k-major, [k][i]) and B ([k][j]) are in shared memory
   * twice over, their rows padded by {@value #RUN} floats (so that the stores of a tile read along
   * K hit 32 banks): while the threads multiply out the current pair, each loads its elements of
   * the next A and B tile from memory into registers and then stores them into the other pair, so
   * one barrier per step separates a pair's writing from its reading, and the loads' latency hides
   * behind the multiplications. A thread reads each run as one 16-byte vector ({@code
   * ld.shared.v4.f32}; a warp's reads of A are two broadcast vectors, of B 64 consecutive floats):
   * per step of K, 16 FMAs for two vector reads in the 64-square tile, 64 for four in the
   * 128-square one, where one read per FMA would leave the FMA units waiting on shared memory.
   * Loads from memory take consecutive threads along the operand's contiguous dimension
   * (coalesced), whichever its transposition.
   */
  private void emitBlockedGemm(Kernel.Gemm g, String name, int buffers, int side) {
    final int stride = side + RUN;
    final int tileFloats = BLOCKED_K * stride;
    final int threads = TILE * TILE;
    final int perThread = side * BLOCKED_K / threads;
    final int micro = side / TILE;
    final int span = RUN * TILE;
    e.beginFunction(name, buffers);
    LLVMValueRef fn = e.function();
    BlockCode bc = new BlockCode(e, flavor, threads);
    LLVMValueRef as = bc.shared(2 * tileFloats);
    LLVMValueRef bs = bc.shared(2 * tileFloats);
    BlockCode.Register[] acc = new BlockCode.Register[micro * micro];
    for (int r = 0; r < acc.length; r++) {
      acc[r] = bc.register("acc" + r);
    }
    LLVMValueRef blk = e.slot(e.i64, "blk");
    LLVMValueRef kt = e.slot(e.i64, "kt");
    LLVMValueRef iSlot = e.slot(e.i64, "i");
    LLVMValueRef jSlot = e.slot(e.i64, "j");
    long steps = (g.k() + BLOCKED_K - 1) / BLOCKED_K;
    e.loop(blk, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), 1, () -> {
      BlockTile bt = blockTile(g, e.load64(blk), side);
      LLVMValueRef row0 = bt.row0();
      LLVMValueRef col0 = bt.col0();
      java.util.function.BiFunction<LLVMValueRef, LLVMValueRef, LLVMValueRef[]> fetch = (t, k0) ->
          fetchTiles(g, t, k0, bt, side, stride);
      java.util.function.BiConsumer<LLVMValueRef[], LLVMValueRef> store = (v, pair) -> {
        for (int p = 0; p < perThread; p++) {
          LLVMBuildStore(e.b, v[4 * p], bc.element(as, LLVMBuildAdd(e.b, pair, v[4 * p + 1], "")));
          LLVMBuildStore(e.b, v[4 * p + 2], bc.element(bs, LLVMBuildAdd(e.b, pair, v[4 * p + 3], "")));
        }
      };
      bc.forAllThreads(t -> {
        for (BlockCode.Register a : acc) {
          a.set(t, e.cf(0));
        }
        store.accept(fetch.apply(t, e.c64(0)), e.c64(0));
      });
      bc.barrier();
      e.loop(kt, e.c64(0), e.c64(steps), 1, () -> {
        LLVMValueRef s0 = e.load64(kt);
        LLVMValueRef cur = LLVMBuildMul(e.b, LLVMBuildAnd(e.b, s0, e.c64(1), ""), e.c64(tileFloats), "cur");
        LLVMValueRef next = LLVMBuildSub(e.b, e.c64(tileFloats), cur, "next");
        LLVMValueRef more = LLVMBuildICmp(e.b, LLVMIntSLT, LLVMBuildAdd(e.b, s0, e.c64(1), ""), e.c64(steps), "more");
        LLVMValueRef k1 = LLVMBuildMul(e.b, LLVMBuildAdd(e.b, s0, e.c64(1), ""), e.c64(BLOCKED_K), "k1");
        bc.forAllThreads(t -> {
          LLVMValueRef tx4 = LLVMBuildMul(e.b, LLVMBuildURem(e.b, t, e.c64(TILE), ""), e.c64(RUN), "tx4");
          LLVMValueRef ty4 = LLVMBuildMul(e.b, LLVMBuildUDiv(e.b, t, e.c64(TILE), ""), e.c64(RUN), "ty4");
          // The next step's elements, loaded before the multiplications so their latency hides
          // behind them (past the last step, K's guard makes them zeros, never stored).
          LLVMValueRef[] prefetched = fetch.apply(t, k1);
          LLVMValueRef[] sums = new LLVMValueRef[acc.length];
          for (int x = 0; x < acc.length; x++) {
            sums[x] = acc[x].get(t);
          }
          for (int kk = 0; kk < BLOCKED_K; kk++) {
            LLVMValueRef[] av = new LLVMValueRef[micro];
            LLVMValueRef[] bw = new LLVMValueRef[micro];
            for (int u = 0; u < micro / RUN; u++) {
              LLVMValueRef row = LLVMBuildAdd(e.b, e.c64((long) kk * stride + (long) u * span), cur, "");
              System.arraycopy(bc.vector(as, LLVMBuildAdd(e.b, row, ty4, ""), RUN), 0, av, RUN * u, RUN);
              System.arraycopy(bc.vector(bs, LLVMBuildAdd(e.b, row, tx4, ""), RUN), 0, bw, RUN * u, RUN);
            }
            for (int m = 0; m < micro; m++) {
              for (int n = 0; n < micro; n++) {
                LLVMValueRef prod = LLVMBuildFMul(e.b, av[m], bw[n], "");
                LLVMSetFastMathFlags(prod, LLVMFastMathAllowContract);
                sums[m * micro + n] = LLVMBuildFAdd(e.b, sums[m * micro + n], prod, "");
                LLVMSetFastMathFlags(sums[m * micro + n], LLVMFastMathAllowContract);
              }
            }
          }
          for (int x = 0; x < acc.length; x++) {
            acc[x].set(t, sums[x]);
          }
          // The other pair was last read before the previous barrier: nobody reads it now.
          Ir.when(e, e.function(), more, () -> store.accept(prefetched, next));
        });
        bc.barrier();
      });
      bc.forAllThreads(t -> {
        LLVMValueRef tx4 = LLVMBuildMul(e.b, LLVMBuildURem(e.b, t, e.c64(TILE), ""), e.c64(RUN), "tx4");
        LLVMValueRef ty4 = LLVMBuildMul(e.b, LLVMBuildUDiv(e.b, t, e.c64(TILE), ""), e.c64(RUN), "ty4");
        for (int m = 0; m < micro; m++) {
          for (int n = 0; n < micro; n++) {
            LLVMValueRef i = LLVMBuildAdd(e.b, row0, LLVMBuildAdd(e.b, ty4, e.c64((long) m / RUN * span + m % RUN), ""), "");
            LLVMValueRef j = LLVMBuildAdd(e.b, col0, LLVMBuildAdd(e.b, tx4, e.c64((long) n / RUN * span + n % RUN), ""), "");
            storeC(g, bt.q(), i, j, acc[m * micro + n].get(t), iSlot, jSlot);
          }
        }
      });
    });
    e.endFunction();
  }

  /** Floats per row of a tensor-core GEMM's k-major tiles in shared memory: 64 and a pad, so a warp's fragment reads hit 32 different banks. */
  static final int MMA_STRIDE = BLOCKED_TILE + 8;
  /** Columns of C per warp of a tensor-core GEMM: four {@code m16n8} tiles side by side. */
  static final int MMA_WARP_N = 32;

  /**
   * A GEMM on the tensor cores, blocks {@code [lo, hi)}: the register-blocked kernel's blocks,
   * {@value #BLOCKED_TILE}-square tiles of C, and its double-buffered {@value #BLOCKED_K}-deep
   * tiles of A and B in shared memory, but the multiplications are {@code mma.sync.aligned.m16n8k8
   * .row.col.f32.tf32.tf32.f32}: warp w of the eight computes the 16 × 32 sub-tile at rows
   * {@code 16·(w mod 4)}, columns {@code 32·(w / 4)}, as four 16 × 8 products per K step, each
   * thread holding 4 floats of each (16 sums, as in the register-blocked kernel). The inputs are
   * rounded to TF32 ({@code cvt.rna.tf32.f32}: 10 bits of mantissa, to nearest, ties away from
   * zero), the sums are FP32; docs/architecture.md gives the tolerance this implies.
   *
   * <p>The fragments follow the PTX ISA's layout for this shape (lane l, group {@code g = l/4},
   * {@code c = l mod 4}): A's registers r = 0..3 hold A(g + 8·(r mod 2), c + 4·(r/2)); B's r = 0..1
   * hold B(c + 4·r, g); C's r = 0..3 hold C(g + 8·(r/2), 2c + r mod 2). Each K step is two phases:
   * the fragments are read from shared memory into registers (and the next tiles from memory);
   * then the products. Emulated, a product is computed from that layout read backwards: the
   * thread gathers each A(i, k) and B(k, j) of its elements of C from the registers of the lane
   * that holds it, so fragments loaded in the wrong places give wrong sums, as on the GPU.
   */
  private void emitMmaGemm(Kernel.Gemm g, String name, int buffers) {
    final int tileFloats = BLOCKED_K * MMA_STRIDE;
    final int threads = TILE * TILE;
    final int perThread = BLOCKED_TILE * BLOCKED_K / threads;
    final int nTiles = MMA_WARP_N / 8;
    e.beginFunction(name, buffers);
    LLVMValueRef fn = e.function();
    BlockCode bc = new BlockCode(e, flavor, threads);
    LLVMValueRef as = bc.shared(2 * tileFloats);
    LLVMValueRef bs = bc.shared(2 * tileFloats);
    BlockCode.Register[] acc = new BlockCode.Register[nTiles * 4];
    for (int r = 0; r < acc.length; r++) {
      acc[r] = bc.register("acc" + r);
    }
    BlockCode.Register[] fa = new BlockCode.Register[4];
    for (int r = 0; r < fa.length; r++) {
      fa[r] = bc.register("a" + r);
    }
    BlockCode.Register[] fb = new BlockCode.Register[nTiles * 2];
    for (int r = 0; r < fb.length; r++) {
      fb[r] = bc.register("b" + r);
    }
    BlockCode.Register[] pre = new BlockCode.Register[2 * perThread];
    for (int r = 0; r < pre.length; r++) {
      pre[r] = bc.register("next" + r);
    }
    LLVMValueRef blk = e.slot(e.i64, "blk");
    LLVMValueRef kt = e.slot(e.i64, "kt");
    LLVMValueRef iSlot = e.slot(e.i64, "i");
    LLVMValueRef jSlot = e.slot(e.i64, "j");
    long steps = (g.k() + BLOCKED_K - 1) / BLOCKED_K;
    e.loop(blk, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), 1, () -> {
      BlockTile bt = blockTile(g, e.load64(blk), BLOCKED_TILE);
      LLVMValueRef row0 = bt.row0();
      LLVMValueRef col0 = bt.col0();
      bc.forAllThreads(t -> {
        for (BlockCode.Register a : acc) {
          a.set(t, e.cf(0));
        }
        LLVMValueRef[] v = fetchTiles(g, t, e.c64(0), bt, BLOCKED_TILE, MMA_STRIDE);
        for (int p = 0; p < perThread; p++) {
          LLVMBuildStore(e.b, v[4 * p], bc.element(as, v[4 * p + 1]));
          LLVMBuildStore(e.b, v[4 * p + 2], bc.element(bs, v[4 * p + 3]));
        }
      });
      bc.barrier();
      e.loop(kt, e.c64(0), e.c64(steps), 1, () -> {
        LLVMValueRef s0 = e.load64(kt);
        LLVMValueRef cur = LLVMBuildMul(e.b, LLVMBuildAnd(e.b, s0, e.c64(1), ""), e.c64(tileFloats), "cur");
        LLVMValueRef next = LLVMBuildSub(e.b, e.c64(tileFloats), cur, "next");
        LLVMValueRef more = LLVMBuildICmp(e.b, LLVMIntSLT, LLVMBuildAdd(e.b, s0, e.c64(1), ""), e.c64(steps), "more");
        LLVMValueRef k1 = LLVMBuildMul(e.b, LLVMBuildAdd(e.b, s0, e.c64(1), ""), e.c64(BLOCKED_K), "k1");
        // Phase 1: the next tiles' elements from memory, this step's fragments from shared memory.
        bc.forAllThreads(t -> {
          LLVMValueRef[] v = fetchTiles(g, t, k1, bt, BLOCKED_TILE, MMA_STRIDE);
          for (int p = 0; p < perThread; p++) {
            pre[2 * p].set(t, v[4 * p]);
            pre[2 * p + 1].set(t, v[4 * p + 2]);
          }
          LLVMValueRef[] w = warpPlace(t);
          LLVMValueRef rowW = LLVMBuildMul(e.b, w[0], e.c64(16), "");
          LLVMValueRef colW = LLVMBuildMul(e.b, w[1], e.c64(MMA_WARP_N), "");
          for (int x = 0; x < 4; x++) {
            LLVMValueRef i = LLVMBuildAdd(e.b, rowW, LLVMBuildAdd(e.b, w[2], e.c64(8L * (x % 2)), ""), "");
            LLVMValueRef k = LLVMBuildAdd(e.b, w[3], e.c64(4L * (x / 2)), "");
            fa[x].set(t, tf32(LLVMBuildLoad2(e.b, e.f32, bc.element(as, LLVMBuildAdd(e.b, cur, rowMajor(k, MMA_STRIDE, i),
                "")), "")));
          }
          for (int n = 0; n < nTiles; n++) {
            for (int x = 0; x < 2; x++) {
              LLVMValueRef k = LLVMBuildAdd(e.b, w[3], e.c64(4L * x), "");
              LLVMValueRef j = LLVMBuildAdd(e.b, colW, LLVMBuildAdd(e.b, w[2], e.c64(8L * n), ""), "");
              fb[2 * n + x].set(t, tf32(LLVMBuildLoad2(e.b, e.f32, bc.element(bs, LLVMBuildAdd(e.b, cur,
                  rowMajor(k, MMA_STRIDE, j), "")), "")));
            }
          }
        });
        // Phase 2: the products, then the next tiles into the other pair (last read before the previous barrier).
        bc.forAllThreads(t -> {
          for (int n = 0; n < nTiles; n++) {
            mma(bc, t, fa, fb[2 * n], fb[2 * n + 1], new BlockCode.Register[] {acc[4 * n], acc[4 * n + 1], acc[4 * n + 2],
                acc[4 * n + 3]});
          }
          Ir.when(e, e.function(), more, () -> {
            LLVMValueRef[] v = tiles(g, t, k1, bt, BLOCKED_TILE, MMA_STRIDE, false);
            for (int p = 0; p < perThread; p++) {
              LLVMBuildStore(e.b, pre[2 * p].get(t), bc.element(as, LLVMBuildAdd(e.b, next, v[4 * p + 1], "")));
              LLVMBuildStore(e.b, pre[2 * p + 1].get(t), bc.element(bs, LLVMBuildAdd(e.b, next, v[4 * p + 3], "")));
            }
          });
        });
        bc.barrier();
      });
      bc.forAllThreads(t -> {
        LLVMValueRef[] w = warpPlace(t);
        LLVMValueRef rowW = LLVMBuildAdd(e.b, row0, LLVMBuildMul(e.b, w[0], e.c64(16), ""), "");
        LLVMValueRef colW = LLVMBuildAdd(e.b, col0, LLVMBuildMul(e.b, w[1], e.c64(MMA_WARP_N), ""), "");
        for (int n = 0; n < nTiles; n++) {
          for (int x = 0; x < 4; x++) {
            LLVMValueRef i = LLVMBuildAdd(e.b, rowW, LLVMBuildAdd(e.b, w[2], e.c64(8L * (x / 2)), ""), "");
            LLVMValueRef j = LLVMBuildAdd(e.b, colW, LLVMBuildAdd(e.b, LLVMBuildMul(e.b, w[3], e.c64(2), ""),
                e.c64(8L * n + x % 2), ""), "");
            storeC(g, bt.q(), i, j, acc[4 * n + x].get(t), iSlot, jSlot);
          }
        }
      });
    });
    e.endFunction();
  }

  /** Thread {@code t}'s place in a tensor-core GEMM: its warp's row and column of sub-tiles, and its lane's group and place in it. */
  private LLVMValueRef[] warpPlace(LLVMValueRef t) {
    LLVMValueRef warp = LLVMBuildUDiv(e.b, t, e.c64(32), "warp");
    LLVMValueRef lane = LLVMBuildURem(e.b, t, e.c64(32), "lane");
    return new LLVMValueRef[] {LLVMBuildURem(e.b, warp, e.c64(4), ""), LLVMBuildUDiv(e.b, warp, e.c64(4), ""),
        LLVMBuildUDiv(e.b, lane, e.c64(4), "group"), LLVMBuildURem(e.b, lane, e.c64(4), "")};
  }

  /** {@code x} rounded to TF32 ({@code cvt.rna.tf32.f32}), as a float: the 13 low bits of its mantissa rounded away, to nearest, ties away from zero. */
  private LLVMValueRef tf32(LLVMValueRef x) {
    if (flavor == Flavor.PTX) {
      return LLVMBuildBitCast(e.b, Ir.intrinsic(e, "llvm.nvvm.f2tf32.rna", x), e.f32, "");
    }
    LLVMValueRef bits = LLVMBuildBitCast(e.b, x, e.i32, "");
    LLVMValueRef exp = LLVMBuildAnd(e.b, bits, LLVMConstInt(e.i32, 0x7f800000L, 0), "");
    LLVMValueRef special = LLVMBuildICmp(e.b, LLVMIntEQ, exp, LLVMConstInt(e.i32, 0x7f800000L, 0), "");
    LLVMValueRef rounded = LLVMBuildAnd(e.b, LLVMBuildAdd(e.b, bits, LLVMConstInt(e.i32, 0x1000, 0), ""),
        LLVMConstInt(e.i32, 0xffffe000L, 0), "");
    return LLVMBuildBitCast(e.b, LLVMBuildSelect(e.b, special, bits, rounded, ""), e.f32, "");
  }

  /**
   * {@code c += a·b} for thread {@code t}'s part of a warp's 16 × 8 × 8 product: on the GPU one
   * {@code mma.sync} of the warp; emulated, the thread's four elements of C from the fragments of
   * the lanes that hold their rows of A and columns of B (the registers' layout read backwards).
   */
  private void mma(BlockCode bc, LLVMValueRef t, BlockCode.Register[] a, BlockCode.Register b0, BlockCode.Register b1,
      BlockCode.Register[] c) {
    if (flavor == Flavor.PTX) {
      LLVMValueRef[] args = new LLVMValueRef[10];
      for (int x = 0; x < 4; x++) {
        args[x] = LLVMBuildBitCast(e.b, a[x].get(t), e.i32, "");
        args[6 + x] = c[x].get(t);
      }
      args[4] = LLVMBuildBitCast(e.b, b0.get(t), e.i32, "");
      args[5] = LLVMBuildBitCast(e.b, b1.get(t), e.i32, "");
      LLVMValueRef d = Ir.intrinsic(e, "llvm.nvvm.mma.m16n8k8.row.col.tf32", args);
      for (int x = 0; x < 4; x++) {
        c[x].set(t, LLVMBuildExtractValue(e.b, d, x, ""));
      }
      return;
    }
    LLVMValueRef lane = LLVMBuildURem(e.b, t, e.c64(32), "");
    LLVMValueRef warp0 = LLVMBuildSub(e.b, t, lane, "");
    LLVMValueRef group = LLVMBuildUDiv(e.b, lane, e.c64(4), "");
    LLVMValueRef inGroup = LLVMBuildURem(e.b, lane, e.c64(4), "");
    LLVMValueRef[] sums = new LLVMValueRef[4];
    for (int x = 0; x < 4; x++) {
      // C(i, j) with i = group + 8·(x/2), j = 2·inGroup + x mod 2.
      LLVMValueRef j = LLVMBuildAdd(e.b, LLVMBuildMul(e.b, inGroup, e.c64(2), ""), e.c64(x % 2), "");
      LLVMValueRef sum = c[x].get(t);
      for (int k = 0; k < 8; k++) {
        // A(i, k) is in register (i ≥ 8) + 2·(k ≥ 4) of lane 4·(i mod 8) + k mod 4; B(k, j) in register (k ≥ 4) of lane 4·j + k mod 4.
        LLVMValueRef aLane = LLVMBuildAdd(e.b, warp0, LLVMBuildAdd(e.b, LLVMBuildMul(e.b, group, e.c64(4), ""),
            e.c64(k % 4), ""), "");
        LLVMValueRef bLane = LLVMBuildAdd(e.b, warp0, LLVMBuildAdd(e.b, LLVMBuildMul(e.b, j, e.c64(4), ""),
            e.c64(k % 4), ""), "");
        LLVMValueRef prod = LLVMBuildFMul(e.b, a[x / 2 + 2 * (k / 4)].get(aLane), (k < 4 ? b0 : b1).get(bLane), "");
        LLVMSetFastMathFlags(prod, LLVMFastMathAllowContract);
        sum = LLVMBuildFAdd(e.b, sum, prod, "");
        LLVMSetFastMathFlags(sum, LLVMFastMathAllowContract);
      }
      sums[x] = sum;
    }
    for (int x = 0; x < 4; x++) {
      c[x].set(t, sums[x]);
    }
  }

  /**
   * Thread {@code t}'s elements of the {@code side} × {@value #BLOCKED_K} tiles of A and
   * B that start at K index {@code k0}, read from memory (zeros outside the operands), with where
   * each goes in shared memory: {@code [a, aSlot, b, bSlot]} per element, the tiles stored k-major
   * with rows of {@code stride} floats. Consecutive threads take consecutive elements along the
   * operand's contiguous dimension (coalesced), whichever its transposition.
   */
  private LLVMValueRef[] fetchTiles(Kernel.Gemm g, LLVMValueRef t, LLVMValueRef k0, BlockTile bt, int side, int stride) {
    return tiles(g, t, k0, bt, side, stride, true);
  }

  /** {@link #fetchTiles}, or only where the elements go in shared memory ({@code load} false: null values). */
  private LLVMValueRef[] tiles(Kernel.Gemm g, LLVMValueRef t, LLVMValueRef k0, BlockTile bt, int side, int stride,
      boolean load) {
    final int threads = TILE * TILE;
    final int perThread = side * BLOCKED_K / threads;
    LLVMValueRef[] v = new LLVMValueRef[4 * perThread];
    for (int p = 0; p < perThread; p++) {
      LLVMValueRef el = LLVMBuildAdd(e.b, t, e.c64((long) p * threads), "");
      // A's tile: consecutive threads along K where A is [M,K], along M where it is [K,M].
      LLVMValueRef il = g.transA() ? LLVMBuildURem(e.b, el, e.c64(side), "")
          : LLVMBuildUDiv(e.b, el, e.c64(BLOCKED_K), "");
      LLVMValueRef kla = g.transA() ? LLVMBuildUDiv(e.b, el, e.c64(side), "")
          : LLVMBuildURem(e.b, el, e.c64(BLOCKED_K), "");
      LLVMValueRef i = LLVMBuildAdd(e.b, bt.row0(), il, "");
      LLVMValueRef ka = LLVMBuildAdd(e.b, k0, kla, "");
      LLVMValueRef inA = LLVMBuildAnd(e.b, LLVMBuildICmp(e.b, LLVMIntSLT, i, e.c64(g.m()), ""),
          LLVMBuildICmp(e.b, LLVMIntSLT, ka, e.c64(g.k()), ""), "");
      v[4 * p] = load ? guardedLoad(inA, bt.aBase(), aIndex(g, i, ka)) : null;
      v[4 * p + 1] = rowMajor(kla, stride, il);
      // B's tile: along N where B is [K,N], along K where it is [N,K].
      LLVMValueRef jl = g.transB() ? LLVMBuildUDiv(e.b, el, e.c64(BLOCKED_K), "")
          : LLVMBuildURem(e.b, el, e.c64(side), "");
      LLVMValueRef klb = g.transB() ? LLVMBuildURem(e.b, el, e.c64(BLOCKED_K), "")
          : LLVMBuildUDiv(e.b, el, e.c64(side), "");
      LLVMValueRef j = LLVMBuildAdd(e.b, bt.col0(), jl, "");
      LLVMValueRef kb = LLVMBuildAdd(e.b, k0, klb, "");
      LLVMValueRef inB = LLVMBuildAnd(e.b, LLVMBuildICmp(e.b, LLVMIntSLT, kb, e.c64(g.k()), ""),
          LLVMBuildICmp(e.b, LLVMIntSLT, j, e.c64(g.n()), ""), "");
      v[4 * p + 2] = load ? guardedLoad(inB, bt.bBase(), bIndex(g, kb, j)) : null;
      v[4 * p + 3] = rowMajor(klb, stride, jl);
    }
    return v;
  }

  /** Block b's tile of a tiled GEMM: its product q, its first row and column of C, and where q's A and B start. */
  private record BlockTile(LLVMValueRef q, LLVMValueRef row0, LLVMValueRef col0, LLVMValueRef aBase, LLVMValueRef bBase) {}

  /** Block {@code block}'s tile of GEMM {@code g} in tiles of {@code side} × {@code side}: block {@code q·tiles + r} is tile r of product q, row-major. */
  private BlockTile blockTile(Kernel.Gemm g, LLVMValueRef block, int side) {
    long tilesN = (g.n() + side - 1) / side;
    long perProduct = tiles(g);
    LLVMValueRef q = LLVMBuildSDiv(e.b, block, e.c64(perProduct), "q");
    LLVMValueRef r = LLVMBuildSRem(e.b, block, e.c64(perProduct), "");
    LLVMValueRef row0 = LLVMBuildMul(e.b, LLVMBuildSDiv(e.b, r, e.c64(tilesN), ""), e.c64(side), "row0");
    LLVMValueRef col0 = LLVMBuildMul(e.b, LLVMBuildSRem(e.b, r, e.c64(tilesN), ""), e.c64(side), "col0");
    return new BlockTile(q, row0, col0, operand(g.a(), g.aBase(), q, (long) g.m() * g.k()),
        operand(g.b(), g.bBase(), q, (long) g.k() * g.n()));
  }

  /**
   * {@code C(i, j) = epilogue(sum)} of product {@code q}, where (i, j) is inside C (a tile's
   * threads past its edges store nothing); the epilogue reads i and j from {@code iSlot} and
   * {@code jSlot}.
   */
  private void storeC(Kernel.Gemm g, LLVMValueRef q, LLVMValueRef i, LLVMValueRef j, LLVMValueRef sum,
      LLVMValueRef iSlot, LLVMValueRef jSlot) {
    LLVMValueRef in = LLVMBuildAnd(e.b, LLVMBuildICmp(e.b, LLVMIntSLT, i, e.c64(g.m()), ""),
        LLVMBuildICmp(e.b, LLVMIntSLT, j, e.c64(g.n()), ""), "");
    e.ifElse(in, () -> {
      LLVMBuildStore(e.b, i, iSlot);
      LLVMBuildStore(e.b, j, jSlot);
      LLVMValueRef v = g.epilogue() == null ? sum : e.exprWith(g.epilogue(), new LLVMValueRef[] {iSlot, jSlot}, sum);
      LLVMBuildStore(e.b, v, e.at(LLVMBuildAdd(e.b, operand(g.c(), 0, q, (long) g.m() * g.n()), rowMajor(i, g.n(), j),
          "")));
    }, () -> { });
  }

  /** Arena index of product {@code q}'s operand in buffer {@code buf}: its offset, {@code base}, and q products of {@code size} before it. */
  private LLVMValueRef operand(int buf, long base, LLVMValueRef q, long size) {
    return LLVMBuildAdd(e.b, e.off(buf), LLVMBuildAdd(e.b, e.c64(base), LLVMBuildMul(e.b, q, e.c64(size), ""), ""), "");
  }

  /** {@code r·cols + c}. */
  private LLVMValueRef rowMajor(LLVMValueRef r, long cols, LLVMValueRef c) {
    return LLVMBuildAdd(e.b, LLVMBuildMul(e.b, r, e.c64(cols), ""), c, "");
  }

  /** Where A(i, k) is in its operand: A is stored [M,K], or [K,M] when transposed. */
  private LLVMValueRef aIndex(Kernel.Gemm g, LLVMValueRef i, LLVMValueRef k) {
    return g.transA() ? rowMajor(k, g.m(), i) : rowMajor(i, g.k(), k);
  }

  /** Where B(k, j) is in its operand: B is stored [K,N], or [N,K] when transposed. */
  private LLVMValueRef bIndex(Kernel.Gemm g, LLVMValueRef k, LLVMValueRef j) {
    return g.transB() ? rowMajor(j, g.k(), k) : rowMajor(k, g.n(), j);
  }

  /** {@code arena[base + index]} where {@code in}, else 0; nothing outside the operand is read (its first element stands in). */
  private LLVMValueRef guardedLoad(LLVMValueRef in, LLVMValueRef base, LLVMValueRef index) {
    LLVMValueRef at = LLVMBuildAdd(e.b, base, LLVMBuildSelect(e.b, in, index, e.c64(0), ""), "");
    LLVMValueRef v = LLVMBuildLoad2(e.b, e.f32, e.at(at), "");
    return LLVMBuildSelect(e.b, in, v, e.cf(0), "");
  }

  /**
   * A GEMM's items {@code [lo, hi)}: item {@code q·M·N + i·N + j} is element (i, j) of product q,
   * {@code C = epilogue(Σₖ A(i,k)·B(k,j))} summed in order of k. Consecutive threads take
   * consecutive columns: a warp reads one element of A and a row of B where B is stored [K,N].
   */
  private void emitGemmItems(Kernel.Gemm g, String name, int buffers) {
    e.beginFunction(name, buffers);
    LLVMValueRef fn = e.function();
    LLVMValueRef it = e.slot(e.i64, "it");
    LLVMValueRef iSlot = e.slot(e.i64, "i");
    LLVMValueRef jSlot = e.slot(e.i64, "j");
    LLVMValueRef kSlot = e.slot(e.i64, "k");
    LLVMValueRef sum = e.slot(e.f32, "sum");
    long mn = (long) g.m() * g.n();
    e.loop(it, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), 1, () -> {
      LLVMValueRef item = e.load64(it);
      LLVMValueRef q = LLVMBuildSDiv(e.b, item, e.c64(mn), "q");
      LLVMValueRef r = LLVMBuildSRem(e.b, item, e.c64(mn), "");
      LLVMBuildStore(e.b, LLVMBuildSDiv(e.b, r, e.c64(g.n()), ""), iSlot);
      LLVMBuildStore(e.b, LLVMBuildSRem(e.b, r, e.c64(g.n()), ""), jSlot);
      LLVMValueRef aBase = operand(g.a(), g.aBase(), q, (long) g.m() * g.k());
      LLVMValueRef bBase = operand(g.b(), g.bBase(), q, (long) g.k() * g.n());
      LLVMBuildStore(e.b, e.cf(0), sum);
      e.loop(kSlot, e.c64(0), e.c64(g.k()), 1, () -> {
        LLVMValueRef i = e.load64(iSlot);
        LLVMValueRef j = e.load64(jSlot);
        LLVMValueRef k = e.load64(kSlot);
        LLVMValueRef av = LLVMBuildLoad2(e.b, e.f32, e.at(LLVMBuildAdd(e.b, aBase, aIndex(g, i, k), "")), "");
        LLVMValueRef bv = LLVMBuildLoad2(e.b, e.f32, e.at(LLVMBuildAdd(e.b, bBase, bIndex(g, k, j), "")), "");
        LLVMValueRef prod = LLVMBuildFMul(e.b, av, bv, "");
        LLVMValueRef add = LLVMBuildFAdd(e.b, LLVMBuildLoad2(e.b, e.f32, sum, ""), prod, "");
        LLVMSetFastMathFlags(prod, LLVMFastMathAllowContract);
        LLVMSetFastMathFlags(add, LLVMFastMathAllowContract);
        LLVMBuildStore(e.b, add, sum);
      });
      LLVMValueRef acc = LLVMBuildLoad2(e.b, e.f32, sum, "");
      LLVMValueRef v = g.epilogue() == null ? acc : e.exprWith(g.epilogue(), new LLVMValueRef[] {iSlot, jSlot}, acc);
      LLVMValueRef ci = LLVMBuildAdd(e.b, operand(g.c(), 0, q, mn), rowMajor(e.load64(iSlot), g.n(), e.load64(jSlot)), "");
      LLVMBuildStore(e.b, v, e.at(ci));
    });
    e.endFunction();
  }

  /**
   * The sum of split GEMM {@code g}'s {@code parts} partial products, items {@code [lo, hi)}: item
   * {@code i·N + j} is {@code C(i, j) = epilogue(Σ_q P_q(i, j))}, the parts added in order of q
   * (the scratch, template buffer {@code buffers − 1}, holds {@code P_q} at {@code q·M·N}).
   */
  private void emitSplitSum(Kernel.Gemm g, int parts, String name, int buffers) {
    e.beginFunction(name, buffers);
    LLVMValueRef fn = e.function();
    LLVMValueRef it = e.slot(e.i64, "it");
    LLVMValueRef iSlot = e.slot(e.i64, "i");
    LLVMValueRef jSlot = e.slot(e.i64, "j");
    long mn = (long) g.m() * g.n();
    e.loop(it, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), 1, () -> {
      LLVMValueRef item = e.load64(it);
      LLVMBuildStore(e.b, LLVMBuildSDiv(e.b, item, e.c64(g.n()), ""), iSlot);
      LLVMBuildStore(e.b, LLVMBuildSRem(e.b, item, e.c64(g.n()), ""), jSlot);
      LLVMValueRef at = LLVMBuildAdd(e.b, e.off(buffers - 1), item, "");
      LLVMValueRef sum = LLVMBuildLoad2(e.b, e.f32, e.at(at), "");
      for (int q = 1; q < parts; q++) {
        LLVMValueRef p = LLVMBuildLoad2(e.b, e.f32, e.at(LLVMBuildAdd(e.b, at, e.c64(q * mn), "")), "");
        sum = LLVMBuildFAdd(e.b, sum, p, "");
      }
      LLVMValueRef v = g.epilogue() == null ? sum : e.exprWith(g.epilogue(), new LLVMValueRef[] {iSlot, jSlot}, sum);
      LLVMBuildStore(e.b, v, e.at(LLVMBuildAdd(e.b, e.off(g.c()), item, "")));
    });
    e.endFunction();
  }
}
