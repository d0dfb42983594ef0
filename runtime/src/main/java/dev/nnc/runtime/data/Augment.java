package dev.nnc.runtime.data;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Online data augmentation of images during training, as the course teaches it: each training
 * batch's images are transformed on the fly, per example, from a random source seeded by the
 * recipe's seed, the epoch and the step (the same run gives the same images); evaluation never
 * sees it. Images are {@code [C, H, W]}, row-major, transformed in place.
 */
public record Augment(List<Transform> transforms) {
  /** One transform of a {@code [C, H, W]} image. */
  public sealed interface Transform {}

  /**
   * {@code random_crop(padding=p)}: pad {@code p} zeros on every side and crop an H×W window at
   * a random position (torchvision's {@code RandomCrop(size, padding=p)}): a shift by up to
   * {@code p} pixels each way, the uncovered border zero.
   */
  public record RandomCrop(int padding) implements Transform {}

  /** {@code flip_horizontal}: mirror left to right with probability 1/2. */
  public record FlipHorizontal() implements Transform {}

  /** {@code translate(pixels=n)}: shift by up to {@code n} pixels each way, zeros filling in. */
  public record Translate(int pixels) implements Transform {}

  /** The random source of one training step: a function of seed, epoch and step only. */
  public static SplittableRandom random(long seed, int epoch, int step) {
    return new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch * 1_000_003L + step);
  }

  /** Transforms the first {@code count} images of {@code batch} (each of {@code shape} = [C, H, W]). */
  public void apply(float[] batch, int count, int[] shape, SplittableRandom rnd) {
    int c = shape[0];
    int h = shape[1];
    int w = shape[2];
    int size = c * h * w;
    float[] tmp = new float[size];
    for (int i = 0; i < count; i++) {
      int base = i * size;
      for (Transform t : transforms) {
        switch (t) {
          case RandomCrop rc -> shift(batch, base, c, h, w, rnd.nextInt(2 * rc.padding() + 1) - rc.padding(),
              rnd.nextInt(2 * rc.padding() + 1) - rc.padding(), tmp);
          case Translate tr -> shift(batch, base, c, h, w, rnd.nextInt(2 * tr.pixels() + 1) - tr.pixels(),
              rnd.nextInt(2 * tr.pixels() + 1) - tr.pixels(), tmp);
          case FlipHorizontal f -> {
            if (rnd.nextBoolean()) {
              flip(batch, base, c, h, w);
            }
          }
        }
      }
    }
  }

  /** {@code out[y][x] = in[y − dy][x − dx]}, zero where that falls outside. */
  public static void shift(float[] a, int base, int c, int h, int w, int dy, int dx, float[] tmp) {
    if (dy == 0 && dx == 0) {
      return;
    }
    java.util.Arrays.fill(tmp, 0, c * h * w, 0f);
    for (int ch = 0; ch < c; ch++) {
      for (int y = Math.max(0, dy); y < Math.min(h, h + dy); y++) {
        int from = base + (ch * h + y - dy) * w;
        int to = (ch * h + y) * w;
        int x0 = Math.max(0, dx);
        int x1 = Math.min(w, w + dx);
        if (x1 > x0) {
          System.arraycopy(a, from + x0 - dx, tmp, to + x0, x1 - x0);
        }
      }
    }
    System.arraycopy(tmp, 0, a, base, c * h * w);
  }

  public static void flip(float[] a, int base, int c, int h, int w) {
    for (int row = 0; row < c * h; row++) {
      int s = base + row * w;
      for (int x = 0, y = w - 1; x < y; x++, y--) {
        float t = a[s + x];
        a[s + x] = a[s + y];
        a[s + y] = t;
      }
    }
  }
}
