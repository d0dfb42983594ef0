package dev.nnc.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.runtime.data.Augment;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The augmentation transforms move pixels where they should, fill with zeros, and repeat by seed. */
class AugmentTest {
  /** Two images of [1, 2, 3]: pixel value = 10·image + 3·row + column + 1. */
  static float[] batch() {
    float[] a = new float[12];
    for (int i = 0; i < 2; i++) {
      for (int y = 0; y < 2; y++) {
        for (int x = 0; x < 3; x++) {
          a[i * 6 + y * 3 + x] = 10 * i + 3 * y + x + 1;
        }
      }
    }
    return a;
  }

  @Test
  void flipMirrorsEveryRowAndTwiceIsIdentity() {
    Augment flip = new Augment(List.of(new Augment.FlipHorizontal()));
    // Find a seed whose first draw flips the first image.
    float[] a = batch();
    flip.apply(a, 1, new int[] {1, 2, 3}, new java.util.SplittableRandom(1));
    float[] once = a.clone();
    boolean flipped = once[0] == 3;
    if (flipped) {
      assertArrayEquals(new float[] {3, 2, 1, 6, 5, 4}, java.util.Arrays.copyOf(once, 6), 0);
    } else {
      assertArrayEquals(java.util.Arrays.copyOf(batch(), 6), java.util.Arrays.copyOf(once, 6), 0);
    }
    // The second image was not in the count: untouched.
    assertArrayEquals(java.util.Arrays.copyOfRange(batch(), 6, 12), java.util.Arrays.copyOfRange(once, 6, 12), 0);
  }

  @Test
  void translationShiftsAndFillsWithZeros() {
    Augment t = new Augment(List.of(new Augment.Translate(1)));
    boolean sawShift = false;
    for (int seed = 0; seed < 50; seed++) {
      float[] a = batch();
      t.apply(a, 2, new int[] {1, 2, 3}, new java.util.SplittableRandom(seed));
      for (int i = 0; i < 2; i++) {
        // Every pixel is 0 or one of the image's own values, and their multiset lost only what left the frame.
        for (int k = 0; k < 6; k++) {
          float v = a[i * 6 + k];
          assertTrue(v == 0 || (v > 10 * i && v <= 10 * i + 6), "seed " + seed + ": pixel " + v);
        }
      }
      sawShift |= a[0] != 1;
    }
    assertTrue(sawShift, "50 seeds never moved the first image");
    // An explicit shift by (dy, dx) = (1, -1): row 1 takes row 0 moved left by one, the rest is 0.
    float[] s = batch();
    Augment.shift(s, 6, 1, 2, 3, 1, -1, new float[6]);
    assertArrayEquals(new float[] {0, 0, 0, 12, 13, 0}, java.util.Arrays.copyOfRange(s, 6, 12), 0);
    assertArrayEquals(java.util.Arrays.copyOf(batch(), 6), java.util.Arrays.copyOf(s, 6), 0);
    float[] a = batch();
    Augment t2 = new Augment(List.of(new Augment.RandomCrop(0)));
    t2.apply(a, 2, new int[] {1, 2, 3}, new java.util.SplittableRandom(3));
    assertArrayEquals(batch(), a, 0);   // padding 0: nothing moves
  }

  @Test
  void theSameSeedGivesTheSameImages() {
    Augment aug = new Augment(List.of(new Augment.RandomCrop(2), new Augment.FlipHorizontal()));
    float[] a = batch();
    float[] b = batch();
    aug.apply(a, 2, new int[] {1, 2, 3}, Augment.random(42, 3, 7));
    aug.apply(b, 2, new int[] {1, 2, 3}, Augment.random(42, 3, 7));
    assertArrayEquals(a, b, 0);
    float[] c = batch();
    boolean differs = false;
    for (int step = 0; step < 20 && !differs; step++) {
      c = batch();
      aug.apply(c, 2, new int[] {1, 2, 3}, Augment.random(42, 3, step + 8));
      differs = !java.util.Arrays.equals(a, c);
    }
    assertTrue(differs, "other steps draw other transforms");
    assertFalse(Augment.random(1, 0, 0).nextLong() == Augment.random(2, 0, 0).nextLong());
    assertEquals(12, c.length);
  }
}
