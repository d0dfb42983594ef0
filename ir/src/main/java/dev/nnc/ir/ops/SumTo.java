package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * The adjoint of broadcasting: sums the dimensions that {@code target} broadcasts over
 * ({@code sum_to[shape=[10]](dy[64,10])} sums the batch away, the gradient of a bias).
 */
public record SumTo(Shape target) implements Op {
  @Override
  public boolean reduction() {
    return true;
  }

  @Override
  public String mnemonic() {
    return "sum_to";
  }

  @Override
  public String attributes() {
    return "shape=" + target;
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    if (!target.broadcastsTo(in.get(0).shape())) {
      throw new ShapeException("cannot sum " + in.get(0).shape() + " down to " + target);
    }
    return TensorType.f32(target);
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return List.of(Ops.broadcastTo(b, dy, self.input(0).shape()));
  }
}
