package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.runtime.NativeModel;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code nnc bench} without its libtorch baseline on the class path (the compiler's own): a clear
 * error naming the fix; and the output check, which refuses a baseline that computes something
 * else (the libtorch baseline itself is tested in the bench module).
 */
class BenchCheckTest {
  @Test
  void withoutTheBaselineModuleTheErrorSaysWhereItIs() {
    CliRunner.Run r = CliRunner.run("bench", CliTest.MLP, "--batch", "2", "--time", "0.01");
    assertEquals(1, r.code(), r.all());
    assertTrue(r.err().contains("needs the libtorch baseline, which is in the bench module"), r.all());
    assertTrue(r.err().contains("--vs none"), r.all());
  }

  @Test
  void nncAloneNeedsNoBaseline() {
    CliRunner.Run r = CliRunner.run("bench", CliTest.MLP, "--vs", "none", "--batch", "2", "--time", "0.01");
    assertEquals(0, r.code(), r.all());
    assertTrue(r.out().contains("training step") && r.out().contains("inference"), r.all());
  }

  /**
   * A masked sequence model is timed on lengths it accepts: the bench's random inputs keep each
   * integer slot in its range, sequence lengths from 1 (a length of 0 was drawn and refused, and
   * the bench stopped with an internal error).
   */
  @Test
  void aMaskedSequenceModelIsTimedOnValidLengths() throws Exception {
    CliRunner.Run r = CliRunner.run("bench", "../samples/word-language.nn", "--vs", "none", "--batch", "64",
        "--time", "0.01");
    assertEquals(0, r.code(), r.all());
    assertTrue(r.out().contains("training step") && r.out().contains("inference"), r.all());
    Session s = Session.open(Path.of("../samples/word-language.nn"), null);
    ModelCompiler.Result res = s.compile(s.recipe(1, 64), 64, null);
    boolean lengths = false;
    for (long seed = 1; seed <= 5; seed++) {
      Map<String, float[]> inputs = BenchCommand.inputs(res.manifest(), Session.primaryOutput(res.forward()), seed);
      for (dev.nnc.runtime.Manifest.Slot sl : res.manifest().program(ModelCompiler.TRAIN).inputs()) {
        for (float v : inputs.get(sl.name())) {
          assertTrue(v >= sl.min() && (sl.bound() == 0 || v < sl.bound()), sl.name() + " = " + v + " outside its range");
        }
        lengths |= sl.min() == 1;
      }
    }
    assertTrue(lengths, "the model has a lengths input");
  }

  /** A baseline whose outputs or first loss differ is refused, never timed. */
  @Test
  void checkRefusesADisagreeingBaseline() throws Exception {
    Session s = Session.open(Path.of(CliTest.MLP), null);
    ModelCompiler.Result res = s.compile(s.recipe(1, 4), 4, null);
    String out = Session.primaryOutput(res.forward());
    Map<String, float[]> inputs = BenchCommand.inputs(res.manifest(), out, 1);
    try (NativeModel nnc = Session.load(res, 1)) {
      nnc.initParams(1);
      Runnable predict = () -> {
        BenchCommand.feed(nnc, res.manifest(), ModelCompiler.PREDICT, inputs);
        nnc.run(ModelCompiler.PREDICT);
      };
      Runnable step = () -> {
        BenchCommand.feed(nnc, res.manifest(), ModelCompiler.TRAIN, inputs);
        nnc.run(ModelCompiler.TRAIN);
      };
      predict.run();
      float[] right = nnc.output(ModelCompiler.PREDICT, out);
      float[] off = right.clone();
      off[3] += 0.01f * Math.max(1, Math.abs(off[3]));
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> BenchCommand.check(nnc, predict, step, stub(off, 0, true), out, false));
      assertTrue(e.getMessage().contains("differ at " + out + "[3]"), e.getMessage());
      // Right outputs, a wrong loss: not compared with dropout (the masks differ) ...
      BenchCommand.check(nnc, predict, step, stub(right, 123.0, false), out, true);
      // ... refused when the baseline's training is deterministic (the step changed the weights).
      predict.run();
      float[] now = nnc.output(ModelCompiler.PREDICT, out);
      IllegalStateException l = assertThrows(IllegalStateException.class,
          () -> BenchCommand.check(nnc, predict, step, stub(now, 123.0, true), out, true));
      assertTrue(l.getMessage().contains("first training step's loss"), l.getMessage());
    }
  }

  static Baseline.Model stub(float[] outputs, double loss, boolean deterministic) {
    return new Baseline.Model() {
      @Override
      public void setInput(String name, float[] values) {}

      @Override
      public float[] infer(String output) {
        return outputs;
      }

      @Override
      public double trainStep() {
        return loss;
      }

      @Override
      public String summary() {
        return "";
      }

      @Override
      public boolean deterministicTraining() {
        return deterministic;
      }

      @Override
      public void close() {}
    };
  }
}
