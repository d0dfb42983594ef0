package org.example;

import dev.nnc.runtime.data.Idx;
import java.io.DataOutputStream;
import java.io.FileOutputStream;
import java.nio.file.Path;

/**
 * A Java application that embeds a model compiled ahead of time by
 * {@code nnc compile samples/mlp.nn -o build/mlp --java org.example.Mlp}: it needs the generated
 * class, the nnc runtime jar and the compiled folder, and no compiler or LLVM at all.
 *
 * <pre>
 *   java -cp build/classes:runtime.jar org.example.EmbedDemo build/mlp IMAGES.idx LABELS.idx [N] [--dump out.bin]
 * </pre>
 *
 * Classifies the first N images and prints the accuracy; with {@code --dump} it also writes the
 * raw logits (big-endian floats) for comparison.
 */
public final class EmbedDemo {
  private EmbedDemo() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: EmbedDemo MODEL_DIR IMAGES LABELS [N] [--dump FILE]");
      System.exit(2);
    }
    Path dir = Path.of(args[0]);
    Idx.Array images = Idx.read(Path.of(args[1]));
    Idx.Array labels = Idx.read(Path.of(args[2]));
    int n = args.length > 3 && !args[3].startsWith("--") ? Integer.parseInt(args[3]) : images.count();
    String dump = null;
    for (int i = 0; i < args.length - 1; i++) {
      if (args[i].equals("--dump")) {
        dump = args[i + 1];
      }
    }
    float[] x = new float[n * Mlp.IMAGE_SIZE];
    for (int i = 0; i < x.length; i++) {
      x[i] = images.values()[i] / 255f;
    }
    try (Mlp model = Mlp.load(dir)) {
      long t0 = System.nanoTime();
      float[] logits = model.predict(x);
      double ms = (System.nanoTime() - t0) / 1e6;
      int correct = 0;
      for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < Mlp.LOGITS_SIZE; c++) {
          if (logits[i * Mlp.LOGITS_SIZE + c] > logits[i * Mlp.LOGITS_SIZE + best]) {
            best = c;
          }
        }
        if (best == (int) labels.values()[i]) {
          correct++;
        }
      }
      System.out.printf("classified %d images in %.1f ms: accuracy %.4f%n", n, ms, (double) correct / n);
      if (dump != null) {
        try (DataOutputStream out = new DataOutputStream(new FileOutputStream(dump))) {
          for (float v : logits) {
            out.writeFloat(v);
          }
        }
      }
      // One compiled training step on the first batch, to show trainStep works from Java too.
      float[] batch = new float[Mlp.BATCH * Mlp.IMAGE_SIZE];
      System.arraycopy(x, 0, batch, 0, Math.min(batch.length, x.length));
      int[] y = new int[Mlp.BATCH];
      for (int i = 0; i < Math.min(Mlp.BATCH, n); i++) {
        y[i] = (int) labels.values()[i];
      }
      System.out.printf("one training step: loss %.4f%n", model.trainStep(batch, y));
    }
  }
}
