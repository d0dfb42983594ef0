package dev.nnc.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Param;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The {@code batchnorm} layer against libtorch's {@code batch_norm}, on [C, H, W] (BatchNorm2d) and
 * [features] (BatchNorm1d) inputs: in training the output, the gradients of {@code Σ y ⊙ r} with
 * respect to the input, γ and β (libtorch's autograd, and finite differences), and the new running
 * mean and variance; in inference the output from the running statistics.
 */
class BatchNormParityTest {
  record Built(Graph graph, Node x, List<Node> wrt, Map<String, Tensor> inputs, Map<String, Tensor> params) {}

  static Built build(String shape, int batch, LayerContext.Mode mode, long seed) throws Exception {
    String text = """
        model M {
          input x: %s
          output y = x -> batchnorm(momentum=0.3, eps=0.001)
        }
        """.formatted(shape);
    Program p = Program.parse(SourceFile.of("bn.nn", text));
    Elaborated e = Elaborator.elaborate(p, null, batch, mode, null);
    Graph.Builder b = e.graph().toBuilder();
    Node x = e.graph().input("x");
    Node y = e.graph().output("y");
    Node r = b.addTyped(new Input("r"), List.of(), TensorType.f32(y.shape()));
    Node loss = Ops.sumAll(b, Ops.mul(b, y, r));
    List<Node> wrt = new ArrayList<>(List.of(x));
    Random rnd = new Random(seed);
    Map<String, Tensor> params = new HashMap<>();
    for (Node n : e.graph().params()) {
      Param pp = (Param) n.op();
      if (pp.role() == Param.Role.WEIGHT) {
        wrt.add(n);
      }
      double[] v = OpCases.sample(rnd, n.shape(), pp.name().endsWith("var") ? OpCases.Domain.POSITIVE : OpCases.Domain.ANY);
      params.put(pp.name(), new Tensor(n.shape(), v));
    }
    Map<Node, Node> grads = Autodiff.gradients(b, loss, wrt);
    b.output("loss", loss);
    for (int i = 0; i < wrt.size(); i++) {
      b.output("grad" + i, grads.get(wrt.get(i)));
    }
    Map<String, Tensor> inputs = new HashMap<>();
    inputs.put("x", new Tensor(x.shape(), OpCases.sample(rnd, x.shape(), OpCases.Domain.ANY)));
    inputs.put("r", new Tensor(y.shape(), OpCases.sample(rnd, y.shape(), OpCases.Domain.ANY)));
    return new Built(b.build(), x, wrt, inputs, params);
  }

  @ParameterizedTest
  @CsvSource({"'[3, 4, 5]', 2", "'[2, 3, 3]', 3", "'[5]', 7", "'[1, 2, 2]', 1"})
  void trainingMatchesLibtorch(String shape, int batch) throws Exception {
    Built bt = build(shape, batch, LayerContext.Mode.TRAIN, shape.hashCode() + batch);
    Interpreter.Result ours = Interpreter.run(bt.graph(), bt.inputs(), bt.params());
    Tensor x = bt.inputs().get("x");
    org.bytedeco.pytorch.Tensor tx = TorchOps.tensor(x.data(), x.shape(), true);
    Tensor g = bt.params().get("batchnorm1.weight");
    Tensor be = bt.params().get("batchnorm1.bias");
    org.bytedeco.pytorch.Tensor tg = TorchOps.tensor(g.data(), g.shape(), true);
    org.bytedeco.pytorch.Tensor tb = TorchOps.tensor(be.data(), be.shape(), true);
    Tensor rm = bt.params().get("batchnorm1.running_mean");
    Tensor rv = bt.params().get("batchnorm1.running_var");
    org.bytedeco.pytorch.Tensor trm = TorchOps.tensor(rm.data(), rm.shape(), false);
    org.bytedeco.pytorch.Tensor trv = TorchOps.tensor(rv.data(), rv.shape(), false);
    org.bytedeco.pytorch.Tensor ty = torch.batch_norm(tx, new TensorOptional(tg), new TensorOptional(tb),
        new TensorOptional(trm), new TensorOptional(trv), true, 0.3, 0.001, false);
    TorchParityTest.close(TorchOps.values(ty), ours.outputs().get("y").data(), shape + " forward");
    Tensor r = bt.inputs().get("r");
    ty.mul(TorchOps.tensor(r.data(), r.shape(), false)).sum().backward();
    TorchParityTest.close(TorchOps.values(tx.grad()), ours.outputs().get("grad0").data(), shape + " dx");
    List<org.bytedeco.pytorch.Tensor> tw = List.of(tg, tb);
    for (int i = 1; i < bt.wrt().size(); i++) {
      String name = ((Param) bt.wrt().get(i).op()).name();
      TorchParityTest.close(TorchOps.values(name.endsWith("weight") ? tg.grad() : tb.grad()),
          ours.outputs().get("grad" + i).data(), shape + " d" + name);
    }
    // libtorch updated its running statistics in place.
    TorchParityTest.close(TorchOps.values(trm), ours.updates().get("batchnorm1.running_mean").data(), "running_mean");
    TorchParityTest.close(TorchOps.values(trv), ours.updates().get("batchnorm1.running_var").data(), "running_var");
    assertEquals(2, ours.updates().size());
    // Finite differences through the batch statistics, for γ, β (the input's gradient is checked above).
    for (int i = 1; i < bt.wrt().size(); i++) {
      String name = ((Param) bt.wrt().get(i).op()).name();
      GradientCheckTest.assertMatchesFiniteDifferences(shape, bt.graph(), bt.inputs(), bt.params(), name,
          ours.outputs().get("grad" + i).data());
    }
  }

  @ParameterizedTest
  @CsvSource({"'[3, 4, 5]', 2", "'[5]', 7"})
  void inferenceUsesRunningStatistics(String shape, int batch) throws Exception {
    Built bt = build(shape, batch, LayerContext.Mode.INFER, 11);
    Interpreter.Result ours = Interpreter.run(bt.graph(), bt.inputs(), bt.params());
    Tensor x = bt.inputs().get("x");
    org.bytedeco.pytorch.Tensor ty = torch.batch_norm(TorchOps.tensor(x.data(), x.shape(), false),
        new TensorOptional(t(bt, "weight")), new TensorOptional(t(bt, "bias")), new TensorOptional(t(bt, "running_mean")),
        new TensorOptional(t(bt, "running_var")), false, 0.3, 0.001, false);
    TorchParityTest.close(TorchOps.values(ty), ours.outputs().get("y").data(), shape + " inference");
    assertEquals(0, ours.updates().size());
  }

  private static org.bytedeco.pytorch.Tensor t(Built bt, String local) {
    Tensor v = bt.params().get("batchnorm1." + local);
    return TorchOps.tensor(v.data(), v.shape(), false);
  }
}
