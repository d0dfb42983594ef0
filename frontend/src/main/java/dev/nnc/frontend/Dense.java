package dev.nnc.frontend;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.MatMul;
import java.util.List;

/**
 * {@code dense(units, bias=true, init=glorot_uniform, bias_init=zeros)}: {@code y = x · Wᵀ + b}
 * with {@code W[units, in]} as in PyTorch's Linear, so weights move by name.
 */
final class Dense implements Layer {
  @Override
  public String name() {
    return "dense";
  }

  @Override
  public List<Args.Spec> specs() {
    return List.of(Args.Spec.required("units"), Args.Spec.sym("bias", "true"),
        Args.Spec.sym("init", "glorot_uniform"), Args.Spec.sym("bias_init", "zeros"));
  }

  @Override
  public Node apply(LayerContext ctx, List<Node> in, Args a) {
    Node x = in.get(0);
    int units = a.positiveInt("units");
    if (x.shape().rank() != 2) {
      throw new LayerException("dense expects a [features] input, got " + Layer.perExample(x),
          "flatten it first: `-> flatten -> dense(" + units + ")`");
    }
    Graph.Builder b = ctx.graph();
    Node w = ctx.param("weight", Shape.of(units, x.shape().dim(1)), Inits.parse(a.get("init"), "dense weights"));
    Node y = b.add(new MatMul(false, true), x, w);
    if (a.bool("bias")) {
      Node bias = ctx.param("bias", Shape.of(units), Inits.parse(a.get("bias_init"), "dense bias"));
      y = b.add(new Binary(BinaryFn.ADD), y, bias);
    }
    return y;
  }
}
