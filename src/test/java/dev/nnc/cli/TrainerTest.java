package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.nnc.frontend.Recipe;
import dev.nnc.runtime.History;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.Trainer;
import dev.nnc.runtime.data.Dataset;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training loop over a set that is not a multiple of the batch: every example trains. */
class TrainerTest {
  @TempDir
  Path tmp;

  @Test
  void lastPartialBatchTrainsAndEveryExampleCountsOnce() throws Exception {
    Path file = tmp.resolve("t.nn");
    Files.writeString(file, """
        model T {
          input x: [2]
          output p = x -> dense(4) -> tanh -> dense(1) -> sigmoid
        }
        train T {
          data      = csv("t.csv", target=["y"])
          loss      = bce(p, target)
          optimizer = sgd(lr=0.1)
          batch     = 4
          epochs    = 2
          seed      = 3
        }
        """);
    Files.writeString(tmp.resolve("t.csv"), "a,b,y\n0,0,0\n");  // the recipe checks its data's header
    Session s = Session.open(file, null);
    Recipe r = s.recipe(null, null);
    ModelCompiler.Result res = s.compile(r, r.batch(), null);
    // 10 examples, batch 4: steps of 4, 4 and 2 (+ 2 from the epoch's start) — 3 steps an epoch.
    int n = 10;
    float[] x = new float[n * 2];
    float[] y = new float[n];
    for (int i = 0; i < n; i++) {
      x[2 * i] = i;
      x[2 * i + 1] = -i;
      y[i] = i % 2;
    }
    Dataset d = new Dataset(n, Map.of("x", x, "target", y), Map.of("x", new int[] {2}, "target", new int[] {1}),
        Map.of("x", false, "target", false));
    try (NativeModel m = Session.load(res, 1)) {
      Trainer t = new Trainer(m, new Trainer.Config(r.epochs(), true, r.seed(), 0.1, Session.schedule(r), null, false,
          "p", "target", 0.5), new PrintStream(java.io.OutputStream.nullOutputStream()));
      History h = t.fit(d, null);
      assertEquals(2 * 3, m.param("step")[0], "optimizer steps after 2 epochs");
      for (History.Epoch e : h.epochs()) {
        double correct = e.accuracy() * n;
        assertEquals(Math.rint(correct), correct, 1e-9, "accuracy counts each of the " + n + " examples once: " + e);
      }
    }
  }
}
