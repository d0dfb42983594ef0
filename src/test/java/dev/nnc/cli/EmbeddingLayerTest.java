package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The {@code embedding} layer end to end: its table is {@code <layer>.weight [vocab, dim]} as in
 * PyTorch, the compiled lookup returns each token's row, and a token id outside the vocabulary is
 * refused when the input is set, naming the position, the value and the vocabulary's size.
 */
class EmbeddingLayerTest {
  static final String MODEL = """
      model M {
        input chars: int[4]
        h = chars -> embedding(7, 3)
        output y = h -> flatten -> dense(2)
      }
      train M {
        data = csv("%s", label="y")
        loss = cross_entropy(y, label)
        optimizer = adam
        batch = 2
      }
      """;

  static ModelCompiler.Result compile() throws Exception {
    Path csv = Files.createTempFile("ids", ".csv");
    csv.toFile().deleteOnExit();
    Files.writeString(csv, "c0,c1,c2,c3,y\n");
    Program prog = Program.parse(SourceFile.of("m.nn", MODEL.formatted(csv.toString().replace("\\", "/"))));
    Recipe recipe = Elaborator.recipe(prog, null);
    return ModelCompiler.compile(prog, null, recipe, 2, Backend.find("cpu"));
  }

  @Test
  void lookupReturnsTheTokensRowsAndBadIdsAreRefused() throws Exception {
    ModelCompiler.Result r = compile();
    Manifest m = r.manifest();
    Manifest.ParamSlot table = m.params().stream().filter(p -> p.name().equals("embedding1.weight")).findFirst()
        .orElseThrow(() -> new AssertionError("no embedding1.weight in " + m.params()));
    assertArrayEquals(new int[] {7, 3}, table.shape());
    assertEquals("normal", table.init());
    try (NativeModel nm = new NativeModel(m, KernelLibrary.ofAddresses(r.compiled().jit()), 2)) {
      nm.initParams(1);
      float[] w = nm.param("embedding1.weight");
      double sq = 0;
      for (float v : w) {
        sq += v * v;
      }
      assertTrue(sq / w.length > 0.2 && sq / w.length < 5, "N(0, 1) initialisation: mean square " + sq / w.length);
      // y = flatten(rows) · Wᵀ + b: with W = 1 on the first output and 0 on the second and b = 0,
      // y[n, 0] is the sum of the chosen rows' elements.
      float[] dense = new float[2 * 12];
      java.util.Arrays.fill(dense, 0, 12, 1f);
      nm.setParam("dense1.weight", dense);
      nm.setParam("dense1.bias", new float[2]);
      float[] ids = {0, 6, 6, 2, 5, 1, 0, 3};
      nm.setInput(ModelCompiler.PREDICT, "chars", ids);
      nm.run(ModelCompiler.PREDICT);
      float[] y = nm.output(ModelCompiler.PREDICT, "y");
      for (int n = 0; n < 2; n++) {
        double want = 0;
        for (int t = 0; t < 4; t++) {
          int id = (int) ids[n * 4 + t];
          for (int d = 0; d < 3; d++) {
            want += w[id * 3 + d];
          }
        }
        assertEquals(want, y[n * 2], 1e-5, "example " + n);
        assertEquals(0, y[n * 2 + 1], 1e-6);
      }
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> nm.setInput(ModelCompiler.PREDICT, "chars", new float[] {0, 1, 2, 3, 4, 7, 1, 1}));
      assertEquals("chars[5] = 7 is not a token id in [0, 7) (the vocabulary has 7 tokens)", e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> nm.setInput(ModelCompiler.PREDICT, "chars", new float[] {0, 1, -1, 3, 4, 5, 1, 1}));
      assertEquals("chars[2] = -1 is not a token id in [0, 7) (the vocabulary has 7 tokens)", e.getMessage());
    }
  }

  /**
   * {@code nnc compile --java} of a token model: the generated class's {@code predict} takes the
   * ids as an {@code int[]}, compiles against the runtime alone, and computes what the JIT path
   * computes with the same weights; an id outside the vocabulary is an exception naming it.
   */
  @Test
  void generatedClassTakesTokenIds(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
    Path csv = Files.createTempFile("ids", ".csv");
    csv.toFile().deleteOnExit();
    Files.writeString(csv, "c0,c1,c2,c3,y\n");
    Path file = tmp.resolve("tok.nn");
    Files.writeString(file, MODEL.formatted(csv.toString().replace("\\", "/")));
    Path out = tmp.resolve("lib");
    CliRunner.Run c = CliRunner.run("compile", file.toString(), "-o", out.toString(), "--java", "org.example.Tok");
    assertEquals(0, c.code(), c.all());
    String src = Files.readString(out.resolve("java/org/example/Tok.java"));
    assertTrue(src.contains("public float[] predict(int[] chars)"), src);
    Path driver = tmp.resolve("Drive.java");
    Files.writeString(driver, """
        import java.nio.file.Path;
        public class Drive {
          public static void main(String[] a) throws Exception {
            try (org.example.Tok m = org.example.Tok.load(Path.of(a[0]), 1)) {
              float[] y = m.predict(new int[] {0, 6, 6, 2, 5, 1, 0, 3, 4, 4, 4, 4});
              StringBuilder sb = new StringBuilder();
              for (float v : y) {
                sb.append(v).append(' ');
              }
              System.out.println("y " + sb.toString().trim());
              try {
                m.predict(new int[] {0, 1, 2, 9});
              } catch (IllegalArgumentException e) {
                System.out.println("refused: " + e.getMessage());
              }
            }
          }
        }
        """);
    String log = AotTest.compileAndRun(tmp, java.util.List.of(out.resolve("java/org/example/Tok.java"), driver), "Drive",
        out.toString());
    assertTrue(log.contains("refused: chars[3] = 9 is not a token id in [0, 7) (the vocabulary has 7 tokens)"), log);
    // The JIT path with the shipped weights on the same three examples (two batches of 2, padded).
    ModelCompiler.Result r = compile();
    float[] ids = {0, 6, 6, 2, 5, 1, 0, 3, 4, 4, 4, 4, 0, 0, 0, 0};
    String[] got = log.lines().filter(l -> l.startsWith("y ")).findFirst().orElseThrow().substring(2).split(" ");
    assertEquals(6, got.length, log);
    try (NativeModel nm = new NativeModel(r.manifest(), KernelLibrary.ofAddresses(r.compiled().jit()), 1)) {
      dev.nnc.runtime.SafeTensors.read(out.resolve("weights.safetensors")).forEach((k, v) -> nm.setParam(k, v.data()));
      for (int b = 0; b < 2; b++) {
        nm.setInput(ModelCompiler.PREDICT, "chars", java.util.Arrays.copyOfRange(ids, b * 8, b * 8 + 8));
        nm.run(ModelCompiler.PREDICT);
        float[] y = nm.output(ModelCompiler.PREDICT, "y");
        for (int i = 0; i < 4 && b * 4 + i < 6; i++) {
          assertEquals(y[i], Float.parseFloat(got[b * 4 + i]), 1e-5f * Math.max(1, Math.abs(y[i])), "logit " + (b * 4 + i));
        }
      }
    }
  }
}
