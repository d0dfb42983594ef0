package dev.nnc.ir;

import java.util.Arrays;

/** An immutable tensor shape, outermost dimension first ({@code [N, C, H, W]}). */
public final class Shape {
  public static final Shape SCALAR = new Shape();

  private final int[] dims;

  /**
   * The most elements a tensor may have: 2³¹−1. Kernels index with 64-bit offsets, but Java
   * arrays (inputs, outputs, weights) and int-typed sizes do not go further; every size
   * computation on a constructed shape therefore fits in an int.
   */
  public static final long MAX_ELEMENTS = Integer.MAX_VALUE;

  /** Throws {@link ShapeException} for a negative dimension or more than {@link #MAX_ELEMENTS} elements. */
  public Shape(int... dims) {
    long n = 1;
    boolean tooLarge = false;
    for (int d : dims) {
      if (d < 0) {
        throw new ShapeException("negative dimension in " + Arrays.toString(dims));
      }
      if (d != 0 && n > MAX_ELEMENTS / d) {
        tooLarge = true;
      }
      n = tooLarge ? n : n * d;
    }
    if (tooLarge && Arrays.stream(dims).noneMatch(d -> d == 0)) {
      double count = 1;
      for (int d : dims) {
        count *= d;
      }
      throw new ShapeException("a tensor of shape " + Arrays.toString(dims).replace(" ", "") + " would have "
          + String.format(java.util.Locale.ROOT, "%,.0f", count) + " elements, more than the limit of 2,147,483,647 "
          + "(2^31-1)");
    }
    this.dims = dims.clone();
  }

  public static Shape of(int... dims) {
    return new Shape(dims);
  }

  public int rank() {
    return dims.length;
  }

  public int dim(int i) {
    return dims[i < 0 ? dims.length + i : i];
  }

  public int[] dims() {
    return dims.clone();
  }

  public long size() {
    long n = 1;
    for (int d : dims) {
      n *= d;
    }
    return n;
  }

  /** Row-major strides in elements. */
  public long[] strides() {
    long[] s = new long[dims.length];
    long acc = 1;
    for (int i = dims.length - 1; i >= 0; i--) {
      s[i] = acc;
      acc *= dims[i];
    }
    return s;
  }

  /** The shape without its first dimension: the per-example shape of a batched tensor. */
  public Shape dropFirst() {
    return new Shape(Arrays.copyOfRange(dims, 1, dims.length));
  }

  /** {@code [n] ++ this}. */
  public Shape prepend(int n) {
    int[] d = new int[dims.length + 1];
    d[0] = n;
    System.arraycopy(dims, 0, d, 1, dims.length);
    return new Shape(d);
  }

  /**
   * Numpy broadcasting: dimensions are aligned from the right, and a dimension of 1 stretches.
   * Returns null when the shapes do not broadcast.
   */
  public static Shape broadcast(Shape a, Shape b) {
    int r = Math.max(a.rank(), b.rank());
    int[] out = new int[r];
    for (int i = 0; i < r; i++) {
      int da = i < r - a.rank() ? 1 : a.dims[i - (r - a.rank())];
      int db = i < r - b.rank() ? 1 : b.dims[i - (r - b.rank())];
      if (da == db || db == 1) {
        out[i] = da;
      } else if (da == 1) {
        out[i] = db;
      } else {
        return null;
      }
    }
    return new Shape(out);
  }

  /** Whether this shape broadcasts to {@code target} without changing {@code target}. */
  public boolean broadcastsTo(Shape target) {
    Shape b = broadcast(this, target);
    return b != null && b.equals(target);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Shape s && Arrays.equals(dims, s.dims);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(dims);
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < dims.length; i++) {
      if (i > 0) {
        sb.append(',');
      }
      sb.append(dims[i]);
    }
    return sb.append(']').toString();
  }

  /** Parses the form printed by {@link #toString()}. */
  public static Shape parse(String text) {
    String t = text.trim();
    if (!t.startsWith("[") || !t.endsWith("]")) {
      throw new IllegalArgumentException("not a shape: " + text);
    }
    String body = t.substring(1, t.length() - 1).trim();
    if (body.isEmpty()) {
      return SCALAR;
    }
    return new Shape(Arrays.stream(body.split(",")).mapToInt(s -> Integer.parseInt(s.trim())).toArray());
  }
}
