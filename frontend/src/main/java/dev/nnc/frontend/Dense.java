package dev.nnc.frontend;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Ops;
import java.util.List;

/**
 * {@code dense(units, bias=true, init=glorot_uniform, bias_init=zeros)}: {@code y = x · Wᵀ + b}
 * with {@code W[units, in]} as in PyTorch's Linear, so weights move by name. On a sequence
 * {@code [T, in]} it applies to every step (the last axis, as PyTorch's Linear): {@code [T, units]},
 * one GEMM over all steps.
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
    Graph.Builder b = ctx.graph();
    if (x.shape().rank() == 3) {
      // Every step of a sequence: [B, T, in] as B·T rows.
      int batch = x.shape().dim(0);
      int steps = x.shape().dim(1);
      Node rows = Ops.reshape(b, x, Shape.of(Math.multiplyExact(batch, steps), x.shape().dim(2)));
      return Ops.reshape(b, project(ctx, rows, units, a), Shape.of(batch, steps, units));
    }
    if (x.shape().rank() != 2) {
      throw new LayerException("dense expects a [features] input (or a sequence [time, features]), got "
          + Layer.perExample(x), "flatten it first: `-> flatten -> dense(" + units + ")`");
    }
    return project(ctx, x, units, a);
  }

  private static Node project(LayerContext ctx, Node x, int units, Args a) {
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
