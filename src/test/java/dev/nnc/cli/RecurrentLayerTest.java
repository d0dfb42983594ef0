package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelPrinter;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Recurrent layers compiled whole: the program's size does not depend on the sequence length
 * (time is a loop: T = 60 and T = 600 give the same kernels, calls and kernel text but for the
 * loops' trip counts and the buffers' sizes), and lengths outside {@code [1, T]} are refused when
 * the input is set, with the position and the range.
 */
class RecurrentLayerTest {
  static final String MODEL = """
      model CharLstm {
        input chars: int[%d]
        input length: int[1]
        x = chars -> embedding(60, 16)
        h = lstm(x, length, 32, layers=2, return_sequences=true, dropout=0.1)
        output logits = h -> reshape(shape=[-1]) -> dense(5)
      }
      train CharLstm {
        data = words("%s", length=%d, vocab=60)
        loss = cross_entropy(logits, label)
        optimizer = adam
        batch = 4
      }
      """;

  static ModelCompiler.Result compile(int steps) throws Exception {
    Path words = Path.of("..", "samples", "data", "words").toAbsolutePath().normalize();
    Program prog = Program.parse(SourceFile.of("m.nn", MODEL.formatted(steps, words.toString().replace("\\", "/"),
        steps)));
    Recipe recipe = Elaborator.recipe(prog, null);
    return ModelCompiler.compile(prog, null, recipe, 4, Backend.find("cpu"));
  }

  /** The kernel text without the numbers that scale with T (trip counts, sizes, strides). */
  static String shape(KernelProgram p) {
    return KernelPrinter.print(p).replaceAll("\\d+", "N");
  }

  /** Per loop of the schedule, the calls of its body. */
  static java.util.List<Integer> bodies(Manifest.Program p) {
    return p.calls().stream().filter(c -> c.repeat() != null).map(c -> c.repeat().calls()).toList();
  }

  @Test
  void programSizeDoesNotDependOnTheSequenceLength() throws Exception {
    ModelCompiler.Result shortOne = compile(60);
    ModelCompiler.Result longOne = compile(600);
    for (String program : shortOne.kernels().keySet()) {
      KernelProgram a = shortOne.kernels().get(program);
      KernelProgram b = longOne.kernels().get(program);
      assertEquals(a.leaves().size(), b.leaves().size(), program + ": kernels at T=60 and T=600");
      assertEquals(shape(a), shape(b), program + ": the same kernels but for their sizes");
      // The loops' bodies make the same calls; outside them a GEMM over all B·T rows (the input
      // projections, the weight gradients) may split into a few more calls when T·B is larger.
      assertEquals(bodies(shortOne.manifest().program(program)), bodies(longOne.manifest().program(program)),
          program + ": calls per step");
      int ca = shortOne.manifest().program(program).calls().size();
      int cb = longOne.manifest().program(program).calls().size();
      assertTrue(Math.abs(ca - cb) <= ca / 10, program + ": " + ca + " calls at T=60, " + cb + " at T=600");
      long loops = a.kernels().stream().filter(k -> k instanceof Kernel.Steps).count();
      // Two layers: two loops forward; in training also two backward; none in prepare (the
      // first layer's table of input projections, computed from the weights alone).
      assertEquals(program.equals("train") ? 4 : program.equals(ModelCompiler.PREPARE) ? 0 : 2, loops,
          program + ": loops over time");
      for (Kernel k : b.kernels()) {
        if (k instanceof Kernel.Steps s) {
          // The step program runs one element at a time.
          assertEquals(program.equals(ModelCompiler.STEP) ? 1 : 600, s.steps(), program);
        }
      }
    }
    assertTrue(shortOne.kernels().get("train").leaves().size() < 120, shortOne.kernels().get("train").leaves().size()
        + " kernels in a training step");
  }

