package dev.nnc.frontend;

import dev.nnc.ir.Node;
import java.util.List;

/** A layer of the language: a named, parameterised builder of graph ops. */
public interface Layer {
  String name();

  /** Tensor operands the layer takes (1 for most, 2 for add); {@link #VARIADIC}: all leading tensors, at least 2. */
  default int operands() {
    return 1;
  }

  int VARIADIC = -1;

  /** All leading tensors, at least 1: the first is the input, the others optional (lengths, initial states). */
  int LEADING = -2;

  List<Args.Spec> specs();

  Node apply(LayerContext ctx, List<Node> in, Args args);

  /**
   * All the values the layer gives, its output first (a recurrent layer with
   * {@code return_state=true} also gives its final states): {@code y, h = x -> gru(32, return_state=true)}.
   */
  default List<Node> applyAll(LayerContext ctx, List<Node> in, Args args) {
    return List.of(apply(ctx, in, args));
  }

  /** The per-example shape for messages: {@code [784]} for a {@code [64,784]} tensor. */
  static dev.nnc.ir.Shape perExample(Node n) {
    return n.shape().rank() == 0 ? n.shape() : n.shape().dropFirst();
  }
}
