package dev.nnc.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Predicted/actual classes, the per-class report and the confusion matrix's layout. */
class MetricsTest {
  @Test
  void predictedAndActualClasses() {
    float[] out = {0, 1, 0.1f, 3, 0.2f, 0};
    assertEquals(1, Metrics.predicted(out, 0, 3, 0.5), "argmax of row 0");
    assertEquals(0, Metrics.predicted(out, 1, 3, 0.5), "argmax of row 1");
    assertEquals(1, Metrics.predicted(new float[] {0.2f, 0.7f}, 1, 1, 0.5), "one output: above the threshold");
    assertEquals(0, Metrics.predicted(new float[] {0.2f, 0.7f}, 1, 1, 0.8), "one output: below the threshold");
    assertEquals(2, Metrics.actual(new float[] {7, 2}, 1, 1, true), "integer label");
    assertEquals(2, Metrics.actual(new float[] {0, 0, 1}, 0, 3, false), "one-hot row");
  }

  @Test
  void reportNumbersAndLayout() {
    // rows: true class; 0: 8 right, 2 taken for 1; 1: 5 right; 2: 1 taken for 0, 4 right
    int[][] cm = {{8, 2, 0}, {0, 5, 0}, {1, 0, 4}};
    Metrics.Report r = new Metrics.Report(cm, 17 / 20.0);
    assertEquals(8 / 9.0, r.precision(0), 1e-12);
    assertEquals(0.8, r.recall(0), 1e-12);
    assertEquals(2 * (8 / 9.0) * 0.8 / (8 / 9.0 + 0.8), r.f1(0), 1e-12);
    assertEquals(5 / 7.0, r.precision(1), 1e-12);
    assertEquals(1.0, r.recall(1), 1e-12);
    assertEquals(5, r.support(2));
    String text = r.render(new String[] {"cat", "dog", "a rather long class name"});
    List<String> lines = text.lines().toList();
    assertTrue(lines.get(1).matches(" *cat +0\\.8889 +0\\.8000 +0\\.8421 +10"), lines.get(1));
    int header = lines.indexOf("confusion matrix (rows: true class, columns: predicted)");
    // Row labels are left-aligned "index name" and cut to the label column; the counts line up.
    assertTrue(lines.get(header + 2).startsWith("0 cat "), lines.get(header + 2));
    assertTrue(lines.get(header + 4).startsWith("2 a rather long class n"), lines.get(header + 4));
    int width = lines.get(header + 1).length();
    for (int i = header + 2; i <= header + 4; i++) {
      assertEquals(width, lines.get(i).length(), "row " + lines.get(i));
    }
    assertTrue(lines.get(header + 4).endsWith("      1      0      4"), lines.get(header + 4));
  }
}
