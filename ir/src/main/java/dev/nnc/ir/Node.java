package dev.nnc.ir;

import dev.nnc.ir.ops.Op;
import java.util.List;

/**
 * One SSA value of a graph: an op applied to earlier nodes. Nodes are immutable; passes build new
 * graphs. {@code id} is unique within its graph and orders nodes topologically.
 */
public record Node(int id, Op op, List<Node> inputs, Shape shape, DType dtype) {
  public Node {
    inputs = List.copyOf(inputs);
  }

  public Node input(int i) {
    return inputs.get(i);
  }

  @Override
  public boolean equals(Object o) {
    return this == o;
  }

  @Override
  public int hashCode() {
    return System.identityHashCode(this);
  }

  @Override
  public String toString() {
    return "%" + id + " = " + op.mnemonic() + " : " + dtype.text() + shape;
  }
}
