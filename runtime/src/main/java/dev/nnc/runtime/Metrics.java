package dev.nnc.runtime;

/**
 * Classification metrics from a model's output rows and the targets: argmax for several
 * classes, a threshold for one unit (0.5 on probabilities, 0 on logits).
 */
public final class Metrics {
  private Metrics() {}

  /** The predicted class of output row {@code r} of width {@code w}. */
  public static int predicted(float[] out, int r, int w, double threshold) {
    if (w == 1) {
      return out[r] > threshold ? 1 : 0;
    }
    int best = 0;
    for (int j = 1; j < w; j++) {
      if (out[r * w + j] > out[r * w + best]) {
        best = j;
      }
    }
    return best;
  }

  /** The true class of target row {@code r}: an integer label, a 0/1 target, or a one-hot row. */
  public static int actual(float[] target, int r, int w, boolean integerLabels) {
    if (integerLabels) {
      return (int) target[r];
    }
    if (w == 1) {
      return target[r] > 0.5 ? 1 : 0;
    }
    return predicted(target, r, w, 0.5);
  }

  /**
   * Segmentation: the class of each pixel of output row {@code r} ({@code [C, P]} channels first,
   * {@code w = C·P}), the channel with the largest value, written to {@code into[at …]}.
   */
  public static void pixelClasses(float[] out, int r, int w, int pixels, int[] into, int at) {
    pixelClasses(out, r, w, pixels, into, at, false);
  }

  /**
   * As above; with {@code classesLast} the scores are {@code [pixels, classes]} (a sequence's
   * steps, each its row of class scores) instead of {@code [classes, pixels]} (an image's maps).
   */
  public static void pixelClasses(float[] out, int r, int w, int pixels, int[] into, int at, boolean classesLast) {
    int classes = w / pixels;
    int base = r * w;
    int cs = classesLast ? 1 : pixels;
    int ps = classesLast ? classes : 1;
    for (int p = 0; p < pixels; p++) {
      int best = 0;
      for (int c = 1; c < classes; c++) {
        if (out[base + c * cs + p * ps] > out[base + best * cs + p * ps]) {
          best = c;
        }
      }
      into[at + p] = best;
    }
  }

  /** Segmentation: how many pixels of row {@code r} have their true class (target row of {@code pixels} labels). */
  public static int correctPixels(float[] out, int r, int w, float[] target, int pixels) {
    return correctPixels(out, r, w, target, pixels, false);
  }

  /** As above, with the class scores last (a sequence) when {@code classesLast}. */
  public static int correctPixels(float[] out, int r, int w, float[] target, int pixels, boolean classesLast) {
    int[] cls = new int[pixels];
    pixelClasses(out, r, w, pixels, cls, 0, classesLast);
    int n = 0;
    for (int p = 0; p < pixels; p++) {
      n += cls[p] == (int) target[r * pixels + p] ? 1 : 0;
    }
    return n;
  }

  /**
   * Per-class precision, recall, F1 and — for segmentation ({@code pixels}, counts of pixels) —
   * intersection over union, plus the confusion matrix (rows: true class).
   */
  public record Report(int[][] confusion, double accuracy, boolean pixels) {
    public Report(int[][] confusion, double accuracy) {
      this(confusion, accuracy, false);
    }

    /** {@code TP / (TP + FP + FN)} of class {@code c}; NaN when it is neither present nor predicted. */
    public double iou(int c) {
      long tp = confusion[c][c];
      long row = 0;
      long col = 0;
      for (int k = 0; k < classes(); k++) {
        row += confusion[c][k];
        col += confusion[k][c];
      }
      long union = row + col - tp;
      return union == 0 ? Double.NaN : (double) tp / union;
    }

    /** The mean of {@link #iou} over the classes present or predicted (the usual mIoU). */
    public double meanIou() {
      double sum = 0;
      int n = 0;
      for (int c = 0; c < classes(); c++) {
        double v = iou(c);
        if (!Double.isNaN(v)) {
          sum += v;
          n++;
        }
      }
      return n == 0 ? Double.NaN : sum / n;
    }

    public int classes() {
      return confusion.length;
    }

    public double precision(int c) {
      long tp = confusion[c][c];
      long predicted = 0;
      for (int[] row : confusion) {
        predicted += row[c];
      }
      return predicted == 0 ? 0 : (double) tp / predicted;
    }

    public double recall(int c) {
      long tp = confusion[c][c];
      long actual = 0;
      for (int v : confusion[c]) {
        actual += v;
      }
      return actual == 0 ? 0 : (double) tp / actual;
    }

    public double f1(int c) {
      double p = precision(c);
      double r = recall(c);
      return p + r == 0 ? 0 : 2 * p * r / (p + r);
    }

    public long support(int c) {
      long s = 0;
      for (int v : confusion[c]) {
        s += v;
      }
      return s;
    }

    /** A text table like scikit-learn's classification report, then the confusion matrix. */
    public String render(String[] names) {
      StringBuilder sb = new StringBuilder();
      int width = pixels ? 14 : 12;
      for (int c = 0; c < classes(); c++) {
        width = Math.max(width, (pixels ? "IoU " : "").length() + name(names, c).length());
      }
      sb.append(String.format("%" + width + "s  %9s  %6s  %6s  %7s%n", "class", "precision", "recall", "f1", "support"));
      double mp = 0;
      double mr = 0;
      double mf = 0;
      for (int c = 0; c < classes(); c++) {
        sb.append(String.format("%" + width + "s  %9.4f  %6.4f  %6.4f  %7d%n", name(names, c), precision(c), recall(c),
            f1(c), support(c)));
        mp += precision(c);
        mr += recall(c);
        mf += f1(c);
      }
      int n = classes();
      sb.append(String.format("%" + width + "s  %9.4f  %6.4f  %6.4f%n", "macro avg", mp / n, mr / n, mf / n));
      sb.append(String.format("%" + width + "s  %9.4f%n", pixels ? "pixel accuracy" : "accuracy", accuracy));
      if (pixels) {
        for (int c = 0; c < n; c++) {
          sb.append(String.format("%" + width + "s  %9.4f%n", "IoU " + name(names, c), iou(c)));
        }
        sb.append(String.format("%" + width + "s  %9.4f%n", "mean IoU", meanIou()));
      }
      sb.append('\n');
      sb.append("confusion matrix (rows: true class, columns: predicted)\n");
      sb.append(String.format("%" + width + "s", ""));
      for (int c = 0; c < n; c++) {
        sb.append(String.format(" %6d", c));
      }
      sb.append('\n');
      for (int r = 0; r < n; r++) {
        // "3 Dress", left-aligned, the index right-aligned so that the names line up.
        int digits = String.valueOf(n - 1).length();
        String label = String.format("%" + digits + "d %s", r, name(names, r).equals(String.valueOf(r)) ? "" : name(names, r));
        sb.append(String.format("%-" + width + "s", label.length() > width ? label.substring(0, width) : label));
        for (int c = 0; c < n; c++) {
          sb.append(String.format(" %6d", confusion[r][c]));
        }
        sb.append('\n');
      }
      return sb.toString();
    }

    private static String name(String[] names, int c) {
      return names != null && c < names.length ? names[c] : String.valueOf(c);
    }
  }
}
