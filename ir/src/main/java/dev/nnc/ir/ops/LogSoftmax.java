package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/** {@code y = x - max - log Σ exp(x - max)} over the last axis; the stable core of cross-entropy. */
public record LogSoftmax() implements Op {
  @Override
  public String mnemonic() {
    return "log_softmax";
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    if (in.get(0).shape().rank() < 1) {
      throw new ShapeException("log_softmax needs at least one axis, got a scalar");
    }
    return TensorType.f32(in.get(0).shape());
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    // dx = dy − exp(y) · Σ_j dy_j
    Node sum = Ops.reduceKeep(b, ReduceFn.SUM, dy, -1);
    return List.of(Ops.sub(b, dy, Ops.mul(b, Ops.unary(b, UnaryFn.EXP, self), sum)));
  }
}
