package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/** {@code y = exp(x - max) / Σ exp(x - max)} over the last axis. */
public record Softmax() implements Op {
  @Override
  public String mnemonic() {
    return "softmax";
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    if (in.get(0).shape().rank() < 1) {
      throw new ShapeException("softmax needs at least one axis, got a scalar");
    }
    return TensorType.f32(in.get(0).shape());
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    // dx = y ⊙ (dy − Σ_j dy_j y_j)
    Node dot = Ops.reduceKeep(b, ReduceFn.SUM, Ops.mul(b, dy, self), -1);
    return List.of(Ops.mul(b, self, Ops.sub(b, dy, dot)));
  }
}
