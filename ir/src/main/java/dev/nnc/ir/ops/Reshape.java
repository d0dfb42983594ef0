package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/** Same elements, new shape (row-major): {@code [64,1,28,28] → [64,784]}. Costs no copy. */
public record Reshape(Shape target) implements Op {
  @Override
  public boolean view() {
    return true;
  }

  @Override
  public String mnemonic() {
    return "reshape";
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
    Node x = in.get(0);
    if (x.shape().size() != target.size()) {
      throw new ShapeException("cannot reshape " + x.shape() + " (" + x.shape().size() + " elements) to "
          + target + " (" + target.size() + " elements)");
    }
    return new TensorType(target, x.dtype());
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return List.of(Ops.reshape(b, dy, self.input(0).shape()));
  }
}
