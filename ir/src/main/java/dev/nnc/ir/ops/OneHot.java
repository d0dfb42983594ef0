package dev.nnc.ir.ops;

import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.Arrays;
import java.util.List;

/** Integer labels {@code [N]} to rows of zeros with a one: {@code [N, classes]}. No gradient. */
public record OneHot(int classes) implements Op {
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
    return "one_hot";
  }

  @Override
  public String attributes() {
    return "classes=" + classes;
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Node labels = in.get(0);
    if (labels.dtype() != DType.I32) {
      throw new ShapeException("one_hot expects integer labels, got " + labels.dtype().text() + labels.shape());
    }
    int[] d = Arrays.copyOf(labels.shape().dims(), labels.shape().rank() + 1);
    d[d.length - 1] = classes;
    return TensorType.f32(new dev.nnc.ir.Shape(d));
  }

  /** Labels are class indices in {@code [0, classes)}. */
  @Override
  public int indexBound(int operand) {
    return classes;
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return Ops.grads((Node) null);
  }
}
