package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line: its outputs, and clear errors with exit status 1 (never a stack trace) on bad input. */
class CliTest {
  static final String MLP = "../samples/mlp.nn";
  static final String XOR = "../samples/xor.nn";

  @TempDir
  Path tmp;

  static void noStackTrace(CliRunner.Run r) {
    assertFalse(r.all().contains("\tat ") || r.all().contains("Exception"), "stack trace leaked:\n" + r.all());
  }

  @Test
  void checkAndSummary() {
    CliRunner.Run c = CliRunner.run("check", MLP);
    assertEquals(0, c.code(), c.all());
    assertTrue(c.out().contains("ok: model Mlp, 6 layers, 235,146 parameters, training recipe checked, memory 5.2 MiB at "
        + "batch 64"), c.out());
    CliRunner.Run s = CliRunner.run("summary", MLP);
    assertEquals(0, s.code(), s.all());
    assertTrue(s.out().contains("dense1 (dense)"), s.out());
    assertTrue(s.out().contains("200,960"), s.out());
    assertTrue(s.out().contains("Total params: 235,146"), s.out());
    assertTrue(s.out().contains("Trainable params: 235,146"), s.out());
    // The training step needs what check reports; inference needs less (no gradients, no Adam state).
    assertTrue(s.out().contains("Memory at batch 64: inference 3.4 MiB, training step 4.3 MiB"), s.out());
  }

  @Test
  void badModelFileGetsAllErrorsWithPositions() throws Exception {
    Path bad = tmp.resolve("bad.nn");
    Files.writeString(bad, """
        model M {
          input image: [1, 28, 28]
          h = image -> dense(10)
          output y = h -> sigmoide
        }
        """);
    CliRunner.Run r = CliRunner.run("check", bad.toString());
    assertEquals(1, r.code(), r.all());
    assertTrue(r.err().contains(bad + ":3:16: error: dense expects a [features] input (or a sequence [time, features]), got [1,28,28]"), r.err());
    assertTrue(r.err().contains("hint: flatten it first"), r.err());
    assertTrue(r.err().contains(bad + ":4:19: error: unknown layer `sigmoide`"), r.err());
    assertTrue(r.err().contains("did you mean `sigmoid`?"), r.err());
    assertTrue(r.err().contains("                 ^"), "a caret under the column:\n" + r.err());
    assertTrue(r.err().contains("2 errors"), r.err());
    noStackTrace(r);
  }

  @Test
  void missingFilesAndBadArguments() throws Exception {
    CliRunner.Run r = CliRunner.run("train", "nope.nn");
    assertEquals(1, r.code());
    assertTrue(r.err().contains("nope.nn: no such file"), r.err());
    noStackTrace(r);

    r = CliRunner.run("eval", XOR, "--weights", tmp.resolve("none.safetensors").toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains("none.safetensors: no such weights file"), r.err());
    noStackTrace(r);

    Path corrupt = tmp.resolve("corrupt.safetensors");
    Files.write(corrupt, new byte[] {1, 2, 3});
    r = CliRunner.run("eval", XOR, "--weights", corrupt.toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains(corrupt + ": truncated safetensors file"), r.err());
    noStackTrace(r);

    r = CliRunner.run("train", MLP, "--data", tmp.toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains("train-images-idx3-ubyte.gz: no such file"), r.err());
    noStackTrace(r);

    r = CliRunner.run("compile", XOR, "-o", tmp.resolve("o").toString(), "--java", "not a class");
    assertEquals(1, r.code());
    assertTrue(r.err().contains("--java needs a Java class name"), r.err());

    r = CliRunner.run("emit", XOR, "--ir", "--after", "frobnicate");
    assertEquals(1, r.code());
    assertTrue(r.err().contains("no pass named 'frobnicate'"), r.err());

    r = CliRunner.run();
    assertEquals(2, r.code());
    r = CliRunner.run("train", XOR, "--epochs", "many");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("--epochs"), r.err());
    // Counts below 1 are refused before anything runs (--batch 0 once divided by zero).
    for (String[] bad : new String[][] {{"train", XOR, "--batch", "0"}, {"train", XOR, "--epochs", "0"},
        {"train", XOR, "--threads", "-2"}, {"compile", XOR, "--batch", "0", "-o", tmp.resolve("b").toString()},
        {"predict", XOR, "-n", "0"}}) {
      r = CliRunner.run(bad);
      assertEquals(2, r.code(), String.join(" ", bad) + "\n" + r.all());
      assertTrue(r.err().contains("must be at least 1, got"), r.err());
      noStackTrace(r);
    }
    assertFalse(Files.exists(tmp.resolve("b")));
    r = CliRunner.run("train", XOR, "--batch", "100", "-q", "-o", tmp.resolve("big").toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains("fewer than one batch of 100; lower the batch size (`batch` in the recipe, or --batch)"),
        r.err());
    noStackTrace(r);
  }

  @Test
  void weightsOfAnotherModelAreRejectedByName() throws Exception {
    Path w = tmp.resolve("w.safetensors");
    dev.nnc.runtime.SafeTensors.write(w, java.util.Map.of("other.weight",
        new dev.nnc.runtime.SafeTensors.Entry(new int[] {1}, new float[] {1})), null);
    CliRunner.Run r = CliRunner.run("eval", XOR, "--weights", w.toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains("has no tensor 'dense1.weight'"), r.err());
    noStackTrace(r);
  }

  @Test
  void emitPrintsEveryStage() {
    CliRunner.Run ir = CliRunner.run("emit", XOR, "--ir", "--after", "differentiate");
    assertEquals(0, ir.code(), ir.all());
    assertTrue(ir.out().contains("update %"), ir.out());
    assertTrue(ir.out().contains("param[name=\"dense1.weight.m\", role=state"), ir.out());
    CliRunner.Run pred = CliRunner.run("emit", XOR, "--ir", "--program", "predict");
    assertTrue(pred.out().contains("sigmoid"), pred.out());
    assertFalse(pred.out().contains("update"), pred.out());
    CliRunner.Run k = CliRunner.run("emit", XOR, "--kernels");
    assertTrue(k.out().contains("gemm train_k"), k.out());
    CliRunner.Run llvm = CliRunner.run("emit", XOR, "--llvm");
    assertEquals(0, llvm.code(), llvm.all());
    assertTrue(llvm.out().contains("define void @train_k"), llvm.out());
    assertTrue(llvm.out().contains("llvm.fma.v8f32") || llvm.out().contains("llvm.fma.v16f32"), "the GEMM micro-kernel");
  }
}
