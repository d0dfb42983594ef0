package dev.nnc.runtime.data;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A segmentation data set the repository generates: grey {@code size×size} images with one to
 * three filled shapes — a disc, a square or a triangle, each of random size, place and brightness
 * — on a darker, noisy background, and the class of every pixel: 0 background, 1 disc, 2 square,
 * 3 triangle (a later shape covers an earlier one). The same seed gives the same images.
 * Fields: {@code image f32[1, size, size]} in [0, 1] and {@code label i32[size, size]}.
 */
public final class Shapes {
  /** The classes, by index. */
  public static final String[] CLASSES = {"background", "disc", "square", "triangle"};

  private Shapes() {}

  public static Dataset generate(int examples, int size, long seed) {
    if (size < 8 || size > 512) {
      throw new IllegalArgumentException("shapes size must be from 8 to 512, got " + size);
    }
    long pixels = (long) size * size;
    if (pixels * examples > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(examples + " shapes images of " + size + "×" + size + " are too many for "
          + "one array; use fewer examples or a smaller size");
    }
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] images = new float[(int) (pixels * examples)];
    float[] labels = new float[(int) (pixels * examples)];
    for (int e = 0; e < examples; e++) {
      int base = (int) (e * pixels);
      for (int p = 0; p < pixels; p++) {
        images[base + p] = (float) (0.1 + 0.1 * rnd.nextDouble());
      }
      int count = 1 + rnd.nextInt(3);
      for (int s = 0; s < count; s++) {
        int kind = 1 + rnd.nextInt(3);
        double r = size * (0.1 + 0.15 * rnd.nextDouble());        // half-size
        double cy = r + rnd.nextDouble() * (size - 2 * r);
        double cx = r + rnd.nextDouble() * (size - 2 * r);
        float bright = (float) (0.5 + 0.5 * rnd.nextDouble());
        for (int y = 0; y < size; y++) {
          for (int x = 0; x < size; x++) {
            double dy = y + 0.5 - cy;
            double dx = x + 0.5 - cx;
            boolean in = switch (kind) {
              case 1 -> dx * dx + dy * dy <= r * r;
              case 2 -> Math.abs(dx) <= r && Math.abs(dy) <= r;
              // Apex up, base at the bottom: inside when below both slanted sides.
              default -> dy <= r && dy >= -r && Math.abs(dx) <= (dy + r) / 2;
            };
            if (in) {
              images[base + y * size + x] = bright - (float) (0.05 * rnd.nextDouble());
              labels[base + y * size + x] = kind;
            }
          }
        }
      }
    }
    Map<String, float[]> f = new LinkedHashMap<>();
    f.put("image", images);
    f.put("label", labels);
    Map<String, int[]> shapes = new LinkedHashMap<>();
    shapes.put("image", new int[] {1, size, size});
    shapes.put("label", new int[] {size, size});
    Map<String, Boolean> ints = new LinkedHashMap<>();
    ints.put("image", false);
    ints.put("label", true);
    return new Dataset(examples, f, shapes, ints);
  }
}
