package dev.nnc.ir.kernel;

import java.util.Arrays;

/**
 * A scalar f32 expression inside a kernel. Loads address buffers affinely in the loop variables;
 * everything else is arithmetic on a few primitives that every back end maps to hardware or its
 * math library ({@code exp}, {@code log}, {@code tanh}, {@code erf}, {@code log1p}).
 */
public sealed interface KExpr {
  /** Unary primitives. */
  enum UnOp {
    NEG,
    ABS,
    EXP,
    LOG,
    SQRT,
    TANH,
    ERF,
    LOG1P
  }

  /** Binary primitives. */
  enum BinOp {
    ADD,
    SUB,
    MUL,
    DIV,
    MAX,
    MIN
  }

  /** Comparisons for {@link Select}. */
  enum Cmp {
    GT,
    GE,
    LT,
    EQ
  }

  record Lit(double value) implements KExpr {}

  /**
   * {@code buf[index]}; with guards, {@code guards hold ? buf[index] : fill} — a predicated load
   * that never touches memory when a guard fails (a padded convolution's border reads its zero
   * padding this way). Back ends must not read {@code buf[index]} when a guard fails.
   */
  record Load(int buf, Affine index, java.util.List<Guard> guards, double fill, Row row) implements KExpr {
    public Load {
      guards = java.util.List.copyOf(guards);
    }

    public Load(int buf, Affine index) {
      this(buf, index, java.util.List.of(), 0, null);
    }

    public Load(int buf, Affine index, java.util.List<Guard> guards, double fill) {
      this(buf, index, guards, fill, null);
    }

    /** {@code buf[index + row]}: a load at a data-dependent row (see {@link Row}). */
    public Load(int buf, Affine index, Row row) {
      this(buf, index, java.util.List.of(), 0, row);
    }

    public boolean guarded() {
      return !guards.isEmpty();
    }
  }

  /**
   * {@code lo <= expr < hi} over the loop variables: the condition of a predicated load or store.
   * A padded access {@code x[oh·s + kh − p]} is guarded by {@code 0 <= oh·s + kh − p < H}.
   */
  record Guard(Affine expr, long lo, long hi) {
    public boolean holds(long[] vars) {
      long v = expr.base();
      for (int i = 0; i < expr.strides().length; i++) {
        v += expr.strides()[i] * vars[i];
      }
      return v >= lo && v < hi;
    }

    @Override
    public String toString() {
      return lo + " <= " + expr + " < " + hi;
    }
  }

  /**
   * A data-dependent part of an address: {@code stride · r} with {@code r} the integer part of
   * {@code id} clamped to {@code [0, rows)} (an embedding's table row of a token id). The clamp
   * keeps every access inside its buffer whatever the data holds; the runtime rejects token ids
   * outside {@code [0, rows)} before a kernel runs, so the clamp never changes a result there.
   */
  record Row(KExpr id, long stride, long rows) {
    public Row {
      if (stride < 0 || rows < 1) {
        throw new IllegalArgumentException("row: stride " + stride + " and rows " + rows);
      }
    }

    /** The row {@code id} selects: its integer part, clamped to {@code [0, rows)}. */
    public long of(double id) {
      return Double.isNaN(id) ? 0 : (long) Math.max(0, Math.min(rows - 1, id));
    }

    @Override
    public String toString() {
      return stride + "*row(" + KernelPrinter.expr(id) + " of " + rows + ")";
    }
  }

  /** The value of a local scalar (accumulators). */
  record Local(int id) implements KExpr {}

  /** A loop variable's value as a float (one-hot: {@code label == c}). */
  record IndexValue(int var) implements KExpr {}

  /** In a GEMM epilogue: the accumulated {@code (A·B)[i, j]}. */
  record Acc() implements KExpr {}

  record Un(UnOp op, KExpr x) implements KExpr {}

  /**
   * {@code x op y}. A back end may fuse a multiply with the add or subtract that takes it into one
   * fused multiply-add (one rounding instead of two), as C compilers do within an expression.
   */
  record Bin(BinOp op, KExpr x, KExpr y) implements KExpr {}

  /** {@code x cmp y ? a : b}. */
  record Select(Cmp cmp, KExpr x, KExpr y, KExpr a, KExpr b) implements KExpr {}

  /**
   * Inverted-dropout mask element: 0 with probability {@code rate}, else {@code 1/(1-rate)},
   * from a hash of the element's linear {@code index}, the step (an f32 expression) and a salt —
   * the same bits as {@link dev.nnc.ir.ops.DropoutMask#uniform}.
   */
  record Rand(Affine index, KExpr step, int salt, double rate) implements KExpr {}

  /** {@code base + Σ strides[v]·var_v}, in elements. */
  record Affine(long base, long[] strides) {
    public static Affine zero(int vars) {
      return new Affine(0, new long[vars]);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Affine a && a.base == base && Arrays.equals(a.strides, strides);
    }

    @Override
    public int hashCode() {
      return Long.hashCode(base) * 31 + Arrays.hashCode(strides);
    }

    @Override
    public String toString() {
      StringBuilder sb = new StringBuilder();
      if (base != 0) {
        sb.append(base);
      }
      for (int v = 0; v < strides.length; v++) {
        if (strides[v] != 0) {
          if (!sb.isEmpty()) {
            sb.append(" + ");
          }
          sb.append(strides[v] == 1 ? "" : strides[v] + "*").append("i").append(v);
        }
      }
      return sb.isEmpty() ? "0" : sb.toString();
    }
  }
}
