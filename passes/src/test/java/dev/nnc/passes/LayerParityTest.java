package dev.nnc.passes;

import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Ops;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Layers that are compositions of ops (no op of their own) against libtorch, through the
 * language: the output and the gradient of {@code Σ y ⊙ r} with respect to the input.
 */
class LayerParityTest {
  static UnaryOperator<org.bytedeco.pytorch.Tensor> torchOf(String layer) {
    return switch (layer) {
      case "upsample(2)" -> t -> torch.upsample_nearest2d(t, new long[] {10, 8});
      case "upsample([3, 1])" -> t -> torch.upsample_nearest2d(t, new long[] {15, 4});
      case "zeropad(1)" -> t -> torch.constant_pad_nd(t, 1, 1, 1, 1);
      case "zeropad([1, 0, 2, 3])" -> t -> torch.constant_pad_nd(t, 0, 3, 1, 2);   // (left, right, top, bottom)
      // PReLU with its initial slope 0.25 on each of the 3 channels.
      case "prelu" -> t -> torch.prelu(t, TorchOps.tensor(new double[] {0.25, 0.25, 0.25}, dev.nnc.ir.Shape.of(3), false));
      case "flatten -> maxout(4)" -> t -> t.reshape(2, 15, 4).amax(new long[] {2}, false);
      default -> throw new IllegalArgumentException(layer);
    };
  }

  @ParameterizedTest
  @ValueSource(strings = {"upsample(2)", "upsample([3, 1])", "zeropad(1)", "zeropad([1, 0, 2, 3])", "prelu",
      "flatten -> maxout(4)"})
  void layerMatchesLibtorch(String layer) throws Exception {
    String text = "model M {\n  input x: [3, 5, 4]\n  output y = x -> " + layer + "\n}\n";
    Program p = Program.parse(SourceFile.of("l.nn", text));
    Elaborated e = Elaborator.elaborate(p, null, 2, LayerContext.Mode.INFER, null);
    Graph.Builder b = e.graph().toBuilder();
    Node x = e.graph().input("x");
    Node y = e.graph().output("y");
    Node r = b.addTyped(new Input("r"), List.of(), TensorType.f32(y.shape()));
    Node grad = Autodiff.gradients(b, Ops.sumAll(b, Ops.mul(b, y, r)), List.of(x)).get(x);
    b.output("dx", grad);
    Random rnd = new Random(layer.hashCode());
    Tensor xv = new Tensor(x.shape(), OpCases.sample(rnd, x.shape(), OpCases.Domain.ANY));
    Tensor rv = new Tensor(y.shape(), OpCases.sample(rnd, y.shape(), OpCases.Domain.ANY));
    // Parameters (prelu's slope) at their constant initial values, as libtorch's side has them.
    Map<String, Tensor> params = new java.util.HashMap<>();
    for (Node n : e.graph().params()) {
      dev.nnc.ir.ops.Param pp = (dev.nnc.ir.ops.Param) n.op();
      double[] v = new double[(int) n.shape().size()];
      java.util.Arrays.fill(v, pp.init().value());
      params.put(pp.name(), new Tensor(n.shape(), v));
    }
    Interpreter.Result ours = Interpreter.run(b.build(), Map.of("x", xv, "r", rv), params);
    org.bytedeco.pytorch.Tensor tx = TorchOps.tensor(xv.data(), xv.shape(), true);
    org.bytedeco.pytorch.Tensor ty = torchOf(layer).apply(tx);
    TorchParityTest.close(TorchOps.values(ty), ours.outputs().get("y").data(), layer + " forward");
    ty.mul(TorchOps.tensor(rv.data(), rv.shape(), false)).sum().backward();
    TorchParityTest.close(TorchOps.values(tx.grad()), ours.outputs().get("dx").data(), layer + " dx");
  }
}
