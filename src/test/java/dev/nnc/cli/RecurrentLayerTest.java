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
      // Two layers: two loops forward; in training also two backward.
      assertEquals(program.equals("train") ? 4 : 2, loops, program + ": loops over time");
      for (Kernel k : b.kernels()) {
        if (k instanceof Kernel.Steps s) {
          assertEquals(600, s.steps());
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
}
