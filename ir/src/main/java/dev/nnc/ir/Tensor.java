package dev.nnc.ir;

import java.util.Arrays;

/** A dense double-precision tensor, the interpreter's value type. */
public record Tensor(Shape shape, double[] data) {
  public Tensor {
    if (data.length != shape.size()) {
      throw new IllegalArgumentException("tensor of shape " + shape + " needs " + shape.size()
          + " elements, got " + data.length);
    }
  }

  public static Tensor zeros(Shape s) {
    return new Tensor(s, new double[Math.toIntExact(s.size())]);
  }

  public static Tensor scalar(double v) {
    return new Tensor(Shape.SCALAR, new double[] {v});
  }

  public double get(int i) {
    return data[i];
  }

  public Tensor copy() {
    return new Tensor(shape, data.clone());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Tensor t && t.shape.equals(shape) && Arrays.equals(t.data, data);
  }

  @Override
  public int hashCode() {
    return shape.hashCode() * 31 + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return "Tensor" + shape + Arrays.toString(data.length > 8 ? Arrays.copyOf(data, 8) : data);
  }

  /**
   * For each element of {@code out}, the linear index of the element of {@code in} that numpy
   * broadcasting reads (stride 0 along stretched dimensions).
   */
  public static int[] broadcastIndex(Shape in, Shape out) {
    int r = out.rank();
    long[] inStrides = in.strides();
    long[] bstride = new long[r];
    for (int i = 0; i < r; i++) {
      int j = i - (r - in.rank());
      bstride[i] = j < 0 || in.dim(j) == 1 ? 0 : inStrides[j];
    }
    int n = Math.toIntExact(out.size());
    int[] map = new int[n];
    int[] idx = new int[r];
    long pos = 0;
    for (int k = 0; k < n; k++) {
      map[k] = (int) pos;
      for (int d = r - 1; d >= 0; d--) {
        idx[d]++;
        pos += bstride[d];
        if (idx[d] < out.dim(d)) {
          break;
        }
        pos -= bstride[d] * idx[d];
        idx[d] = 0;
      }
    }
    return map;
  }
}