  @Test
  void lengthsOutsideTheSequenceAreRefused() throws Exception {
    ModelCompiler.Result r = compile(60);
    Manifest m = r.manifest();
    try (NativeModel nm = new NativeModel(m, KernelLibrary.ofAddresses(r.compiled().jit()), 2)) {
      nm.initParams(1);
      nm.setInput(ModelCompiler.PREDICT, "chars", new float[4 * 60]);
      nm.setInput(ModelCompiler.PREDICT, "length", new float[] {1, 60, 7, 3});
      nm.run(ModelCompiler.PREDICT);
      Map<float[], String> bad = Map.of(new float[] {1, 0, 7, 3}, "length[1] = 0 is not a sequence length in [1, 60]: "
          + "a sequence needs at least one step", new float[] {1, 2, 61, 3}, "length[2] = 61 is not a sequence length "
          + "in [1, 60]: the sequences are padded to 60 steps");
      bad.forEach((v, msg) -> {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> nm.setInput(ModelCompiler.PREDICT, "length", v));
        assertTrue(e.getMessage().startsWith(msg), e.getMessage());
      });
    }
  }

  static final String LM = """
      model Lm {
        input chars: int[7]
        x = chars -> embedding(9, 4)
        h = x -> %s
        output logits = h -> dense(9)
      }
      """;

  /**
   * The step program (one element, the state carried by the caller) gives at every step the
   * logits the whole-sequence program gives at that position, for stacked LSTM and GRU layers;
   * a bidirectional layer, which needs the whole sequence, leaves the model without one.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"lstm(5, layers=2, return_sequences=true)",
      "gru(6, return_sequences=true)", "simple_rnn(3, layers=3, return_sequences=true)"})
  void stepProgramMatchesTheWholeSequence(String layer) throws Exception {
    Program prog = Program.parse(SourceFile.of("lm.nn", LM.formatted(layer)));
    ModelCompiler.Result r = ModelCompiler.compile(prog, null, null, 2, Backend.find("cpu"));
    Manifest m = r.manifest();
    assertTrue(m.programs().containsKey(ModelCompiler.STEP), m.programs().keySet().toString());
    Manifest.Program step = m.program(ModelCompiler.STEP);
    try (NativeModel nm = new NativeModel(m, KernelLibrary.ofAddresses(r.compiled().jit()), 2)) {
      nm.initParams(3);
      java.util.Random rnd = new java.util.Random(layer.hashCode());
      float[] ids = new float[14];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = rnd.nextInt(9);
      }
      nm.setInput(ModelCompiler.PREDICT, "chars", ids);
      nm.run(ModelCompiler.PREDICT);
      float[] whole = nm.output(ModelCompiler.PREDICT, "logits");
      java.util.Map<String, float[]> states = new java.util.LinkedHashMap<>();
      for (Manifest.Slot sl : step.inputs()) {
        if (!sl.name().equals("chars")) {
          assertTrue(sl.name().endsWith("0") && step.output(sl.name().substring(0, sl.name().length() - 1)) != null,
              sl.name());
          states.put(sl.name(), new float[(int) sl.size()]);
        }
      }
      assertTrue(!states.isEmpty());
      for (int t = 0; t < 7; t++) {
        nm.setInput(ModelCompiler.STEP, "chars", new float[] {ids[t], ids[7 + t]});
        states.forEach((name, v) -> nm.setInput(ModelCompiler.STEP, name, v));
        nm.run(ModelCompiler.STEP);
        states.forEach((name, v) -> nm.output(ModelCompiler.STEP, name.substring(0, name.length() - 1), v));
        float[] got = nm.output(ModelCompiler.STEP, "logits");
        for (int b = 0; b < 2; b++) {
          for (int c = 0; c < 9; c++) {
            float want = whole[(b * 7 + t) * 9 + c];
            assertEquals(want, got[b * 9 + c], 1e-5 + 1e-4 * Math.abs(want), layer + " step " + t + " example " + b);
          }
        }
      }
    }
    Program bi = Program.parse(SourceFile.of("lm.nn", LM.formatted("lstm(5, bidirectional=true, return_sequences=true)")));
    ModelCompiler.Result rb = ModelCompiler.compile(bi, null, null, 2, Backend.find("cpu"));
    assertTrue(!rb.manifest().programs().containsKey(ModelCompiler.STEP), rb.manifest().programs().keySet().toString());
    // Nor does a model whose layers need the whole sequence (a reshape to its size): it compiles as before.
    Program whole = Program.parse(SourceFile.of("lm.nn", LM.formatted("lstm(5, return_sequences=true) -> "
        + "reshape(shape=[35]) -> dense(7) -> reshape(shape=[7, 1])")));
    ModelCompiler.Result rw = ModelCompiler.compile(whole, null, null, 2, Backend.find("cpu"));
    assertTrue(!rw.manifest().programs().containsKey(ModelCompiler.STEP), rw.manifest().programs().keySet().toString());
  }

  /**
   * The generated Java class of a recurrent model steps: {@code newState()} and
   * {@code step(state, ids)} in a new JVM, through the shared library, give at every step the
   * logits the JIT's whole-sequence program gives at that position.
   */
  @Test
  void generatedClassSteps(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
    Path text = Path.of("..", "samples", "data", "text", "sample.txt").toAbsolutePath().normalize();
    String model = LM.formatted("lstm(5, layers=2, return_sequences=true)") + """
        train Lm {
          data = text("%s", length=7, vocab=9)
          loss = cross_entropy(logits, label)
          batch = 2
        }
        """.formatted(text.toString().replace("\\", "/"));
    Path file = tmp.resolve("lm.nn");
    java.nio.file.Files.writeString(file, model);
    Path out = tmp.resolve("lib");
    CliRunner.Run c = CliRunner.run("compile", file.toString(), "-o", out.toString(), "--java", "org.example.Lm");
    assertEquals(0, c.code(), c.all());
    String src = java.nio.file.Files.readString(out.resolve("java/org/example/Lm.java"));
    assertTrue(src.contains("public float[] step(float[][] state, int[] chars)") && src.contains("newState()"), src);
    Path driver = tmp.resolve("Drive.java");
    java.nio.file.Files.writeString(driver, """
        import java.nio.file.Path;
        public class Drive {
          public static void main(String[] a) throws Exception {
            int[] ids = {3, 1, 4, 1, 5, 8, 2, 6, 5, 3, 5, 8, 7, 0};
            try (org.example.Lm m = org.example.Lm.load(Path.of(a[0]), 1)) {
              float[][] s = m.newState();
              for (int t = 0; t < 7; t++) {
                float[] y = m.step(s, new int[] {ids[t], ids[7 + t]});
                StringBuilder sb = new StringBuilder("y" + t);
                for (float v : y) {
                  sb.append(' ').append(v);
                }
                System.out.println(sb);
              }
            }
          }
        }
        """);
    String log = AotTest.compileAndRun(tmp, java.util.List.of(out.resolve("java/org/example/Lm.java"), driver), "Drive",
        out.toString());
    Program prog = Program.parse(SourceFile.of("lm.nn", model));
    ModelCompiler.Result r = ModelCompiler.compile(prog, null, Elaborator.recipe(prog, null), 2, Backend.find("cpu"));
    float[] ids = {3, 1, 4, 1, 5, 8, 2, 6, 5, 3, 5, 8, 7, 0};
    try (NativeModel nm = new NativeModel(r.manifest(), KernelLibrary.ofAddresses(r.compiled().jit()), 1)) {
      dev.nnc.runtime.SafeTensors.read(out.resolve("weights.safetensors")).forEach((k, v) -> nm.setParam(k, v.data()));
      nm.setInput(ModelCompiler.PREDICT, "chars", ids);
      nm.run(ModelCompiler.PREDICT);
      float[] whole = nm.output(ModelCompiler.PREDICT, "logits");
      for (int t = 0; t < 7; t++) {
        String prefix = "y" + t + " ";
        String[] got = log.lines().filter(l -> l.startsWith(prefix)).findFirst().orElseThrow(() -> new AssertionError(log))
            .substring(prefix.length()).split(" ");
        assertEquals(18, got.length, log);
        for (int b = 0; b < 2; b++) {
          for (int k = 0; k < 9; k++) {
            float want = whole[(b * 7 + t) * 9 + k];
            assertEquals(want, Float.parseFloat(got[b * 9 + k]), 1e-5f + 1e-4f * Math.abs(want), "step " + t);
          }
        }
      }
    }
  }
}
