package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.passes.Pipeline;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@code nnc emit}: every stage is a named pass that --after can show, --print-after-all, --verify. */
class EmitTest {
  @Test
  void everyStageCanBeShown() {
    for (String pass : Pipeline.passNames()) {
      CliRunner.Run r = CliRunner.run("emit", CliTest.XOR, "--after", pass);
      assertEquals(0, r.code(), pass + ": " + r.all());
      boolean kernels = Pipeline.kernelStages().contains(pass);
      String want = pass.equals("plan-memory") ? "// arena region" : kernels ? "program train {" : "graph Xor";
      assertTrue(r.out().startsWith(want), pass + ":\n" + r.out());
    }
  }

  /** {@code --after lower-conv} names each convolution's lowering: columns for one image, rows for a batch. */
  @Test
  void lowerConvShowsTheChoicePerLayer() {
    String lenet = "../samples/lenet5.nn";
    CliRunner.Run one = CliRunner.run("emit", lenet, "--ir", "--after", "lower-conv", "--program", "predict", "--batch",
        "1");
    assertEquals(0, one.code(), one.all());
    assertTrue(one.out().contains("conv2d [1,1,28,28] → [1,6,28,28] (5×5, stride 1): direct"), one.out());
    assertTrue(one.out().contains("conv2d [1,6,14,14] → [1,16,10,10] (5×5, stride 1): im2col-columns"), one.out());
    CliRunner.Run batch = CliRunner.run("emit", lenet, "--ir", "--after", "lower-conv", "--program", "predict");
    assertEquals(0, batch.code(), batch.all());
    assertTrue(batch.out().contains("conv2d [64,6,14,14] → [64,16,10,10] (5×5, stride 1): im2col-rows"), batch.out());
  }

  @Test
  void printAfterAllShowsThePipelineInOrder() {
    CliRunner.Run r = CliRunner.run("emit", CliTest.XOR, "--print-after-all");
    assertEquals(0, r.code(), r.all());
    Matcher m = Pattern.compile("// ---- train: after ([a-z-]+) ----").matcher(r.out());
    List<String> seen = new java.util.ArrayList<>();
    while (m.find()) {
      seen.add(m.group(1));
    }
    assertEquals(List.of("elaborate", "differentiate", "fold-conv-bn", "fold-linear", "lower-conv", "sink-reshape", "cse", "fold-constants", "cse", "dce", "hoist-weights", "lower", "merge",
        "collapse", "place-updates", "plan-memory"), seen);
  }

  @Test
  void verifyChecksEveryProgram() {
    CliRunner.Run r = CliRunner.run("emit", CliTest.MLP, "--verify");
    assertEquals(0, r.code(), r.all());
    assertTrue(r.out().matches("(?s)train: \\d+ kernels verified\\neval: \\d+ kernels verified\\npredict: \\d+ kernels "
        + "verified\\n"), r.out());
  }
}
