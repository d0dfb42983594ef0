package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.TensorType;
import java.util.List;

/** A value supplied by the caller at every run (a batch of images, labels). */
public record Input(String name) implements Op {
  @Override
  public boolean leaf() {
    return true;
  }

  @Override
  public String mnemonic() {
    return "input";
  }

  @Override
  public String attributes() {
    return "name=\"" + name + "\"";
  }

  @Override
  public int arity() {
    return 0;
  }

  @Override
  public TensorType infer(List<Node> inputs) {
    throw new UnsupportedOperationException("an input's type is declared, not inferred");
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return List.of();
  }
}
