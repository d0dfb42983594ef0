package dev.nnc.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.runtime.data.Dataset;
import dev.nnc.runtime.data.Shapes;
import org.junit.jupiter.api.Test;

/**
 * The generated segmentation set: reproducible from its seed, every class present, labels that
 * describe the image (shape pixels bright, background dark), fields shaped as the recipe says;
 * and the segmentation metrics (pixel classes, IoU) on hand-made cases.
 */
class ShapesTest {
  @Test
  void sameSeedSameImagesAndLabelsDescribeThem() {
    Dataset a = Shapes.generate(50, 16, 9);
    Dataset b = Shapes.generate(50, 16, 9);
    Dataset c = Shapes.generate(50, 16, 10);
    int[] all = new int[50];
    for (int i = 0; i < 50; i++) {
      all[i] = i;
    }
    float[] ia = new float[50 * 256];
    float[] ib = new float[50 * 256];
    float[] ic = new float[50 * 256];
    float[] la = new float[50 * 256];
    a.gather("image", all, 0, 50, ia);
    b.gather("image", all, 0, 50, ib);
    c.gather("image", all, 0, 50, ic);
    a.gather("label", all, 0, 50, la);
    assertArrayEquals(ia, ib);
    assertFalse(java.util.Arrays.equals(ia, ic), "another seed, other images");
    assertArrayEquals(new int[] {1, 16, 16}, a.shape("image"));
    assertArrayEquals(new int[] {16, 16}, a.shape("label"));
    assertTrue(a.isInteger("label") && !a.isInteger("image"));
    long[] count = new long[4];
    for (int p = 0; p < la.length; p++) {
      int k = (int) la[p];
      count[k]++;
      // Background is at most 0.2, shapes at least 0.45.
      assertTrue(k == 0 ? ia[p] <= 0.2f : ia[p] >= 0.45f, "pixel " + p + " class " + k + " value " + ia[p]);
    }
    for (int k = 0; k < 4; k++) {
      assertTrue(count[k] > 100, Shapes.CLASSES[k] + " pixels: " + count[k]);
    }
    assertThrows(IllegalArgumentException.class, () -> Shapes.generate(1, 4, 1));
  }

  @Test
  void pixelClassesAndIou() {
    // One example, 2 classes, 3 pixels, channels first: class 0 scores then class 1 scores.
    float[] out = {0.9f, 0.1f, 0.2f, 0.1f, 0.8f, 0.7f};
    int[] cls = new int[3];
    Metrics.pixelClasses(out, 0, 6, 3, cls, 0);
    assertArrayEquals(new int[] {0, 1, 1}, cls);
    assertEquals(2, Metrics.correctPixels(out, 0, 6, new float[] {0, 1, 0}, 3));
    // True 0 0 1 1, predicted 0 1 1 1: IoU(0) = 1/2, IoU(1) = 2/3.
    Metrics.Report r = new Metrics.Report(new int[][] {{1, 1}, {0, 2}}, 0.75, true);
    assertEquals(0.5, r.iou(0), 1e-12);
    assertEquals(2.0 / 3, r.iou(1), 1e-12);
    assertEquals((0.5 + 2.0 / 3) / 2, r.meanIou(), 1e-12);
    assertTrue(r.render(Shapes.CLASSES).contains("mean IoU"), r.render(null));
    // A class neither present nor predicted does not count in the mean.
    Metrics.Report absent = new Metrics.Report(new int[][] {{3, 0}, {0, 0}}, 1, true);
    assertTrue(Double.isNaN(absent.iou(1)));
    assertEquals(1, absent.meanIou(), 1e-12);
  }
}
