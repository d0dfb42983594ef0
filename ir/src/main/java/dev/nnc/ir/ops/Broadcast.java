package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/** Stretches size-1 (or missing leading) dimensions to {@code target}: {@code [64,1] → [64,10]}. */
public record Broadcast(Shape target) implements Op {
  @Override
  public boolean elementwise() {
    return true;
  }

  @Override
  public boolean expands() {
    return true;
  }

  @Override
  public String mnemonic() {
    return "broadcast";
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
    if (!in.get(0).shape().broadcastsTo(target)) {
      throw new ShapeException("cannot broadcast " + in.get(0).shape() + " to " + target);
    }
    return TensorType.f32(target);
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return List.of(Ops.sumTo(b, dy, self.input(0).shape()));
  }
}
