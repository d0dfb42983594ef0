package dev.nnc.codegen.cpu;

import static dev.nnc.codegen.cpu.Llvm.pp;
import static org.bytedeco.llvm.global.LLVM.*;

import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.ops.Winograd;
import org.bytedeco.llvm.LLVM.LLVMTypeRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * Winograd image transforms ({@link Kernel.TileTransform}) vectorised across the tiles of a row:
 * one vector holds the same element of {@code lanes} neighbouring tiles, which the tile-major
 * layout stores contiguously, so every store is a whole vector.
 *
 * <p>{@code winograd_tiles}: per channel, image and row of tiles, the window's rows are loaded
 * as contiguous vectors (masked where they leave the image, which stands in for the zero
 * padding), combined along the rows first ({@code R_i = Σ_a L[i][a]·row_a}, contiguous), and then
 * along the columns: the {@code b}-th column of every tile's window is every {@code stride}-th
 * element of {@code R_i}, gathered from two neighbouring vectors by one two-source shuffle per
 * group of lanes. {@code winograd_untiles} whose windows tile the image exactly (Winograd's output
 * transform) runs the other way: the tiles' planes are loaded as vectors, combined, and each
 * output row is interleaved from the {@code p} column vectors by shuffles and stored as whole
 * vectors (masked at the image's right edge).
 *
 * <p>LLVM's vectoriser, given the nest, reads those stride-2 and stride-4 columns with gathers
 * or leaves the nest scalar, and splits rows of 14 interior tiles into vector and scalar parts;
 * on ResNet-18 CIFAR's 32×32 maps at batch 32 the F(2×2) input transform took 7.7 ms a call.
 * Transforms this emitter does not take (a row of fewer than three tiles, untiles whose windows
 * overlap or leave gaps, hosts without AVX) keep the nest.
 */
final class WinogradEmitter {
  /** {@code -Dnnc.winograd.vector=false} keeps every transform's nest (for comparisons). */
  static final boolean ENABLED = !"false".equals(System.getProperty("nnc.winograd.vector"));

  private final KernelEmitter e;
  private final int hostLanes;

  /** {@code hostLanes}: f32 lanes of the widest vectors to use (16 with AVX-512, 8 with AVX). */
  WinogradEmitter(KernelEmitter e, int hostLanes) {
    this.e = e;
    this.hostLanes = hostLanes;
  }

  /**
   * The vector width this emitter uses for {@code t} on a host with {@code hostLanes}, or 0 when
   * the nest should be emitted as written: the narrowest of 4, 8 and 16 lanes that covers a row of
   * tiles, within the host's.
   */
  static int lanes(Kernel.TileTransform t, int hostLanes) {
    Winograd op = t.op();
    if (!ENABLED || hostLanes < 8 || (!op.toTiles() && !exactTiling(op))) {
      return 0;
    }
    // One tile per image (a filter transform): vectors across images instead.
    long across = op.tiles() == 1 ? t.images() : op.tilesW();
    if (across < 3) {
      return 0;
    }
    int vl = 4;
    while (vl < across && vl < hostLanes) {
      vl *= 2;
    }
    return vl;
  }

  /** Whether {@code op} has one tile per image: its vectors run across images (gathers, scatters). */
  static boolean acrossImages(Winograd op) {
    return op.tiles() == 1;
  }

  /** Whether the output windows of {@code winograd_untiles} tile the image exactly once. */
  static boolean exactTiling(Winograd op) {
    return op.p() == op.stride() && op.padTop() == 0 && op.padLeft() == 0
        && (long) op.tilesH() * op.stride() >= op.height() && (long) op.tilesW() * op.stride() >= op.width();
  }

  /**
   * Emits {@code k} (a body over template buffers {@code 0 … buffers-1}, or a direct kernel, as
   * {@link KernelEmitter#emitLoops} would) when it describes a transform this emitter takes;
   * false, emitting nothing, otherwise.
   */
  boolean emit(Kernel.Loops k, int buffers) {
    Kernel.TileTransform t = k.transform();
    int vl = t == null ? 0 : lanes(t, hostLanes);
    if (vl == 0 || k.root().extent() != t.channels()) {
      return false;
    }
    e.beginFunction(k.name(), buffers);
    if (vl * 32 > 256) {
      e.vectorBits(vl * 32);
    }
    new Body(t, vl).emit();
    e.endFunction();
    return true;
  }

  /** The code of one transform at {@code vl} lanes. */
  private final class Body {
    final Kernel.TileTransform t;
    final Winograd op;
    final int vl;
    final LLVMTypeRef vec;
    final LLVMTypeRef mask;
    final long h;
    final long w;
    final long tilesTotal;
    final LLVMValueRef cSlot;
    final LLVMValueRef nSlot;
    final LLVMValueRef thSlot;
    final LLVMValueRef twSlot;

    Body(Kernel.TileTransform t, int vl) {
      this.t = t;
      this.op = t.op();
      this.vl = vl;
      this.vec = LLVMVectorType(e.f32, vl);
      this.mask = LLVMVectorType(e.i1, vl);
      this.h = op.height();
      this.w = op.width();
      this.tilesTotal = (long) t.images() * op.tiles();
      cSlot = e.slot(e.i64, "c");
      nSlot = e.slot(e.i64, "n");
      thSlot = e.slot(e.i64, "th");
      twSlot = e.slot(e.i64, "tw");
    }

    void emit() {
      if (acrossImages(op)) {
        LLVMBuildStore(e.b, e.c64(0), thSlot);
        LLVMBuildStore(e.b, e.c64(0), twSlot);
        e.loop(cSlot, LLVMGetParam(e.fn, 1), LLVMGetParam(e.fn, 2), 1,
            () -> e.loop(nSlot, e.c64(0), e.c64(t.images()), vl, op.toTiles() ? this::filterTiles : this::filterUntiles));
        return;
      }
      e.loop(cSlot, LLVMGetParam(e.fn, 1), LLVMGetParam(e.fn, 2), 1,
          () -> e.loop(nSlot, e.c64(0), e.c64(t.images()), 1,
              () -> e.loop(thSlot, e.c64(0), e.c64(op.tilesH()), 1,
                  () -> e.loop(twSlot, e.c64(0), e.c64(op.tilesW()), vl,
                      op.toTiles() ? this::toTiles : this::untiles))));
    }

    LLVMValueRef ld(LLVMValueRef slot) {
      return e.load64(slot);
    }

    LLVMValueRef add(LLVMValueRef x, LLVMValueRef y) {
      return LLVMBuildAdd(e.b, x, y, "");
    }

    LLVMValueRef mul(LLVMValueRef x, long c) {
      return LLVMBuildMul(e.b, x, e.c64(c), "");
    }

    /** Arena index of the first element of image {@code n}, channel {@code c}. */
    LLVMValueRef imageBase() {
      return add(e.off(t.image()), mul(add(mul(ld(nSlot), t.channels()), ld(cSlot)), h * w));
    }

    /** Arena index of tile plane {@code pos} at channel {@code c} and the chunk's first tile. */
    LLVMValueRef tileIndex(int pos) {
      LLVMValueRef tile = add(add(mul(ld(nSlot), op.tiles()), mul(ld(thSlot), op.tilesW())), ld(twSlot));
      return add(add(e.off(t.tiles()), e.c64((long) pos * t.channels() * tilesTotal)),
          add(mul(ld(cSlot), tilesTotal), tile));
    }

    /** {@code lo + lane <u bound} per lane: lanes at {@code lo + lane} inside {@code [0, bound)}. */
    LLVMValueRef inRange(LLVMValueRef lo, long bound) {
      LLVMValueRef[] lanes = new LLVMValueRef[vl];
      for (int i = 0; i < vl; i++) {
        lanes[i] = e.c32(i);
      }
      LLVMValueRef at = LLVMBuildAdd(e.b, splat(LLVMBuildTrunc(e.b, lo, e.i32, ""), LLVMVectorType(e.i32, vl)),
          LLVMConstVector(pp(lanes), vl), "");
      return LLVMBuildICmp(e.b, LLVMIntULT, at, splat(e.c32((int) bound), LLVMVectorType(e.i32, vl)), "");
    }

    LLVMValueRef splat(LLVMValueRef x, LLVMTypeRef vt) {
      LLVMValueRef one = LLVMBuildInsertElement(e.b, LLVMGetPoison(vt), x, e.c32(0), "");
      return LLVMBuildShuffleVector(e.b, one, LLVMGetPoison(vt), LLVMConstNull(LLVMVectorType(e.i32, vl)), "");
    }

    LLVMValueRef maskedLoad(LLVMValueRef index, LLVMValueRef m) {
      return intrinsic("llvm.masked.load", e.at(index), e.c32(4), m, LLVMConstNull(vec));
    }

    void maskedStore(LLVMValueRef v, LLVMValueRef index, LLVMValueRef m) {
      intrinsic("llvm.masked.store", v, e.at(index), e.c32(4), m);
    }

    LLVMValueRef intrinsic(String name, LLVMValueRef... args) {
      int id = LLVMLookupIntrinsicID(name, name.length());
      LLVMValueRef f = LLVMGetIntrinsicDeclaration(e.mod, id, pp(vec, e.ptr), 2);
      LLVMTypeRef ft = LLVMIntrinsicGetType(e.ctx, id, pp(vec, e.ptr), 2);
      return LLVMBuildCall2(e.b, ft, f, pp(args), args.length, "");
    }

    /** {@code Σ coef[k]·x[k]}: zero coefficients left out, ±1 as adds and subtracts; zero if none. */
    LLVMValueRef combine(double[] coef, LLVMValueRef[] x) {
      LLVMValueRef sum = null;
      for (int k = 0; k < coef.length; k++) {
        double c = coef[k];
        if (c == 0) {
          continue;
        }
        if (sum == null) {
          sum = c == 1 ? x[k] : c == -1 ? LLVMBuildFNeg(e.b, x[k], "") : LLVMBuildFMul(e.b, splatF(c), x[k], "");
        } else if (c == 1 || c == -1) {
          sum = c == 1 ? LLVMBuildFAdd(e.b, sum, x[k], "") : LLVMBuildFSub(e.b, sum, x[k], "");
        } else {
          sum = LLVMBuildFAdd(e.b, sum, LLVMBuildFMul(e.b, splatF(c), x[k], ""), "");
        }
      }
      return sum == null ? LLVMConstNull(vec) : sum;
    }

    /** Row {@code i} of the transform's matrix L: {@code L[i][0 … q)}. */
    double[] coef(int i) {
      double[] c = new double[op.q()];
      for (int k = 0; k < c.length; k++) {
        c[k] = op.at(i, k);
      }
      return c;
    }

    /** {@code v[0 … q)[k]}. */
    LLVMValueRef[] column(LLVMValueRef[][] v, int k) {
      LLVMValueRef[] c = new LLVMValueRef[v.length];
      for (int a = 0; a < v.length; a++) {
        c[a] = v[a][k];
      }
      return c;
    }

    /**
     * The {@code q²} tile planes of the chunk (lanes where {@code ok}), combined along each tile
     * row: {@code [a][j] = Σ_b L[j][b]·M[a·q + b]}; the rows' combination
     * {@code Σ_a L[i][a]·[a][j]} then gives window pixel {@code (i, j)}.
     */
    LLVMValueRef[][] planesAlongColumns(LLVMValueRef ok) {
      int p = op.p();
      int q = op.q();
      LLVMValueRef[] m = new LLVMValueRef[q * q];
      for (int pos = 0; pos < q * q; pos++) {
        m[pos] = maskedLoad(tileIndex(pos), ok);
      }
      LLVMValueRef[][] cols = new LLVMValueRef[q][p];
      for (int a = 0; a < q; a++) {
        LLVMValueRef[] rowA = java.util.Arrays.copyOfRange(m, a * q, a * q + q);
        for (int j = 0; j < p; j++) {
          cols[a][j] = combine(coef(j), rowA);
        }
      }
      return cols;
    }

    LLVMValueRef splatF(double c) {
      LLVMValueRef[] lanes = new LLVMValueRef[vl];
      java.util.Arrays.fill(lanes, e.cf(c));
      return LLVMConstVector(pp(lanes), vl);
    }

    LLVMValueRef constMask(int[] idx) {
      LLVMValueRef[] lanes = new LLVMValueRef[idx.length];
      for (int i = 0; i < idx.length; i++) {
        lanes[i] = e.c32(idx[i]);
      }
      return LLVMConstVector(pp(lanes), idx.length);
    }

    LLVMValueRef constBits(boolean[] bits) {
      LLVMValueRef[] lanes = new LLVMValueRef[bits.length];
      for (int i = 0; i < bits.length; i++) {
        lanes[i] = LLVMConstInt(e.i1, bits[i] ? 1 : 0, 0);
      }
      return LLVMConstVector(pp(lanes), bits.length);
    }

    /**
     * {@code out[lane] = src[s·lane + b]} over the concatenation of {@code src}: the lanes fall
     * into groups that each read two neighbouring vectors, one two-source shuffle per group and
     * a blend of the groups.
     */
    LLVMValueRef strided(LLVMValueRef[] src, int s, int b) {
      LLVMValueRef out = null;
      int lane = 0;
      while (lane < vl) {
        int g = (s * lane + b) / vl;                     // the first of the two vectors this group reads
        int[] idx = new int[vl];
        boolean[] mine = new boolean[vl];
        for (int l = 0; l < vl; l++) {
          int rel = s * l + b - g * vl;
          mine[l] = l >= lane && rel >= 0 && rel < 2 * vl;
          idx[l] = Math.max(0, Math.min(2 * vl - 1, rel));
        }
        int next = lane;
        while (next < vl && mine[next]) {
          next++;
        }
        LLVMValueRef lo = g < src.length ? src[g] : LLVMConstNull(vec);
        LLVMValueRef hi = g + 1 < src.length ? src[g + 1] : LLVMConstNull(vec);
        LLVMValueRef part = LLVMBuildShuffleVector(e.b, lo, hi, constMask(idx), "");
        if (out == null) {
          out = part;
        } else {
          boolean[] sel = new boolean[vl];
          for (int l = lane; l < next; l++) {
            sel[l] = true;
          }
          out = LLVMBuildSelect(e.b, constBits(sel), part, out, "");
        }
        lane = next;
      }
      return out;
    }

    /** One chunk of {@code vl} tiles of a row: window rows in, {@code p²} tile planes out. */
    void toTiles() {
      int p = op.p();
      int q = op.q();
      int s = op.stride();
      int span = (vl - 1) * s + q;                       // columns the chunk's windows cover
      int nv = (span + vl - 1) / vl;
      LLVMValueRef base = imageBase();
      LLVMValueRef col0 = LLVMBuildSub(e.b, mul(ld(twSlot), s), e.c64(op.padLeft()), "");
      LLVMValueRef[][] rows = new LLVMValueRef[q][nv];
      for (int a = 0; a < q; a++) {
        LLVMValueRef row = LLVMBuildSub(e.b, add(mul(ld(thSlot), s), e.c64(a)), e.c64(op.padTop()), "");
        LLVMValueRef rowOk = LLVMBuildICmp(e.b, LLVMIntULT, row, e.c64(h), "");
        LLVMValueRef safeRow = LLVMBuildSelect(e.b, rowOk, row, e.c64(0), "");
        LLVMValueRef rowMask = splat(rowOk, mask);
        for (int k = 0; k < nv; k++) {
          LLVMValueRef col = add(col0, e.c64((long) k * vl));
          LLVMValueRef m = LLVMBuildAnd(e.b, rowMask, inRange(col, w), "");
          rows[a][k] = maskedLoad(add(add(base, mul(safeRow, w)), col), m);
        }
      }
      LLVMValueRef store = inRange(ld(twSlot), op.tilesW());
      for (int i = 0; i < p; i++) {
        LLVMValueRef[] r = new LLVMValueRef[nv];
        for (int k = 0; k < nv; k++) {
          r[k] = combine(coef(i), column(rows, k));
        }
        LLVMValueRef[] d = new LLVMValueRef[q];
        for (int b = 0; b < q; b++) {
          d[b] = strided(r, s, b);
        }
        for (int j = 0; j < p; j++) {
          maskedStore(combine(coef(j), d), tileIndex(i * p + j), store);
        }
      }
    }

    /** One chunk of {@code vl} tiles of a row: {@code q²} tile planes in, {@code p} image rows out. */
    void untiles() {
      int p = op.p();
      LLVMValueRef[][] cols = planesAlongColumns(inRange(ld(twSlot), op.tilesW()));
      LLVMValueRef base = imageBase();
      LLVMValueRef col0 = mul(ld(twSlot), p);
      for (int i = 0; i < p; i++) {
        LLVMValueRef[] y = new LLVMValueRef[p];
        for (int j = 0; j < p; j++) {
          y[j] = combine(coef(i), column(cols, j));
        }
        LLVMValueRef row = add(mul(ld(thSlot), p), e.c64(i));
        LLVMValueRef inside = LLVMBuildICmp(e.b, LLVMIntULT, row, e.c64(h), "");
        LLVMValueRef safeRow = LLVMBuildSelect(e.b, inside, row, e.c64(0), "");
        // Output vector k holds columns col0 + k·vl + m: pixel j = (k·vl + m) mod p of tile (k·vl + m) / p.
        for (int k = 0; k < p; k++) {
          LLVMValueRef col = add(col0, e.c64((long) k * vl));
          LLVMValueRef mk = LLVMBuildAnd(e.b, splat(inside, mask), inRange(col, w), "");
          maskedStore(interleaved(y, p, k), add(add(base, mul(safeRow, w)), col), mk);
        }
      }
    }

    /** Per lane, {@code off(image) + ((n + lane)·C + c)·h·w + within}, as a vector of pointers. */
    LLVMValueRef imagePointers(long within) {
      LLVMTypeRef v64 = LLVMVectorType(e.i64, vl);
      LLVMValueRef[] lanes = new LLVMValueRef[vl];
      for (int i = 0; i < vl; i++) {
        lanes[i] = e.c64((long) i * t.channels() * h * w);
      }
      LLVMValueRef first = add(add(e.off(t.image()), mul(add(mul(ld(nSlot), t.channels()), ld(cSlot)), h * w)),
          e.c64(within));
      LLVMValueRef idx = LLVMBuildAdd(e.b, splat64(first, v64), LLVMConstVector(pp(lanes), vl), "");
      return LLVMBuildGEP2(e.b, e.f32, e.arena, pp(idx), 1, "");
    }

    LLVMValueRef splat64(LLVMValueRef x, LLVMTypeRef vt) {
      LLVMValueRef one = LLVMBuildInsertElement(e.b, LLVMGetPoison(vt), x, e.c32(0), "");
      return LLVMBuildShuffleVector(e.b, one, LLVMGetPoison(vt), LLVMConstNull(LLVMVectorType(e.i32, vl)), "");
    }

    LLVMValueRef vectorIntrinsic(String name, LLVMValueRef... args) {
      LLVMTypeRef ptrs = LLVMVectorType(e.ptr, vl);
      int id = LLVMLookupIntrinsicID(name, name.length());
      LLVMValueRef f = LLVMGetIntrinsicDeclaration(e.mod, id, pp(vec, ptrs), 2);
      LLVMTypeRef ft = LLVMIntrinsicGetType(e.ctx, id, pp(vec, ptrs), 2);
      return LLVMBuildCall2(e.b, ft, f, pp(args), args.length, "");
    }

    /**
     * Filters {@code n … n + vl − 1} of channel {@code c} (one window each, a filter transform):
     * each window element gathered across the images, {@code p²} contiguous stores.
     */
    void filterTiles() {
      int p = op.p();
      int q = op.q();
      LLVMValueRef lanesOk = inRange(ld(nSlot), t.images());
      LLVMValueRef[][] x = new LLVMValueRef[q][q];
      for (int a = 0; a < q; a++) {
        for (int b = 0; b < q; b++) {
          long row = a - op.padTop();
          long col = b - op.padLeft();
          x[a][b] = row < 0 || row >= h || col < 0 || col >= w ? LLVMConstNull(vec)
              : vectorIntrinsic("llvm.masked.gather", imagePointers(row * w + col), e.c32(4), lanesOk, LLVMConstNull(vec));
        }
      }
      for (int i = 0; i < p; i++) {
        LLVMValueRef[] r = new LLVMValueRef[q];
        for (int b = 0; b < q; b++) {
          r[b] = combine(coef(i), column(x, b));
        }
        for (int j = 0; j < p; j++) {
          maskedStore(combine(coef(j), r), tileIndex(i * p + j), lanesOk);
        }
      }
    }

    /** The other way: {@code q²} contiguous loads, each window pixel scattered across the images. */
    void filterUntiles() {
      int p = op.p();
      LLVMValueRef lanesOk = inRange(ld(nSlot), t.images());
      LLVMValueRef[][] cols = planesAlongColumns(lanesOk);
      for (int i = 0; i < p && i < h; i++) {
        for (int j = 0; j < p && j < w; j++) {
          vectorIntrinsic("llvm.masked.scatter", combine(coef(i), column(cols, j)), imagePointers((long) i * w + j),
              e.c32(4), lanesOk);
        }
      }
    }

    /** Lanes {@code k·vl … k·vl + vl − 1} of the interleaving {@code z[l·p + j] = y[j][l]}. */
    LLVMValueRef interleaved(LLVMValueRef[] y, int p, int k) {
      LLVMValueRef out = null;
      for (int j0 = 0; j0 < p; j0 += 2) {
        int[] idx = new int[vl];
        boolean[] mine = new boolean[vl];
        for (int l = 0; l < vl; l++) {
          int z = k * vl + l;
          int j = z % p;
          int tile = z / p;
          mine[l] = j == j0 || j == j0 + 1;
          idx[l] = mine[l] ? (j - j0) * vl + tile : 0;
        }
        LLVMValueRef part = LLVMBuildShuffleVector(e.b, y[j0], j0 + 1 < p ? y[j0 + 1] : LLVMConstNull(vec),
            constMask(idx), "");
        out = out == null ? part : LLVMBuildSelect(e.b, constBits(mine), part, out, "");
      }
      return out;
    }
  }
}
