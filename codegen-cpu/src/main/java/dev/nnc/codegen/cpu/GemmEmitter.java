package dev.nnc.codegen.cpu;

import static dev.nnc.codegen.cpu.Llvm.pp;
import static org.bytedeco.llvm.global.LLVM.*;

import dev.nnc.ir.kernel.Kernel;
import dev.nnc.passes.backend.NativeCall;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.llvm.LLVM.LLVMBasicBlockRef;
import org.bytedeco.llvm.LLVM.LLVMBuilderRef;
import org.bytedeco.llvm.LLVM.LLVMTypeRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * A BLIS-style GEMM for the host, generated per call site with its shapes as constants:
 * <ul>
 *   <li>{@code <name>_packb} copies B into column panels of NR = NV·W floats (W = vector lanes),
 *       K rows each, zero-padded: the micro-kernel then reads B with unit stride;
 *   <li>{@code <name>_packa} copies A into MR-row slivers over all of K, once per call;
 *   <li>{@code <name>} takes work items (a block of MC rows × a chunk of columns) and runs an
 *       MR × NR register-blocked
 *       micro-kernel over each KC-slice: MR·NV vector accumulators, one {@code llvm.fma} per
 *       accumulator per k. Edge tiles go through a stack tile. The epilogue (bias, activation,
 *       residual) runs over the block once its K loop is done, while it is still in cache.
 * </ul>
 * With W = 8 (AVX2): MR = 6, NR = 16, 12 accumulators + 2 B vectors + 1 broadcast = 15 of 16
 * ymm registers; MC = 48 and KC = 512 were the fastest blocking on a 2-core AMD EPYC (Zen 4,
 * 32 KiB L1d, 1 MiB L2). With W = 16 (AVX-512 cores with full-width FMA units): MR = 6, NR = 64,
 * 24 of 32 zmm registers accumulate, MC = 192, KC = 512 (2-core Xeon Ice Lake-SP, 48 KiB L1d,
 * 1.25 MiB L2; docs/benchmarks.md). A GEMM with fewer columns than NR gets fewer vectors and more
 * rows ({@link Tiling#narrowedTo}). A short product with many columns and a short K (a
 * recurrence's per-step {@code h·W_hhᵀ} and {@code dG·W_hh}) is split by rows instead
 * ({@link Blocking#rows}): its A read in place, each work item a block of {@value #ROW_BLOCK} rows,
 * so that a thread computes the rows of the state the element-wise kernels around it gave it.
 * {@code -Dnnc.gemm.lanes/mr/nv/mc/kc} set one blocking for every GEMM, for experiments, within
 * the ranges {@link Tiling} accepts.
 */
final class GemmEmitter {
  /**
   * The blocking: vectors of {@code lanes} floats, MR rows × NV vectors per micro-tile, MC rows
   * per work item, KC columns of K per slice. Every value in the accepted ranges produces correct
   * code (GemmTilingTest runs a grid of them); anything else is refused before code is generated,
   * never emitted. {@link #forHost} picks the lanes and the blocking measured fastest for a host.
   */
  record Tiling(int lanes, int mr, int nv, int mc, int kc) {
    /** The micro-tile's rows and columns must fit the packing scratch's padding (64, see {@link #scratchFloats}). */
    static final int MAX_TILE = 64;
    /** More accumulators than this would not stay in registers, and take long to compile. */
    static final int MAX_ACCUMULATORS = 32;

    /** AVX2 (and SSE, with 4 lanes): 12 ymm accumulators + 2 B vectors + 1 broadcast = 15 of 16 registers. */
    static final Tiling AVX2 = new Tiling(8, 6, 2, 48, 512);
    /**
     * AVX-512 cores with two full-width FMA units: 24 zmm accumulators + 4 B vectors + 1
     * broadcast of 32 registers (Xeon Ice Lake-SP, 2 cores: docs/benchmarks.md).
     */
    static final Tiling AVX512 = new Tiling(16, 6, 4, 192, 512);
    static final String[] PROPERTIES = {"nnc.gemm.lanes", "nnc.gemm.mr", "nnc.gemm.nv", "nnc.gemm.mc", "nnc.gemm.kc"};

    Tiling {
      check(lanes == 4 || lanes == 8 || lanes == 16, "nnc.gemm.lanes must be 4, 8 or 16, got " + lanes);
      check(mr >= 1 && mr <= MAX_TILE, "nnc.gemm.mr must be between 1 and " + MAX_TILE + ", got " + mr);
      check(nv >= 1 && nv * lanes <= MAX_TILE, "nnc.gemm.nv must be between 1 and " + MAX_TILE / lanes + " for "
          + lanes + " lanes, got " + nv);
      check(mr * nv <= MAX_ACCUMULATORS, "nnc.gemm.mr × nnc.gemm.nv is the number of vector accumulators and must be"
          + " at most " + MAX_ACCUMULATORS + ", got " + mr + " × " + nv);
      check(mc >= mr && mc % mr == 0 && mc <= 1 << 16, "nnc.gemm.mc must be a multiple of nnc.gemm.mr (" + mr
          + ") up to 65536, got " + mc);
      check(kc >= 1 && kc <= 1 << 16, "nnc.gemm.kc must be between 1 and 65536, got " + kc);
    }

    private static void check(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException("GEMM tiling: " + message);
      }
    }

    /**
     * The lanes for a target: 16 on AVX-512 cores that run a 512-bit FMA at full width, 8 on AVX2
     * and on Zen 4 (which splits a 512-bit FMA into two 256-bit halves, so zmm brings nothing
     * there), 4 without AVX.
     */
    static int lanes(Llvm.Host host) {
      if (host.vectorWidth() == 16) {
        return host.cpu().equals("znver4") ? 8 : 16;
      }
      return Math.min(host.vectorWidth(), 8);
    }

    /** The default blocking for a target's lanes. */
    static Tiling forHost(Llvm.Host host) {
      int lanes = lanes(host);
      return lanes == 16 ? AVX512 : lanes == 8 ? AVX2 : new Tiling(4, AVX2.mr, AVX2.nv, AVX2.mc, AVX2.kc);
    }

    /**
     * The host's default, with {@code -Dnnc.gemm.*} overrides (validated; more lanes than the
     * target's registers hold are refused, since that code could not run there).
     */
    static Tiling fromSystemProperties(Llvm.Host host) {
      Tiling d = forHost(host);
      int lanes = intProperty("nnc.gemm.lanes", d.lanes);
      // Another width brings its own default blocking, each part still overridable.
      if (lanes != d.lanes && lanes == 8) {
        d = AVX2;
      } else if (lanes != d.lanes && lanes == 16) {
        d = AVX512;
      }
      Tiling t = new Tiling(lanes, intProperty("nnc.gemm.mr", d.mr), intProperty("nnc.gemm.nv", d.nv),
          intProperty("nnc.gemm.mc", d.mc), intProperty("nnc.gemm.kc", d.kc));
      t.checkFits(host);
      return t;
    }

    /**
     * The blocking for a GEMM of {@code n} columns: a micro-tile no wider than the columns need
     * (fewer vectors), with proportionally more rows so that as many accumulators stay busy. A
     * 16-column product under the 6 × 4-vector AVX-512 tile would compute 64 columns, 48 of them
     * padding (ResNet-18's 4×4 maps at batch 1: 1.8 ms instead of 0.9 for each 512-channel layer).
     */
    Tiling narrowedTo(int n) {
      if (lanes == 16 && n <= 16) {
        // One zmm column would need 24 rows to keep the registers busy, and packing A in
        // slivers that tall is slow: the 8-lane 6 × 2 kernel fits 16 columns exactly.
        return AVX2.narrowedTo(n);
      }
      int need = Math.max(1, (n + lanes - 1) / lanes);
      if (need >= nv) {
        return this;
      }
      int rows = Math.min(MAX_TILE, mr * nv / need);
      // Registers: the accumulators, the B vectors and one broadcast.
      rows = Math.min(rows, (MAX_ACCUMULATORS - need - 1) / need);
      int blocks = Math.max(1, mc / rows);
      return new Tiling(lanes, rows, need, blocks * rows, kc);
    }

    /** Whether any {@code -Dnnc.gemm.*} is set: then every GEMM gets exactly that blocking. */
    static boolean overridden() {
      return java.util.Arrays.stream(PROPERTIES).anyMatch(p -> System.getProperty(p) != null);
    }

    /** Refuses lanes wider than the target's vector registers. */
    void checkFits(Llvm.Host host) {
      check(lanes <= host.vectorWidth(), "nnc.gemm.lanes=" + lanes + " needs " + (lanes == 16 ? "AVX-512" : "AVX")
          + ", which the target (" + host.cpu() + ") does not have; use at most " + host.vectorWidth());
    }

    private static int intProperty(String name, int fallback) {
      String v = System.getProperty(name);
      if (v == null) {
        return fallback;
      }
      try {
        return Integer.parseInt(v.trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("GEMM tiling: " + name + " must be an integer, got '" + v + "'");
      }
    }
  }

  /**
   * Packing scratch of a GEMM: B as K rows of N padded by up to 64 columns, then A as K columns
   * of M padded by up to 64 rows (any micro-tile of at most {@link Tiling#MAX_TILE} fits).
   */
  static long scratchFloats(int m, int n, int k) {
    return packedBFloats(n, k) + (long) k * ((m + 127) / 64 * 64);
  }

  /** All the scratch of GEMM {@code g}: its products' packed operands, then the partial products of a split K. */
  static long scratchFloats(Kernel.Gemm g) {
    return g.batch() * scratchFloats(g.m(), g.n(), g.k()) + (splitK(g) - 1L) * g.m() * g.n();
  }

  /**
   * The parts a GEMM's K is split into for its compute items: a small result with a long K (a
   * convolution's weight gradient at small channel counts: LeNet's first layer is 6 × 25 over K =
   * 50,176) has too few row blocks and panels to occupy the threads. Each part accumulates its
   * share of K into its own partial result, and {@code _reduce} adds them up and applies the
   * epilogue. Only from the shape, so that memory planning and code agree; 1 for batched GEMMs.
   */
  static int splitK(Kernel.Gemm g) {
    if (g.batch() != 1 || (long) g.m() * g.n() > 16384 || g.k() < 2048) {
      return 1;
    }
    return Math.min(8, g.k() / 1024);
  }

  /** The suffix of a split-K GEMM's reduction function. */
  static final String REDUCE = "_reduce";

  static long packedBFloats(int n, int k) {
    return (long) k * ((n + 127) / 64 * 64);
  }

  private final KernelEmitter e;
  /**
   * The template buffer number of the scratch of the GEMM being emitted: its offset is that body
   * argument, after those of the GEMM's buffers.
   */
  private int scratch;
  /**
   * The template arguments (after the scratch) holding where the GEMM being emitted finds A and B
   * prepacked, or -1 for an operand packed into the scratch on every call.
   */
  private int argA = -1;
  private int argB = -1;
  /** Whether the GEMM being emitted reads A (B) where it is stored instead of a packed copy. */
  private boolean inPlaceA;
  private boolean inPlaceB;
  private int w;
  /** The blocking asked for; {@link #emit} may narrow it per GEMM (see {@link Tiling#narrowedTo}). */
  private final Blocking blocking;
  // The blocking of the GEMM being emitted, and its parts.
  private Tiling current;
  private int nr;
  private int MR;
  private int NV;
  private int MC;
  private int KC;
  private LLVMTypeRef vec;
  /** Eight floats: the 8×8 register transposes of B's packing use these whatever the lanes. */
  private final LLVMTypeRef vec8;
  private final LLVMBuilderRef b;
  /**
   * A batched GEMM's product index in the function being emitted (its work items are the
   * products' items one product after another); null for a single product.
   */
  private LLVMValueRef batchSlot;

  /** The suffixes of a GEMM's packing functions' symbols. */
  static final String PACK_A = "_packa";
  static final String PACK_B = "_packb";

  /**
   * A tiling, and whether each GEMM gets it narrowed to its columns ({@link Tiling#narrowedTo});
   * without, every GEMM gets it exactly (an experiment's {@code -Dnnc.gemm.*}, the tiling tests).
   */
  record Blocking(Tiling tiling, boolean narrow, int registers) {
    Tiling tilingFor(Kernel.Gemm g) {
      if (!narrow) {
        return tiling;
      }
      Tiling r = rowTiling();
      return r != null && rows(g.m(), g.n(), g.k(), g.transA(), g.batch()) ? r : tiling.narrowedTo(g.n());
    }

    /**
     * The micro-tile of a GEMM split by rows: 4 rows (a block of {@value GemmEmitter#ROW_BLOCK} is two
     * tiles) and as many vectors as the registers hold beside them — 4 with 32 vector registers
     * (16 accumulators + 4 B vectors + 1 broadcast), 3 with 16 (12 + 3 + 1); none with 4 lanes.
     */
    Tiling rowTiling() {
      if (tiling.lanes() < 8) {
        return null;
      }
      return new Tiling(tiling.lanes(), ROW_TILE, registers >= 32 ? 4 : 3, ROW_BLOCK, tiling.kc());
    }

    /**
     * Whether a product is split by rows ({@code -Dnnc.gemm.rows=false}: never, for comparisons):
     * one product, A stored [M,K], M of {@value GemmEmitter#ROW_MIN_M} to {@value GemmEmitter#ROW_MAX_M} rows (a batch),
     * K within one block of the micro-kernel's K, more columns than one panel of the row tiling
     * (fewer read A in place anyway) and B small enough ({@value GemmEmitter#ROW_MAX_B} floats) to stay in
     * each core's L2, which streams it once per row block. Each work item is then
     * {@value GemmEmitter#ROW_BLOCK} rows × a chunk of columns, items ordered by rows, so the pool's
     * contiguous ranges give each thread the rows an element-wise kernel over the same rows gives
     * it (both split [0, M) into chunks in order): in a recurrence's loop a step's gates, state
     * and gate gradients stay in the core that computed them, and A needs no packing (a
     * 64 × 512 × 128 step on a 2-core Zen 4: the eight per-step kernels of the two layers 0.30–0.35
     * ms instead of 0.40–0.54, docs/benchmarks.md).
     */
    boolean rows(int m, int n, int k, boolean transA, int batch) {
      Tiling r = rowTiling();
      return ROWS && r != null && batch == 1 && !transA && m >= ROW_MIN_M && m <= ROW_MAX_M && k <= r.kc()
          && n > r.nv() * r.lanes() && (long) k * n <= ROW_MAX_B;
    }
  }

  /**
   * For a GEMM whose whole work is its compute function's, split by rows ({@link Blocking#rows}):
   * how many consecutive work items cover each block of {@value #ROW_BLOCK} rows (items {@code
   * [r·n, (r+1)·n)} compute rows {@code [8r, 8r+8)} of C, reading A in place). 0 when the product
   * is split otherwise, packs A, or splits K (its calls are more than the one compute function).
   */
  static int itemsPerRowBlock(Blocking blocking, Kernel.Gemm g) {
    if (!blocking.narrow() || !blocking.rows(g.m(), g.n(), g.k(), g.transA(), g.batch())
        || !readsAInPlace(blocking, g.m(), g.n(), g.k(), g.transA(), g.batch()) || splitK(g) != 1) {
      return 0;
    }
    Tiling t = blocking.tilingFor(g);
    if (t.mc() != ROW_BLOCK) {
      return 0;
    }
    return split(g, t).chunks();
  }

  /** Rows of a row-split GEMM's micro-tile, and of its work items' blocks. */
  static final int ROW_TILE = 4;
  static final int ROW_BLOCK = 8;
  static final int ROW_MIN_M = 16;
  static final int ROW_MAX_M = 128;
  static final long ROW_MAX_B = 1L << 17;

  /** {@code -Dnnc.gemm.rows=false} splits every GEMM by columns, for comparisons. */
  static final boolean ROWS = !"false".equals(System.getProperty("nnc.gemm.rows"));

  GemmEmitter(KernelEmitter e, Blocking blocking) {
    this.e = e;
    this.blocking = blocking;
    use(blocking.tiling());
    this.vec8 = LLVMVectorType(e.f32, 8);
    this.b = e.b;
  }

  private void use(Tiling t) {
    current = t;
    w = t.lanes();
    vec = LLVMVectorType(e.f32, w);
    MR = t.mr();
    NV = t.nv();
    MC = t.mc();
    KC = t.kc();
    nr = NV * w;
  }

  /** Lets a 16-lane GEMM's functions use zmm registers whole. */
  private void wide() {
    if (w == 16) {
      e.vectorBits(512);
    }
  }

  /** Column chunking of the work: enough items for the threads even when M is small. */
  record Split(int itemsM, int chunkCols, int chunks) {
    int items() {
      return itemsM * chunks;
    }
  }

  Split split(Kernel.Gemm g) {
    return split(g, current);
  }

  /** The work items of {@code g} under tiling {@code t}. */
  static Split split(Kernel.Gemm g, Tiling t) {
    int mc = t.mc();
    int nr = t.nv() * t.lanes();
    int itemsM = (g.m() + mc - 1) / mc;
    int panels = (g.n() + nr - 1) / nr;
    // At least ~16 items, so that two (or four) threads get near-equal shares.
    int want = Math.max(1, Math.min(panels, (16 + itemsM - 1) / itemsM));
    int panelsPerChunk = (panels + want - 1) / want;
    int chunks = (panels + panelsPerChunk - 1) / panelsPerChunk;
    return new Split(itemsM, panelsPerChunk * nr, chunks);
  }

  /**
   * Emits the bodies of the packing and compute functions of a template GEMM (buffers {@code 0 …
   * buffers-1}, the scratch's offset the argument after theirs); returns their calls in order.
   * {@code packedA}/{@code packedB}: the operand is prepacked (the template arguments after the
   * scratch say where), its packing function writes there, and the compute function
   * reads it from there.
   */
  List<NativeCall> emit(Kernel.Gemm g, int buffers, boolean packedA, boolean packedB) {
    this.scratch = buffers;
    this.argA = packedA ? buffers + 1 : -1;
    this.argB = packedB ? buffers + 1 + (packedA ? 1 : 0) : -1;
    use(blocking.tilingFor(g));
    List<NativeCall> calls = new ArrayList<>();
    int panels = (g.n() + nr - 1) / nr;
    int tiles = (g.m() + MR - 1) / MR;
    inPlaceA = argA < 0 && readsAInPlace(blocking, g.m(), g.n(), g.k(), g.transA(), g.batch());
    inPlaceB = argB < 0 && readsBInPlace(g.m(), g.n(), g.transB(), current);
    if (!inPlaceB) {
      emitPackB(g);
      int partsB = kParts(panels, g.k());
      calls.add(new NativeCall(g.name() + PACK_B, (long) g.batch() * panels * partsB, (double) g.k() * nr / partsB));
    }
    if (!inPlaceA) {
      emitPackA(g);
      int units = packAUnits(g);
      int partsA = packAParts(g);
      calls.add(new NativeCall(g.name() + PACK_A, (long) g.batch() * units * partsA,
          (double) g.k() * MR * (g.transA() ? Math.min(TRANSPOSED_GROUP, tiles) : 1) / partsA));
    }
    Split s = split(g);
    int parts = splitK(g);
    emitCompute(g, s, parts);
    long items = (long) g.batch() * s.items() * parts;
    calls.add(new NativeCall(g.name(), items, 2.0 * g.m() * g.n() * g.k() / items));
    if (parts > 1) {
      emitReduce(g, parts);
      calls.add(new NativeCall(g.name() + REDUCE, g.m(), (double) parts * g.n()));
    }
    return calls;
  }

  /**
   * The loop over work items {@code [lo, hi)} of a function: for a batch, item {@code it} is item
   * {@code it % perProduct} of product {@code it / perProduct}, stored in {@code var} and in
   * {@link #batchSlot}; a single product's items are {@code var} itself.
   */
  private void items(Kernel.Gemm g, LLVMValueRef var, long perProduct, Runnable body) {
    if (g.batch() == 1) {
      batchSlot = null;
      e.loop(var, LLVMGetParam(e.fn, 1), LLVMGetParam(e.fn, 2), 1, body);
      return;
    }
    LLVMValueRef it = e.slot(e.i64, "bitem");
    batchSlot = e.slot(e.i64, "bq");
    e.loop(it, LLVMGetParam(e.fn, 1), LLVMGetParam(e.fn, 2), 1, () -> {
      LLVMValueRef iv = e.load64(it);
      LLVMBuildStore(b, LLVMBuildSDiv(b, iv, e.c64(perProduct), ""), batchSlot);
      LLVMBuildStore(b, LLVMBuildSRem(b, iv, e.c64(perProduct), ""), var);
      body.run();
    });
  }

  /** {@code base + q·stride} for the current product q (just {@code base} for one product). */
  private LLVMValueRef perProduct(LLVMValueRef base, long stride) {
    if (batchSlot == null) {
      return base;
    }
    return LLVMBuildAdd(b, base, LLVMBuildMul(b, e.load64(batchSlot), e.c64(stride), ""), "");
  }

  /** The arena offset of template buffer {@code buf} plus {@code delta}. */
  private LLVMValueRef at(int buf, long delta) {
    return delta == 0 ? e.off(buf) : LLVMBuildAdd(b, e.off(buf), e.c64(delta), "");
  }

  /** The longest rows of B (floats) read in place. */
  static final int IN_PLACE_B_MAX_N = 1024;

  /** {@code -Dnnc.gemm.inplace=false} packs every operand that is not prepacked, for comparisons. */
  static final boolean IN_PLACE = !"false".equals(System.getProperty("nnc.gemm.inplace"));

  /**
   * Whether a GEMM of {@code n} columns under blocking {@code t} (narrowed to them) reads A where
   * it is stored, not a packed copy: when its columns
   * fit one panel, the compute reads each sliver of A exactly once, so a packed copy would only add
   * a pass over A (LeNet-5's second convolution, {@code cols[6400,150] · W[16,150]ᵀ}: 0.46 ms of
   * packing for a 0.28 ms product). The micro-kernel then broadcasts A's elements from its MR rows
   * (clamped to the last row past the edge: those rows are computed and not stored).
   */
  static boolean readsAInPlace(int n, Tiling t) {
    return IN_PLACE && n <= t.nv() * t.lanes();
  }

  /**
   * The most columns of a GEMM that reads A stored [M,K] in place across several panels: the
   * item's MC rows of A (at most 48 × 512 floats) stay in L2 while its panels read them again,
   * and packing them is a pass over A saved. On the 2-core Zen 4, alternating runs (best of ten
   * each, docs/benchmarks.md): {@code 12544×32×288} 1.98–2.23 ms in place against 2.88–3.39
   * packed, {@code 3840×32×512} (an LSTM's input gradient) 0.87–0.98 against 1.13–1.46, {@code
   * 3840×64×512} 1.82–1.90 against 2.08–2.47; at 128 columns even, at 512 slower. A stored
   * [K,M] is read in place only within one panel: across panels its item's rows of a k lie a
   * whole row of A apart (2 KB for an LSTM's {@code dGᵀ}, {@code [3840, 512]}), a stride that maps
   * onto a few cache sets, so every panel fetches them again; packed by whole rows ({@link
   * #TRANSPOSED_GROUP}), the copy is shared by the products of one {@code dGᵀ} ({@code dW_hh} and
   * {@code dW_ih}: in the character LSTM's profile its two {@code 512×128×3840} products take
   * 3.3 ms each after one 0.9 ms packing, against 4.5 each read in place).
   */
  static final int IN_PLACE_A_MAX_N = 64;

  /**
   * Whether a GEMM of these dimensions under {@code blocking} reads A in place: when its columns
   * fit one panel ({@link #readsAInPlace(int, Tiling)}), when it has at most {@value
   * #IN_PLACE_A_MAX_N} columns and A is stored [M,K], or when it is split by rows ({@link
   * Blocking#rows}: each item's rows, K floats each, are read from L1 for every panel).
   */
  static boolean readsAInPlace(Blocking blocking, int m, int n, int k, boolean transA, int batch) {
    Tiling t = blocking.narrow() ? blocking.tiling().narrowedTo(n) : blocking.tiling();
    return IN_PLACE && (readsAInPlace(n, t) || !transA && n <= IN_PLACE_A_MAX_N
        || blocking.narrow() && blocking.rows(m, n, k, transA, batch));
  }

  /**
   * Whether a GEMM of {@code m} rows under blocking {@code t} (narrowed to its columns) reads B
   * where it is stored, not a packed copy: when B is stored
   * [K,N] (its rows are the micro-kernel's vectors) and the rows fit one block of MC, so that
   * each panel of B is read by one work item only (LeNet-5's second weight gradient,
   * {@code dyᵀ[16,6400] · cols[6400,150]}: 0.79 ms packing 3.8 MB it then read once), and its
   * rows are at most {@value #IN_PLACE_B_MAX_N} floats: with longer rows every k of the
   * micro-kernel touches another page, and packing wins ({@code 36×4096×512}: 1.43–1.55 ms packed,
   * 1.62–2.17 in place; 1024 columns are even, 512 or fewer faster in place). The last panel's
   * vectors are masked at the matrix's right edge.
   */
  static boolean readsBInPlace(int m, int n, boolean transB, Tiling t) {
    return IN_PLACE && !transB && m <= t.mc() && n <= IN_PLACE_B_MAX_N;
  }

  /** Floats of a prepacked copy of A ({@code a}) or B of {@code g} under blocking {@code t}, all products. */
  static long prepackedFloats(Kernel.Gemm g, Tiling t, boolean a) {
    return g.batch() * prepackedPerProduct(g, t, a);
  }

  private static long prepackedPerProduct(Kernel.Gemm g, Tiling t, boolean a) {
    int width = a ? t.mr() : t.nv() * t.lanes();
    int extent = a ? g.m() : g.n();
    return (long) g.k() * ((extent + width - 1) / width) * width;
  }

  private int args() {
    return scratch + 1 + (argA >= 0 ? 1 : 0) + (argB >= 0 ? 1 : 0);
  }

  /** Where packed B starts (product 0), and the floats between products. */
  private LLVMValueRef wsB() {
    return argB >= 0 ? e.off(argB) : e.off(scratch);
  }

  private long strideB(Kernel.Gemm g) {
    return argB >= 0 ? prepackedPerProduct(g, current, false) : scratchPerProduct(g);
  }

  private long strideA(Kernel.Gemm g) {
    return argA >= 0 ? prepackedPerProduct(g, current, true) : scratchPerProduct(g);
  }

  /** Floats of scratch per product of the batch. */
  private static long scratchPerProduct(Kernel.Gemm g) {
    return scratchFloats(g.m(), g.n(), g.k());
  }

  private LLVMValueRef aAt(Kernel.Gemm g, LLVMValueRef i, LLVMValueRef k) {
    // A(i,k) = transA ? a[k·M + i] : a[i·K + k]
    LLVMValueRef off = g.transA()
        ? LLVMBuildAdd(b, LLVMBuildMul(b, k, e.c64(g.m()), ""), i, "")
        : LLVMBuildAdd(b, LLVMBuildMul(b, i, e.c64(g.k()), ""), k, "");
    return LLVMBuildAdd(b, off, perProduct(at(g.a(), g.aBase()), (long) g.m() * g.k()), "");
  }

  private LLVMValueRef bAt(Kernel.Gemm g, LLVMValueRef k, LLVMValueRef j) {
    // B(k,j) = transB ? b[j·K + k] : b[k·N + j]
    LLVMValueRef off = g.transB()
        ? LLVMBuildAdd(b, LLVMBuildMul(b, j, e.c64(g.k()), ""), k, "")
        : LLVMBuildAdd(b, LLVMBuildMul(b, k, e.c64(g.n()), ""), j, "");
    return LLVMBuildAdd(b, off, perProduct(at(g.b(), g.bBase()), (long) g.k() * g.n()), "");
  }

  private LLVMValueRef min(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, y, ""), x, y, "");
  }


  /**
   * Packing items split K into this many parts when a GEMM has few panels (or slivers) and a long
   * K, so that both threads pack: a convolution's weight gradient at small channel counts packs
   * one 32-column panel of K = 50,176 rows (LeNet's first layer at batch 64).
   */
  static int kParts(int units, int k) {
    return Math.max(1, Math.min((16 + units - 1) / units, k / 512));
  }

  /** Rows of K per packing part: a multiple of 8 (the register transposes' step). */
  private static long kPerPart(int k, int parts) {
    return ((long) k + parts - 1) / parts + 7L & ~7L;
  }

  /**
   * The packing loop of {@code units} panels (or slivers) per product, each in {@code parts} K
   * ranges: {@code body(unit, k0, k1)} packs rows {@code [k0, k1)} of one unit.
   */
  private void packItems(Kernel.Gemm g, int units, int parts, PackBody body) {
    LLVMValueRef item = e.slot(e.i64, "pitem");
    long per = kPerPart(g.k(), parts);
    items(g, item, (long) units * parts, () -> {
      LLVMValueRef it = e.load64(item);
      LLVMValueRef unit = LLVMBuildSDiv(b, it, e.c64(parts), "");
      LLVMValueRef k0 = LLVMBuildMul(b, LLVMBuildSRem(b, it, e.c64(parts), ""), e.c64(per), "");
      LLVMValueRef k1 = min(e.c64(g.k()), LLVMBuildAdd(b, k0, e.c64(per), ""));
      body.pack(unit, k0, k1);
    });
  }

  private interface PackBody {
    void pack(LLVMValueRef unit, LLVMValueRef k0, LLVMValueRef k1);
  }

  private void emitPackB(Kernel.Gemm g) {
    e.beginFunction(g.name() + PACK_B, args());
    wide();
    LLVMValueRef k = e.slot(e.i64, "k");
    LLVMValueRef jj = e.slot(e.i64, "jj");
    LLVMValueRef ws = wsB();
    int panels = (g.n() + nr - 1) / nr;
    packItems(g, panels, kParts(panels, g.k()), (jp, k0, k1) -> {
      // Columns of this panel that exist; the rest of the panel is zero.
      LLVMValueRef valid = min(e.c64(nr), LLVMBuildSub(b, e.c64(g.n()), LLVMBuildMul(b, jp, e.c64(nr), ""), ""));
      // B stored transposed ([N,K]): whole panels move 8×8 blocks through registers (8 row loads,
      // a transpose, 8 stores).
      java.util.function.Consumer<LLVMValueRef> blocks = g.transB() && w >= 8 && g.k() >= 8 ? kv -> {
        for (int h = 0; h < nr / 8; h++) {
          transposeBlock(g, jp, kv, h, ws);
        }
      } : null;
      // Read B along its rows: j innermost when B is [K,N], k innermost when it is stored [N,K].
      packUnit(valid, nr, k, jj, k0, k1, !g.transB(), blocks,
          () -> packCopy(g, jp, e.load64(k), e.load64(jj), nr, (j, kv) -> bAt(g, kv, j), ws, strideB(g)),
          () -> packZero(g, jp, e.load64(k), e.load64(jj), nr, ws, strideB(g)));
    });
    e.endFunction();
  }

  /**
   * Packs rows {@code [k0, k1)} of one panel (or sliver) of {@code width} lanes, {@code valid} of
   * which lie in the matrix: {@code copy} for those, {@code zero} for the rest. {@code laneInner}:
   * lanes innermost (the source runs along them), else K innermost. {@code blocks} (or null)
   * packs 8 rows of K of a whole unit at a time; the remainder goes element by element. Whole
   * units keep constant trip counts: with the bounds at run time LLVM's vectorised copy ran 3×
   * slower (ResNet-18 b32 predict 158 → 175 ms).
   */
  private void packUnit(LLVMValueRef valid, int width, LLVMValueRef k, LLVMValueRef lane, LLVMValueRef k0,
      LLVMValueRef k1, boolean laneInner, java.util.function.Consumer<LLVMValueRef> blocks, Runnable copy,
      Runnable zero) {
    Runnable whole = () -> {
      LLVMValueRef from = k0;
      if (blocks != null) {
        // k1 - k0 is a multiple of 8 but in the last part.
        from = LLVMBuildAdd(b, k0, LLVMBuildAnd(b, LLVMBuildSub(b, k1, k0, ""), e.c64(~7L), ""), "");
        e.loop(k, k0, from, 8, () -> blocks.accept(e.load64(k)));
      }
      LLVMValueRef rest = from;
      if (laneInner) {
        e.loop(k, rest, k1, 1, () -> e.loop(lane, e.c64(0), e.c64(width), 1, copy));
      } else {
        e.loop(lane, e.c64(0), e.c64(width), 1, () -> e.loop(k, rest, k1, 1, copy));
      }
    };
    Runnable edge = laneInner
        ? () -> e.loop(k, k0, k1, 1, () -> {
          e.loop(lane, e.c64(0), valid, 1, copy);
          e.loop(lane, valid, e.c64(width), 1, zero);
        })
        : () -> {
          e.loop(lane, e.c64(0), valid, 1, () -> e.loop(k, k0, k1, 1, copy));
          e.loop(lane, valid, e.c64(width), 1, () -> e.loop(k, k0, k1, 1, zero));
        };
    e.ifElse(LLVMBuildICmp(b, LLVMIntEQ, valid, e.c64(width), ""), whole, edge);
  }


  /** {@code dst[(p·K + k)·width + lane]}, the packed operand's element, as an arena index. */
  private LLVMValueRef packedAt(Kernel.Gemm g, LLVMValueRef p, LLVMValueRef k, LLVMValueRef lane, int width,
      LLVMValueRef dstBase, long dstStride) {
    LLVMValueRef dst = LLVMBuildAdd(b, LLVMBuildMul(b,
        LLVMBuildAdd(b, LLVMBuildMul(b, p, e.c64(g.k()), ""), k, ""), e.c64(width), ""), lane, "");
    return LLVMBuildAdd(b, dst, perProduct(dstBase, dstStride), "");
  }

  /** One element of a packed operand: {@code dst[(p·K + k)·width + lane] = src(p·width + lane, k)}, in range. */
  private void packCopy(Kernel.Gemm g, LLVMValueRef p, LLVMValueRef k, LLVMValueRef lane, int width,
      java.util.function.BinaryOperator<LLVMValueRef> src, LLVMValueRef dstBase, long dstStride) {
    LLVMValueRef idx = LLVMBuildAdd(b, LLVMBuildMul(b, p, e.c64(width), ""), lane, "");
    LLVMValueRef v = LLVMBuildLoad2(b, e.f32, e.at(src.apply(idx, k)), "");
    LLVMBuildStore(b, v, e.at(packedAt(g, p, k, lane, width, dstBase, dstStride)));
  }

  /** A padding element of a packed operand (past the matrix's edge): zero. */
  private void packZero(Kernel.Gemm g, LLVMValueRef p, LLVMValueRef k, LLVMValueRef lane, int width,
      LLVMValueRef dstBase, long dstStride) {
    LLVMBuildStore(b, e.cf(0), e.at(packedAt(g, p, k, lane, width, dstBase, dstStride)));
  }

  private LLVMValueRef mask(int... idx) {
    LLVMValueRef[] m = new LLVMValueRef[idx.length];
    for (int i = 0; i < idx.length; i++) {
      m[i] = e.c32(idx[i]);
    }
    return LLVMConstVector(pp(m), m.length);
  }

  private LLVMValueRef shuffle(LLVMValueRef x, LLVMValueRef y, int... idx) {
    return LLVMBuildShuffleVector(b, x, y, mask(idx), "");
  }

  /**
   * Rows {@code jp·NR + h·8 … +8} of the stored [N,K] matrix, columns {@code k … k+8}, become
   * packed rows k…k+8, lanes h·8…h·8+8 of panel jp: an 8×8 transpose in three shuffle stages
   * (pairs of lanes, pairs of pairs, halves).
   */
  private void transposeBlock(Kernel.Gemm g, LLVMValueRef jp, LLVMValueRef k, int h, LLVMValueRef ws) {
    LLVMValueRef row0 = LLVMBuildAdd(b, LLVMBuildMul(b, jp, e.c64(nr), ""), e.c64((long) h * 8), "");
    LLVMValueRef[] v = new LLVMValueRef[8];
    for (int i = 0; i < 8; i++) {
      LLVMValueRef j = LLVMBuildAdd(b, row0, e.c64(i), "");
      v[i] = loadVec(vec8, e.at(bAt(g, k, j)));
    }
    LLVMValueRef[] cols = transpose8(v);
    for (int c = 0; c < 8; c++) {
      storeVec(cols[c], e.at(packedB(g, jp, LLVMBuildAdd(b, k, e.c64(c), ""), h * 8, ws)));
    }
  }

  /**
   * The 8×8 transpose of eight 8-float rows in three shuffle stages (pairs of lanes, pairs of
   * pairs, halves): element c of row r becomes element r of column c.
   */
  private LLVMValueRef[] transpose8(LLVMValueRef[] v) {
    LLVMValueRef[] t = new LLVMValueRef[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = shuffle(v[i], v[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
      t[i + 1] = shuffle(v[i], v[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    LLVMValueRef[] u = new LLVMValueRef[8];
    for (int q = 0; q < 8; q += 4) {
      u[q] = shuffle(t[q], t[q + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      u[q + 1] = shuffle(t[q], t[q + 2], 2, 3, 10, 11, 6, 7, 14, 15);
      u[q + 2] = shuffle(t[q + 1], t[q + 3], 0, 1, 8, 9, 4, 5, 12, 13);
      u[q + 3] = shuffle(t[q + 1], t[q + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    LLVMValueRef[] cols = new LLVMValueRef[8];
    for (int c = 0; c < 4; c++) {
      cols[c] = shuffle(u[c], u[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
      cols[c + 4] = shuffle(u[c], u[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
    return cols;
  }

  /** Arena index of packed B row k, lanes {@code lane…}, of panel jp: ws + (jp·K + k)·NR + lane. */
  private LLVMValueRef packedB(Kernel.Gemm g, LLVMValueRef jp, LLVMValueRef k, int lane, LLVMValueRef ws) {
    LLVMValueRef lanes = lane == 0 ? ws : LLVMBuildAdd(b, ws, e.c64(lane), "");
    return LLVMBuildAdd(b, perProduct(lanes, strideB(g)), LLVMBuildMul(b,
        LLVMBuildAdd(b, LLVMBuildMul(b, jp, e.c64(g.k()), ""), k, ""), e.c64(nr), ""), "");
  }

  /** Where packed A starts (product 0): its prepacked copy, or the scratch after packed B. */
  private LLVMValueRef wsA(Kernel.Gemm g) {
    return argA >= 0 ? e.off(argA) : at(scratch, packedBFloats(g.n(), g.k()));
  }

  /**
   * A stored transposed ({@code [K,M]}, a weight gradient's {@code dyᵀ}) is packed this many
   * slivers at a time (all of them, for M up to 768), K outermost, each item a range of
   * {@value #TRANSPOSED_ROWS} or more rows of K: each row of A is read whole and in order, and its
   * slivers' stretches written where they go. One sliver at a time over all of K read every row of
   * a {@code [3840, 512]} matrix three times at a 2 KB stride, which maps onto a few cache sets
   * and misses every time (1.9–2.1 ms to pack 7.8 MB, an LSTM's {@code dGᵀ}); 16 slivers at a
   * time 1.2–1.7 ms on the 2-core Zen 4, whole rows 0.9–1.0.
   */
  static final int TRANSPOSED_GROUP = 128;
  static final int TRANSPOSED_ROWS = 128;

  /** The K ranges each unit of A's packing is split into: enough items for the threads. */
  private int packAParts(Kernel.Gemm g) {
    int units = packAUnits(g);
    return g.transA() ? Math.max(1, Math.min((16 + units - 1) / units, g.k() / TRANSPOSED_ROWS))
        : kParts(units, g.k());
  }

  /** The units of A's packing: slivers, or groups of {@link #TRANSPOSED_GROUP} of them when A is stored transposed. */
  private int packAUnits(Kernel.Gemm g) {
    int tiles = (g.m() + MR - 1) / MR;
    return g.transA() ? (tiles + TRANSPOSED_GROUP - 1) / TRANSPOSED_GROUP : tiles;
  }

  /** Packs A once per call into MR-row slivers over all of K: wsA[(tile·K + k)·MR + r] = A(tile·MR + r, k). */
  private void emitPackA(Kernel.Gemm g) {
    e.beginFunction(g.name() + PACK_A, args());
    wide();
    LLVMValueRef k = e.slot(e.i64, "k");
    LLVMValueRef r = e.slot(e.i64, "r");
    LLVMValueRef base = wsA(g);
    int tiles = (g.m() + MR - 1) / MR;
    if (g.transA()) {
      packTransposedA(g, tiles, k, r, base);
      e.endFunction();
      return;
    }
    packItems(g, tiles, kParts(tiles, g.k()), (t, k0, k1) -> {
      // Rows of this sliver that exist; the rest of the sliver is zero.
      LLVMValueRef valid = min(e.c64(MR), LLVMBuildSub(b, e.c64(g.m()), LLVMBuildMul(b, t, e.c64(MR), ""), ""));
      // A stored [M,K]: whole slivers move 8 columns of their rows at a time through an 8×8
      // register transpose (MR row loads, MR·8 contiguous floats stored, instead of MR·8 strided
      // scalar stores).
      java.util.function.Consumer<LLVMValueRef> blocks = !g.transA() && MR <= 8 && g.k() >= 8
          ? kv -> sliverBlock(g, t, kv, base) : null;
      // Read A along its rows: k innermost when A is [M,K], rows innermost when it is stored [K,M].
      packUnit(valid, MR, k, r, k0, k1, g.transA(), blocks,
          () -> packCopy(g, t, e.load64(k), e.load64(r), MR, (i, kv) -> aAt(g, i, kv), base, strideA(g)),
          () -> packZero(g, t, e.load64(k), e.load64(r), MR, base, strideA(g)));
    });
    e.endFunction();
  }


  /**
   * A stored [K,M] into slivers, a group of {@link #TRANSPOSED_GROUP} slivers over a range of K
   * per item, K outermost: row k of a whole sliver is MR contiguous floats of A's row k, moved as
   * one vector; the last sliver, when M is not a multiple of MR, is copied element by element and
   * padded with zeros.
   */
  private void packTransposedA(Kernel.Gemm g, int tiles, LLVMValueRef k, LLVMValueRef r, LLVMValueRef base) {
    int whole = g.m() / MR;
    LLVMValueRef t = e.slot(e.i64, "t");
    LLVMTypeRef sliver = LLVMVectorType(e.f32, MR);
    packItems(g, packAUnits(g), packAParts(g), (group, k0, k1) -> {
      LLVMValueRef t0 = LLVMBuildMul(b, group, e.c64(TRANSPOSED_GROUP), "");
      LLVMValueRef t1 = min(e.c64(tiles), LLVMBuildAdd(b, t0, e.c64(TRANSPOSED_GROUP), ""));
      LLVMValueRef wholeEnd = min(e.c64(whole), t1);
      e.loop(k, k0, k1, 1, () -> {
        LLVMValueRef kv = e.load64(k);
        e.loop(t, t0, wholeEnd, 1, () -> {
          LLVMValueRef tv = e.load64(t);
          LLVMValueRef v = loadVec(sliver, e.at(aAt(g, LLVMBuildMul(b, tv, e.c64(MR), ""), kv)));
          storeVec(v, e.at(packedAt(g, tv, kv, e.c64(0), MR, base, strideA(g))));
        });
        if (whole < tiles) {
          // The short last sliver, in the group that holds it.
          e.ifElse(LLVMBuildICmp(b, LLVMIntSGT, t1, e.c64(whole), ""), () -> {
            LLVMValueRef last = e.c64(whole);
            e.loop(r, e.c64(0), e.c64(g.m() - (long) whole * MR), 1,
                () -> packCopy(g, last, kv, e.load64(r), MR, (i, kk) -> aAt(g, i, kk), base, strideA(g)));
            e.loop(r, e.c64(g.m() - (long) whole * MR), e.c64(MR), 1,
                () -> packZero(g, last, kv, e.load64(r), MR, base, strideA(g)));
          }, () -> { });
        }
      });
    });
  }

  /**
   * Columns {@code k … k+8} of rows {@code tile·MR …} of A (stored [M,K]) into the packed sliver:
   * packed row k+c holds column k+c of the MR rows. The transposed columns are stored whole (8
   * lanes, the MR wanted ones first) in order, each overwriting the spare lanes of the one before;
   * a column whose 8 lanes would reach past the block (the last; with few rows, more) is stored
   * as exactly MR lanes, so nothing is written outside it.
   */
  private void sliverBlock(Kernel.Gemm g, LLVMValueRef tile, LLVMValueRef k, LLVMValueRef base) {
    LLVMValueRef[] v = new LLVMValueRef[8];
    for (int r = 0; r < 8; r++) {
      v[r] = r < MR ? loadVec(vec8, e.at(aAt(g, LLVMBuildAdd(b, LLVMBuildMul(b, tile, e.c64(MR), ""), e.c64(r), ""), k)))
          : LLVMConstNull(vec8);
    }
    LLVMValueRef[] cols = transpose8(v);
    LLVMValueRef dst0 = LLVMBuildAdd(b, perProduct(base, strideA(g)), LLVMBuildMul(b,
        LLVMBuildAdd(b, LLVMBuildMul(b, tile, e.c64(g.k()), ""), k, ""), e.c64(MR), ""), "");
    for (int c = 0; c < 8; c++) {
      LLVMValueRef p = e.at(LLVMBuildAdd(b, dst0, e.c64((long) c * MR), ""));
      if (c * MR + 8 <= 8 * MR) {
        storeVec(cols[c], p);
      } else {
        int[] lanes = new int[MR];
        for (int i = 0; i < MR; i++) {
          lanes[i] = i;
        }
        LLVMValueRef s = LLVMBuildStore(b, shuffle(cols[c], LLVMGetPoison(vec8), lanes), p);
        LLVMSetAlignment(s, 4);
      }
    }
  }

  /** Where partial result {@code q} (1 … parts-1) of a split K lies: in the scratch after the packed operands. */
  private LLVMValueRef partial(Kernel.Gemm g, LLVMValueRef q) {
    LLVMValueRef first = at(scratch, scratchFloats(g.m(), g.n(), g.k()) - (long) g.m() * g.n());
    return LLVMBuildAdd(b, first, LLVMBuildMul(b, q, e.c64((long) g.m() * g.n()), ""), "");
  }

  /** C[i,j] = epilogue(C[i,j] + Σ partial_q[i,j]) for the rows i of the items. */
  private void emitReduce(Kernel.Gemm g, int parts) {
    e.beginFunction(g.name() + REDUCE, args());
    LLVMValueRef i = e.slot(e.i64, "i");
    LLVMValueRef j = e.slot(e.i64, "j");
    LLVMValueRef cOff = e.off(g.c());
    e.loop(i, LLVMGetParam(e.fn, 1), LLVMGetParam(e.fn, 2), 1, () -> e.loop(j, e.c64(0), e.c64(g.n()), 1, () -> {
      LLVMValueRef ij = LLVMBuildAdd(b, LLVMBuildMul(b, e.load64(i), e.c64(g.n()), ""), e.load64(j), "");
      LLVMValueRef p = e.at(LLVMBuildAdd(b, cOff, ij, ""));
      LLVMValueRef acc = LLVMBuildLoad2(b, e.f32, p, "");
      for (int q = 1; q < parts; q++) {
        LLVMValueRef pq = e.at(LLVMBuildAdd(b, partial(g, e.c64(q)), ij, ""));
        acc = LLVMBuildFAdd(b, acc, LLVMBuildLoad2(b, e.f32, pq, ""), "");
      }
      LLVMBuildStore(b, g.epilogue() == null ? acc : e.exprWith(g.epilogue(), new LLVMValueRef[] {i, j}, acc), p);
    }));
    e.endFunction();
  }

  /** A work item's values in the compute function: its K range, operands, C (or partial), rows and columns. */
  private record Item(LLVMValueRef kStart, LLVMValueRef kEnd, LLVMValueRef wsB, LLVMValueRef wsA, LLVMValueRef c,
      LLVMValueRef i0, LLVMValueRef mc, LLVMValueRef jStart, LLVMValueRef jEnd) { }

  /**
   * Whether a compute function runs K's slices outermost, each over all of the call's items, instead
   * of each item over all of K: for one product with K longer than one slice and not split
   * ({@code -Dnnc.gemm.slicesOuter=false}: never, for comparisons).
   */
  static boolean slicesOutermost(Kernel.Gemm g, int parts, int kc) {
    return !"false".equals(System.getProperty("nnc.gemm.slicesOuter")) && g.batch() == 1 && parts == 1 && g.k() > kc;
  }

  private void emitCompute(Kernel.Gemm g, Split s, int parts) {
    e.beginFunction(g.name(), args());
    wide();
    LLVMValueRef item = e.slot(e.i64, "item");
    LLVMValueRef k0 = e.slot(e.i64, "k0");
    LLVMValueRef ir = e.slot(e.i64, "ir");
    LLVMValueRef j0 = e.slot(e.i64, "j0");
    LLVMValueRef ei = e.slot(e.i64, "ei");
    LLVMValueRef ej = e.slot(e.i64, "ej");
    LLVMValueRef rr = e.slot(e.i64, "rr");
    LLVMValueRef cc = e.slot(e.i64, "cc");
    LLVMValueRef tileArr = e.slot(LLVMArrayType2(e.f32, (long) MR * nr), "tile");
    LLVMSetAlignment(tileArr, 64);
    LLVMValueRef cOff = e.off(g.c());
    LLVMValueRef ws = wsB();
    LLVMValueRef aBase = wsA(g);

    // A split K's part q covers K rows [q·perPart, (q+1)·perPart) and writes C (q = 0) or its partial.
    long perPart = ((long) g.k() + parts - 1) / parts;
    java.util.function.Function<LLVMValueRef, Item> decode = whole -> {
      LLVMValueRef q = LLVMBuildSDiv(b, whole, e.c64(s.items()), "");
      LLVMValueRef it = LLVMBuildSRem(b, whole, e.c64(s.items()), "");
      LLVMValueRef kStart = LLVMBuildMul(b, q, e.c64(perPart), "");
      LLVMValueRef kEnd = min(e.c64(g.k()), LLVMBuildAdd(b, kStart, e.c64(perPart), ""));
      LLVMValueRef cq = parts == 1 ? perProduct(cOff, (long) g.m() * g.n())
          : LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, q, e.c64(0), ""), cOff,
              partial(g, q), "");
      LLVMValueRef rb = LLVMBuildSDiv(b, it, e.c64(s.chunks()), "");
      LLVMValueRef cb = LLVMBuildSRem(b, it, e.c64(s.chunks()), "");
      LLVMValueRef i0 = LLVMBuildMul(b, rb, e.c64(MC), "");
      LLVMValueRef mc = min(e.c64(MC), LLVMBuildSub(b, e.c64(g.m()), i0, ""));
      LLVMValueRef jStart = LLVMBuildMul(b, cb, e.c64(s.chunkCols()), "");
      LLVMValueRef jEnd = min(e.c64(g.n()), LLVMBuildAdd(b, jStart, e.c64(s.chunkCols()), ""));
      return new Item(kStart, kEnd, perProduct(ws, strideB(g)), perProduct(aBase, strideA(g)), cq, i0, mc, jStart,
          jEnd);
    };
    // One KC-slice of an item: its panels, each over its MR-row tiles.
    java.util.function.BiConsumer<Item, LLVMValueRef> slice = (m, k0v) -> {
      LLVMValueRef kc = min(e.c64(KC), LLVMBuildSub(b, m.kEnd(), k0v, ""));
      LLVMValueRef tiles = LLVMBuildSDiv(b, LLVMBuildAdd(b, m.mc(), e.c64(MR - 1), ""), e.c64(MR), "");
      e.loop(j0, m.jStart(), m.jEnd(), nr, () -> {
        LLVMValueRef j0v = e.load64(j0);
        // B sliver: ws + ((j0/NR)·K + k0)·NR, or B itself at row k0, column j0.
        LLVMValueRef bPtr = inPlaceB ? e.at(bAt(g, k0v, j0v)) : e.at(LLVMBuildAdd(b, m.wsB(), LLVMBuildMul(b,
            LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildSDiv(b, j0v, e.c64(nr), ""), e.c64(g.k()), ""), k0v, ""),
            e.c64(nr), ""), ""));
        long bStride = inPlaceB ? g.n() : nr;
        java.util.function.Consumer<boolean[]> tilesOf = bLanes -> e.loop(ir, e.c64(0), tiles, 1, () -> {
          LLVMValueRef irv = e.load64(ir);
          LLVMValueRef iTile = LLVMBuildAdd(b, m.i0(), LLVMBuildMul(b, irv, e.c64(MR), ""), "");
          LLVMValueRef[] aRows = new LLVMValueRef[MR];
          long aStride;
          if (inPlaceA) {
            // Row iTile + r of A (the last row past the edge) at column k0.
            aStride = g.transA() ? g.m() : 1;
            for (int r = 0; r < MR; r++) {
              LLVMValueRef row = min(LLVMBuildAdd(b, iTile, e.c64(r), ""), e.c64(g.m() - 1L));
              aRows[r] = e.at(aAt(g, row, k0v));
            }
          } else {
            // A sliver of tile (i0/MR + ir) at k0: wsA + ((i0/MR + ir)·K + k0)·MR
            aStride = MR;
            LLVMValueRef tile = LLVMBuildAdd(b, LLVMBuildSDiv(b, m.i0(), e.c64(MR), ""), irv, "");
            LLVMValueRef aPtr = e.at(LLVMBuildAdd(b, m.wsA(), LLVMBuildMul(b,
                LLVMBuildAdd(b, LLVMBuildMul(b, tile, e.c64(g.k()), ""), k0v, ""), e.c64(MR), ""), ""));
            for (int r = 0; r < MR; r++) {
              aRows[r] = r == 0 ? aPtr : e.gep(e.f32, aPtr, e.c64(r));
            }
          }
          LLVMValueRef[] accs = micro(aRows, aStride, bPtr, bStride, bLanes, kc);
          LLVMValueRef first = LLVMBuildICmp(b, LLVMIntEQ, k0v, m.kStart(), "");
          LLVMValueRef full = LLVMBuildAnd(b,
              LLVMBuildICmp(b, LLVMIntSLE, LLVMBuildAdd(b, iTile, e.c64(MR), ""), e.c64(g.m()), ""),
              LLVMBuildICmp(b, LLVMIntSLE, LLVMBuildAdd(b, j0v, e.c64(nr), ""), e.c64(g.n()), ""), "");
          e.ifElse(full,
              () -> storeFull(accs, m.c(), g.n(), iTile, j0v, first),
              () -> storeEdge(accs, tileArr, m.c(), g, iTile, j0v, first, rr, cc));
        });
        int edge = g.n() % nr;
        if (inPlaceB && edge != 0) {
          // B's last panel: only its first `edge` lanes exist, and are read.
          boolean[] lanes = new boolean[nr];
          java.util.Arrays.fill(lanes, 0, edge, true);
          e.ifElse(LLVMBuildICmp(b, LLVMIntSLE, LLVMBuildAdd(b, j0v, e.c64(nr), ""), e.c64(g.n()), ""),
              () -> tilesOf.accept(null), () -> tilesOf.accept(lanes));
        } else {
          tilesOf.accept(null);
        }
      });
    };
    // C[i,j] = epilogue(C[i,j]) over an item's block once its K is done.
    java.util.function.Consumer<Item> epilogue = g.epilogue() == null || parts != 1 ? m -> { } : m -> {
      LLVMValueRef iEnd = LLVMBuildAdd(b, m.i0(), m.mc(), "");
      e.loop(ei, m.i0(), iEnd, 1, () -> e.loop(ej, m.jStart(), m.jEnd(), 1, () -> {
        LLVMValueRef idx = LLVMBuildAdd(b, cOff, LLVMBuildAdd(b,
            LLVMBuildMul(b, e.load64(ei), e.c64(g.n()), ""), e.load64(ej), ""), "");
        LLVMValueRef p = e.at(idx);
        LLVMValueRef accv = LLVMBuildLoad2(b, e.f32, p, "");
        LLVMValueRef v = e.exprWith(g.epilogue(), new LLVMValueRef[] {ei, ej}, accv);
        LLVMBuildStore(b, v, p);
      }));
    };
    if (slicesOutermost(g, parts, KC)) {
      // Slice by slice over all of this call's items: each KC rows of packed B (KC × N) are read
      // by the items of every row block while they are in L2, instead of every item streaming all
      // of K of its columns of B from L3 once per row block.
      LLVMValueRef lo = LLVMGetParam(e.fn, 1);
      LLVMValueRef hi = LLVMGetParam(e.fn, 2);
      e.loop(k0, e.c64(0), e.c64(g.k()), KC, () -> {
        LLVMValueRef k0v = e.load64(k0);
        e.loop(item, lo, hi, 1, () -> slice.accept(decode.apply(e.load64(item)), k0v));
      });
      e.loop(item, lo, hi, 1, () -> epilogue.accept(decode.apply(e.load64(item))));
    } else {
      items(g, item, (long) s.items() * parts, () -> {
        Item m = decode.apply(e.load64(item));
        e.loop(k0, m.kStart(), m.kEnd(), KC, () -> slice.accept(m, e.load64(k0)));
        epilogue.accept(m);
      });
    }
    e.endFunction();
  }

  private LLVMValueRef splat(LLVMValueRef x) {
    LLVMValueRef v = LLVMBuildInsertElement(b, LLVMGetPoison(vec), x, e.c32(0), "");
    return LLVMBuildShuffleVector(b, v, LLVMGetPoison(vec), LLVMConstNull(LLVMVectorType(e.i32, w)), "");
  }

  private LLVMValueRef loadVec(LLVMValueRef p) {
    return loadVec(vec, p);
  }

  private LLVMValueRef loadVec(LLVMTypeRef type, LLVMValueRef p) {
    LLVMValueRef v = LLVMBuildLoad2(b, type, p, "");
    LLVMSetAlignment(v, 4);
    return v;
  }

  private void storeVec(LLVMValueRef v, LLVMValueRef p) {
    LLVMValueRef s = LLVMBuildStore(b, v, p);
    LLVMSetAlignment(s, 4);
  }

  /**
   * The register-blocked kernel: acc[r][h] += A(r, k) · B(k, h·W .. +W) for k < kc, with the
   * MR·NV accumulators carried in phi nodes (registers) through the k loop. A(r, k) is at
   * {@code aRows[r] + k·aStride} (a packed sliver: {@code aPtr + r + k·MR}), B's row k at
   * {@code bPtr + k·bStride}. {@code bLanes} (or null: all) are the lanes of B that exist: a
   * vector with some is a masked load, one with none is zero and its products are left out.
   */
  private LLVMValueRef[] micro(LLVMValueRef[] aRows, long aStride, LLVMValueRef bPtr, long bStride, boolean[] bLanes,
      LLVMValueRef kc) {
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(b);
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(e.ctx, e.fn, "micro");
    LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(e.ctx, e.fn, "micro_end");
    LLVMBuildBr(b, body);
    LLVMPositionBuilderAtEnd(b, body);
    LLVMValueRef kPhi = LLVMBuildPhi(b, e.i64, "k");
    int n = MR * NV;
    LLVMValueRef[] phis = new LLVMValueRef[n];
    for (int q = 0; q < n; q++) {
      phis[q] = LLVMBuildPhi(b, vec, "acc");
    }
    LLVMValueRef bRow = e.gep(e.f32, bPtr, LLVMBuildMul(b, kPhi, e.c64(bStride), ""));
    LLVMValueRef[] bv = new LLVMValueRef[NV];
    for (int h = 0; h < NV; h++) {
      LLVMValueRef p = h == 0 ? bRow : e.gep(e.f32, bRow, e.c64((long) h * w));
      int count = 0;
      LLVMValueRef[] m = new LLVMValueRef[w];
      for (int l = 0; l < w; l++) {
        boolean on = bLanes == null || bLanes[h * w + l];
        count += on ? 1 : 0;
        m[l] = LLVMConstInt(LLVMInt1TypeInContext(e.ctx), on ? 1 : 0, 0);
      }
      bv[h] = count == w ? loadVec(p) : count == 0 ? null
          : maskedLoad(p, LLVMConstVector(pp(m), w));
    }
    LLVMValueRef aOff = LLVMBuildMul(b, kPhi, e.c64(aStride), "");
    LLVMValueRef[] next = new LLVMValueRef[n];
    for (int r = 0; r < MR; r++) {
      LLVMValueRef a = splat(LLVMBuildLoad2(b, e.f32, e.gep(e.f32, aRows[r], aOff), ""));
      for (int h = 0; h < NV; h++) {
        next[NV * r + h] = bv[h] == null ? phis[NV * r + h] : e.call("llvm.fma", vec, a, bv[h], phis[NV * r + h]);
      }
    }
    LLVMValueRef kNext = LLVMBuildAdd(b, kPhi, e.c64(1), "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, kNext, kc, ""), body, after);
    LLVMAddIncoming(kPhi, pp(e.c64(0), kNext), pp(pre, body), 2);
    LLVMValueRef zero = LLVMConstNull(vec);
    for (int q = 0; q < n; q++) {
      LLVMAddIncoming(phis[q], pp(zero, next[q]), pp(pre, body), 2);
    }
    LLVMPositionBuilderAtEnd(b, after);
    return next;
  }

  /** {@code llvm.masked.load} of a vector at {@code p}: the lanes of {@code mask}, zero elsewhere. */
  private LLVMValueRef maskedLoad(LLVMValueRef p, LLVMValueRef mask) {
    String name = "llvm.masked.load";
    int id = LLVMLookupIntrinsicID(name, name.length());
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(e.mod, id, pp(vec, e.ptr), 2);
    LLVMTypeRef ft = LLVMIntrinsicGetType(e.ctx, id, pp(vec, e.ptr), 2);
    return LLVMBuildCall2(b, ft, f, pp(p, e.c32(4), mask, LLVMConstNull(vec)), 4, "");
  }

  private void storeFull(LLVMValueRef[] accs, LLVMValueRef cOff, int n, LLVMValueRef iTile, LLVMValueRef j0, LLVMValueRef first) {
    LLVMValueRef[] ptrs = new LLVMValueRef[accs.length];
    for (int r = 0; r < MR; r++) {
      LLVMValueRef row = LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildAdd(b, iTile, e.c64(r), ""), e.c64(n), ""), j0, "");
      LLVMValueRef p = e.at(LLVMBuildAdd(b, row, cOff, ""));
      for (int h = 0; h < NV; h++) {
        ptrs[NV * r + h] = h == 0 ? p : e.gep(e.f32, p, e.c64((long) h * w));
      }
    }
    e.ifElse(first, () -> {
      for (int q = 0; q < accs.length; q++) {
        storeVec(accs[q], ptrs[q]);
      }
    }, () -> {
      for (int q = 0; q < accs.length; q++) {
        storeVec(LLVMBuildFAdd(b, loadVec(ptrs[q]), accs[q], ""), ptrs[q]);
      }
    });
  }

  private void storeEdge(LLVMValueRef[] accs, LLVMValueRef tile, LLVMValueRef cOff, Kernel.Gemm g, LLVMValueRef iTile,
      LLVMValueRef j0, LLVMValueRef first, LLVMValueRef rr, LLVMValueRef cc) {
    for (int q = 0; q < accs.length; q++) {
      storeVec(accs[q], e.gep(e.f32, tile, e.c64((long) q * w)));
    }
    LLVMValueRef rows = min(e.c64(MR), LLVMBuildSub(b, e.c64(g.m()), iTile, ""));
    LLVMValueRef cols = min(e.c64(nr), LLVMBuildSub(b, e.c64(g.n()), j0, ""));
    e.loop(rr, e.c64(0), rows, 1, () -> e.loop(cc, e.c64(0), cols, 1, () -> {
      LLVMValueRef rv = e.load64(rr);
      LLVMValueRef cv = e.load64(cc);
      LLVMValueRef t = LLVMBuildLoad2(b, e.f32, e.gep(e.f32, tile,
          LLVMBuildAdd(b, LLVMBuildMul(b, rv, e.c64(nr), ""), cv, "")), "");
      LLVMValueRef idx = LLVMBuildAdd(b, cOff, LLVMBuildAdd(b, LLVMBuildMul(b,
          LLVMBuildAdd(b, iTile, rv, ""), e.c64(g.n()), ""), LLVMBuildAdd(b, j0, cv, ""), ""), "");
      LLVMValueRef p = e.at(idx);
      LLVMValueRef old = LLVMBuildLoad2(b, e.f32, p, "");
      LLVMBuildStore(b, LLVMBuildSelect(b, first, t, LLVMBuildFAdd(b, old, t, ""), ""), p);
    }));
  }
}
