package dev.nnc.passes;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.ops.Input;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Each loss of the language, written in a model ({@code p = x·Wᵀ}, then the loss): the mean loss
 * and dL/dW match libtorch's functional loss, and dL/dW matches finite differences.
 */
class LossParityTest {
  static final int N = 5;
  static final int F = 4;
  static final int C = 3;

  record Built(Graph graph, Map<String, Tensor> inputs, Map<String, Tensor> params) {}

  static Built build(String loss, boolean integerLabels, String head, long seed) throws Exception {
    Path csv = Files.createTempFile("loss", ".csv");
    csv.toFile().deleteOnExit();
    StringBuilder header = new StringBuilder();
    for (int i = 0; i < F; i++) {
      header.append("f").append(i).append(',');
    }
    String target = integerLabels ? "label=\"y\"" : "target=[\"t0\", \"t1\", \"t2\"]";
    header.append(integerLabels ? "y" : "t0,t1,t2");
    Files.writeString(csv, header + "\n");
    String text = """
        model M {
          input x: [%d]
          output p = x -> dense(%d, bias=false)%s
        }
        train M {
          data = csv("%s", %s)
          loss = %s
          batch = %d
        }
        """.formatted(F, C, head, csv.toString().replace("\\", "/"), target, loss, N);
    Program prog = Program.parse(SourceFile.of("loss.nn", text));
    Recipe r = Elaborator.recipe(prog, null);
    Elaborated e = Elaborator.elaborate(prog, null, N, LayerContext.Mode.TRAIN, r);
    Graph g = TrainingGraph.gradientsOnly(e.graph());
    Random rnd = new Random(seed);
    Map<String, Tensor> inputs = new HashMap<>();
    for (Node n : g.inputs()) {
      String name = ((Input) n.op()).name();
      double[] v = new double[(int) n.shape().size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = switch (name) {
          case "label" -> rnd.nextInt(C);
          case "target" -> loss.startsWith("cross_entropy") ? 0 : rnd.nextDouble();
          default -> rnd.nextGaussian();
        };
      }
      if (name.equals("target") && loss.startsWith("cross_entropy")) {
        for (int row = 0; row < N; row++) {
          v[row * C + rnd.nextInt(C)] = 1; // one-hot targets
        }
      }
      inputs.put(name, new Tensor(n.shape(), v));
    }
    Map<String, Tensor> params = new HashMap<>();
    params.put("dense1.weight", new Tensor(Shape.of(C, F), OpCases.sample(rnd, Shape.of(C, F), OpCases.Domain.ANY)));
    return new Built(g, inputs, params);
  }

  static org.bytedeco.pytorch.Tensor torchLoss(String loss, org.bytedeco.pytorch.Tensor p,
      org.bytedeco.pytorch.Tensor t) {
    String fn = loss.substring(0, loss.indexOf('('));
    return switch (fn) {
      case "cross_entropy" -> torch.cross_entropy(p, t);
      case "bce" -> torch.binary_cross_entropy(p, t);
      case "bce_logits" -> torch.binary_cross_entropy_with_logits(p, t);
      case "mse" -> torch.mse_loss(p, t);
      case "mae" -> torch.l1_loss(p, t);
      default -> throw new IllegalArgumentException(fn);
    };
  }

  @ParameterizedTest
  @ValueSource(strings = {"cross_entropy(p, label)|int|", "cross_entropy(p, target)|onehot|", "bce(p, target)||sigmoid",
      "bce_logits(p, target)||", "mse(p, target)||", "mae(p, target)||"})
  void lossAndGradientMatchTorchAndFiniteDifferences(String spec) throws Exception {
    String[] s = spec.split("\\|", -1);
    boolean ints = s[1].equals("int");
    String head = s[2].isEmpty() ? "" : " -> " + s[2];
    Built b = build(s[0], ints, head, spec.hashCode());
    Interpreter.Result ours = Interpreter.run(b.graph(), b.inputs(), b.params());
    double loss = ours.outputs().get("loss").get(0);
    double[] grad = ours.outputs().get("grad:dense1.weight").data();

    Tensor w = b.params().get("dense1.weight");
    Tensor x = b.inputs().get("x");
    org.bytedeco.pytorch.Tensor tw = TorchOps.tensor(w.data(), w.shape(), true);
    org.bytedeco.pytorch.Tensor tp = TorchOps.tensor(x.data(), x.shape(), false).matmul(tw.t());
    if (!head.isEmpty()) {
      tp = torch.sigmoid(tp);
    }
    org.bytedeco.pytorch.Tensor target = ints ? TorchOps.longs(b.inputs().get("label").data())
        : TorchOps.tensor(b.inputs().get("target").data(), b.inputs().get("target").shape(), false);
    org.bytedeco.pytorch.Tensor tl = torchLoss(s[0], tp, target);
    tl.backward();
    double want = tl.item_double();
    assertTrue(Math.abs(want - loss) <= 1e-4 * Math.max(1, Math.abs(want)), spec + ": loss torch " + want + " nnc " + loss);
    TorchParityTest.close(TorchOps.values(tw.grad()), grad, spec + " dL/dW");

    GradientCheckTest.assertMatchesFiniteDifferences(spec, b.graph(), b.inputs(), b.params(), "dense1.weight", grad);
  }
}
