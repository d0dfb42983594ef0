package dev.nnc.frontend;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Init;

/** What a layer sees while it is applied: the graph, the mode, and its own parameter namespace. */
public interface LayerContext {
  /** Whether the graph is for training (dropout active) or inference. */
  enum Mode {
    TRAIN,
    INFER
  }

  Graph.Builder graph();

  Mode mode();

  /** Creates the layer's parameter {@code <layer path>.<local>}, e.g. {@code dense1.weight}. */
  Node param(String local, Shape shape, Init init);

  /**
   * Creates the layer's buffer {@code <layer path>.<local>}: state that training updates without
   * gradients (through {@code graph().update}) and that weight files carry, like BatchNorm's
   * running statistics. Not counted as a parameter.
   */
  Node buffer(String local, Shape shape, Init init);

  /** The step counter (a scalar state), created on first use. */
  Node step();

  /** A number unique to each random op of the model, so their masks differ. */
  int nextSalt();
}
