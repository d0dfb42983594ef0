package dev.nnc.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.frontend.CompileException;
import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Shape;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.ops.Window;
import java.util.Map;
import java.util.Random;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * Cross-entropy with a class per pixel (segmentation): the mean loss and dL/dW of
 * {@code conv2d → cross_entropy(logits[C,H,W], label[H,W])} match libtorch's
 * {@code cross_entropy} on {@code [N, C, H, W]} and finite differences; a label map of the wrong
 * size is a located error.
 */
class PixelLossParityTest {
  static final int N = 3;

  static final String MODEL = """
      model S {
        input image: [1, 8, 8]
        output logits = image -> conv2d(4, 3, padding=1, bias=false)
      }
      train S {
        data = shapes(examples=4, size=8)
        loss = cross_entropy(logits, label)
        batch = 3
      }
      """;

  @Test
  void lossAndGradientMatchLibtorchAndFiniteDifferences() throws Exception {
    Program prog = Program.parse(SourceFile.of("s.nn", MODEL));
    Recipe r = Elaborator.recipe(prog, null);
    Elaborated e = Elaborator.elaborate(prog, null, N, LayerContext.Mode.TRAIN, r);
    Graph g = TrainingGraph.gradientsOnly(e.graph());
    Random rnd = new Random(3);
    Shape xs = Shape.of(N, 1, 8, 8);
    Shape ls = Shape.of(N, 8, 8);
    Shape ws = Shape.of(4, 1, 3, 3);
    double[] labels = new double[(int) ls.size()];
    for (int i = 0; i < labels.length; i++) {
      labels[i] = rnd.nextInt(4);
    }
    Map<String, Tensor> in = Map.of("image", new Tensor(xs, OpCases.sample(rnd, xs, OpCases.Domain.ANY)),
        "label", new Tensor(ls, labels));
    Tensor w = new Tensor(ws, OpCases.sample(rnd, ws, OpCases.Domain.ANY));
    Interpreter.Result ours = Interpreter.run(g, in, Map.of("conv2d1.weight", w));
    double loss = ours.outputs().get("loss").get(0);
    double[] grad = ours.outputs().get("grad:conv2d1.weight").data();

    org.bytedeco.pytorch.Tensor tw = TorchOps.tensor(w.data(), ws, true);
    org.bytedeco.pytorch.Tensor logits = TorchOps.conv2d(TorchOps.tensor(in.get("image").data(), xs, false), tw,
        Window.of(3, 1, 1), 1);
    org.bytedeco.pytorch.Tensor tl = torch.cross_entropy(logits, TorchOps.longs(labels).reshape(N, 8, 8));
    tl.backward();
    TorchParityTest.close(new double[] {tl.item_double()}, new double[] {loss}, "per-pixel cross-entropy");
    TorchParityTest.close(TorchOps.values(tw.grad()), grad, "dL/dW");

    // Finite differences of the loss in f64, on a few weights.
    double h = 1e-6;
    for (int i : new int[] {0, 7, 20, 35}) {
      double[] plus = w.data().clone();
      double[] minus = w.data().clone();
      plus[i] += h;
      minus[i] -= h;
      double lp = Interpreter.run(g, in, Map.of("conv2d1.weight", new Tensor(ws, plus))).outputs().get("loss").get(0);
      double lm = Interpreter.run(g, in, Map.of("conv2d1.weight", new Tensor(ws, minus))).outputs().get("loss").get(0);
      double fd = (lp - lm) / (2 * h);
      assertEquals(fd, grad[i], 1e-6 * Math.max(1, Math.abs(fd)), "dW[" + i + "]");
    }
  }

  @Test
  void aLabelMapOfAnotherSizeIsALocatedError() throws Exception {
    String text = MODEL.replace("size=8", "size=16");
    Program prog = Program.parse(SourceFile.of("s.nn", text));
    CompileException ex = org.junit.jupiter.api.Assertions.assertThrows(CompileException.class, () -> {
      Recipe r = Elaborator.recipe(prog, null);
      Elaborator.elaborate(prog, null, N, LayerContext.Mode.TRAIN, r);
    });
    assertTrue(ex.getMessage().contains("cross_entropy with [C, H, W] logits needs a class per pixel, integer labels "
        + "[8,8], got [16,16]"), ex.getMessage());
  }

  /**
   * A class per step of a sequence ({@code [T, C]} logits from a dense layer on every step, labels
   * {@code int[T]}): the mean loss and the dense weight's gradient match libtorch's
   * {@code cross_entropy} on the logits reshaped to {@code [N·T, C]}.
   */
  @Test
  void perStepCrossEntropyMatchesLibtorch() throws Exception {
    java.nio.file.Path text = java.nio.file.Files.createTempFile("t", ".txt");
    text.toFile().deleteOnExit();
    java.nio.file.Files.writeString(text, "abcd abcd dcba\n");
    String model = """
        model L {
          input chars: int[6]
          output logits = chars -> embedding(5, 3) -> dense(4)
        }
        train L {
          data = text("%s", length=6)
          loss = cross_entropy(logits, label)
          batch = 3
        }
        """.formatted(text.toString().replace("\\", "/"));
    Program prog = Program.parse(SourceFile.of("l.nn", model));
    Recipe r = Elaborator.recipe(prog, null);
    Elaborated e = Elaborator.elaborate(prog, null, N, LayerContext.Mode.TRAIN, r);
    Graph g = TrainingGraph.gradientsOnly(e.graph());
    Random rnd = new Random(5);
    Shape ids = Shape.of(N, 6);
    double[] x = new double[18];
    double[] y = new double[18];
    for (int i = 0; i < 18; i++) {
      x[i] = rnd.nextInt(5);
      y[i] = rnd.nextInt(4);
    }
    Tensor emb = new Tensor(Shape.of(5, 3), OpCases.sample(rnd, Shape.of(5, 3), OpCases.Domain.ANY));
    Tensor w = new Tensor(Shape.of(4, 3), OpCases.sample(rnd, Shape.of(4, 3), OpCases.Domain.ANY));
    Tensor b = new Tensor(Shape.of(4), OpCases.sample(rnd, Shape.of(4), OpCases.Domain.ANY));
    Interpreter.Result ours = Interpreter.run(g, Map.of("chars", new Tensor(ids, x), "label", new Tensor(ids, y)),
        Map.of("embedding1.weight", emb, "dense1.weight", w, "dense1.bias", b));
    org.bytedeco.pytorch.Tensor te = TorchOps.tensor(emb.data(), emb.shape(), false);
    org.bytedeco.pytorch.Tensor tw = TorchOps.tensor(w.data(), w.shape(), true);
    org.bytedeco.pytorch.Tensor tb = TorchOps.tensor(b.data(), b.shape(), true);
    org.bytedeco.pytorch.Tensor logits = torch.linear(torch.embedding(te, TorchOps.longs(x).reshape(N, 6)), tw,
        new org.bytedeco.pytorch.TensorOptional(tb));
    org.bytedeco.pytorch.Tensor tl = torch.cross_entropy(logits.reshape(-1, 4), TorchOps.longs(y));
    tl.backward();
    TorchParityTest.close(new double[] {tl.item_double()}, new double[] {ours.outputs().get("loss").get(0)},
        "per-step cross-entropy");
    TorchParityTest.close(TorchOps.values(tw.grad()), ours.outputs().get("grad:dense1.weight").data(), "dL/dW");
    TorchParityTest.close(TorchOps.values(tb.grad()), ours.outputs().get("grad:dense1.bias").data(), "dL/db");
  }
}
