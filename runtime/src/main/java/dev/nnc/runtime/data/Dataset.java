package dev.nnc.runtime.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Examples in memory, field by field ({@code image}, {@code label}), each example's values
 * contiguous. Integer fields (labels) are stored as floats, as in the arena.
 */
public final class Dataset {
  private final int size;
  private final Map<String, float[]> fields;
  private final Map<String, int[]> shapes;
  private final Map<String, Boolean> integer;

  public Dataset(int size, Map<String, float[]> fields, Map<String, int[]> shapes, Map<String, Boolean> integer) {
    this.size = size;
    this.fields = fields;
    this.shapes = shapes;
    this.integer = integer;
    for (Map.Entry<String, float[]> f : fields.entrySet()) {
      if (f.getValue().length != (long) size * width(f.getKey())) {
        throw new IllegalArgumentException("field " + f.getKey() + " has " + f.getValue().length + " values for "
            + size + " examples of " + Arrays.toString(shapes.get(f.getKey())));
      }
    }
  }

  /**
   * {@code size} random examples: {@code field} uniform in [0, 1) of the given shape and
   * {@code label} uniform among {@code classes}, from {@code seed} (the same seed, the same data).
   */
  public static Dataset synthetic(int size, String field, int[] shape, int classes, long seed) {
    long width = 1;
    for (int d : shape) {
      width *= d;
    }
    if (width * size > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("synthetic data of " + size + " examples of " + Arrays.toString(shape)
          + " is too large for one array; use fewer examples");
    }
    java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
    float[] x = new float[(int) (width * size)];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextDouble();
    }
    float[] labels = new float[size];
    for (int i = 0; i < size; i++) {
      labels[i] = rnd.nextInt(classes);
    }
    Map<String, float[]> f = new java.util.LinkedHashMap<>();
    f.put(field, x);
    f.put("label", labels);
    Map<String, int[]> shapes = new java.util.LinkedHashMap<>();
    shapes.put(field, shape.clone());
    shapes.put("label", new int[0]);
    Map<String, Boolean> ints = new java.util.LinkedHashMap<>();
    ints.put(field, false);
    ints.put("label", true);
    return new Dataset(size, f, shapes, ints);
  }

  public int size() {
    return size;
  }

  public List<String> fieldNames() {
    return new ArrayList<>(fields.keySet());
  }

  public boolean has(String field) {
    return fields.containsKey(field);
  }

  public int[] shape(String field) {
    return shapes.get(field).clone();
  }

  public boolean isInteger(String field) {
    return integer.getOrDefault(field, false);
  }

  public int width(String field) {
    int w = 1;
    for (int d : shapes.get(field)) {
      w *= d;
    }
    return w;
  }

  public float[] field(String name) {
    float[] f = fields.get(name);
    if (f == null) {
      throw new IllegalArgumentException("the data has no field '" + name + "' (it has " + fields.keySet() + ")");
    }
    return f;
  }

  /**
   * Copies examples {@code order[from..from+count)} of {@code field} into {@code out}; when
   * {@code count} is short of the batch, the rest of {@code out} is zero (padding).
   */
  public void gather(String field, int[] order, int from, int count, float[] out) {
    float[] src = field(field);
    int w = width(field);
    for (int i = 0; i < count; i++) {
      System.arraycopy(src, order[from + i] * w, out, i * w, w);
    }
    Arrays.fill(out, count * w, out.length, 0f);
  }

  public Dataset select(int[] idx) {
    Map<String, float[]> f = new LinkedHashMap<>();
    for (String name : fields.keySet()) {
      float[] out = new float[idx.length * width(name)];
      gather(name, idx, 0, idx.length, out);
      f.put(name, out);
    }
    return new Dataset(idx.length, f, shapes, integer);
  }

  public Dataset head(int n) {
    int[] idx = new int[Math.min(n, size)];
    for (int i = 0; i < idx.length; i++) {
      idx[i] = i;
    }
    return select(idx);
  }

  /** Splits off the last {@code fraction} of a seeded shuffle as a validation set. */
  public Dataset[] split(double fraction, long seed) {
    int[] order = permutation(size, new SplittableRandom(seed));
    int nVal = (int) Math.round(size * fraction);
    return new Dataset[] {select(Arrays.copyOfRange(order, 0, size - nVal)),
        select(Arrays.copyOfRange(order, size - nVal, size))};
  }

  public static int[] permutation(int n, SplittableRandom r) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) {
      p[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {
      int j = r.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
