package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import java.util.List;

/** A scalar constant; binary ops broadcast it. */
public record Constant(double value) implements Op {
  @Override
  public String mnemonic() {
    return "const";
  }

  @Override
  public String attributes() {
    return "value=" + value;
  }

  @Override
  public int arity() {
    return 0;
  }

  @Override
  public TensorType infer(List<Node> inputs) {
    return TensorType.f32(Shape.SCALAR);
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return List.of();
  }
}
