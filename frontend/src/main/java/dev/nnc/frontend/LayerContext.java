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

  /**
   * Whether the model is elaborated to run one step of its sequences at a time (the step program:
   * sequence inputs one element long, recurrent layers reading their state from inputs and giving
   * the new state as outputs, so that a caller carries it from step to step).
   */
  default boolean stepwise() {
    return false;
  }

  /** In the step program: the input {@code <layer path>.<local>} (per example {@code shape}) that holds a state. */
  default Node stateInput(String local, Shape shape) {
    throw new IllegalStateException("not elaborating a step program");
  }

  /** In the step program: the output {@code <layer path>.<local>} that gives a state's new value. */
  default void stateOutput(String local, Node value) {
    throw new IllegalStateException("not elaborating a step program");
  }

  /** In the step program: this layer cannot run step by step (why), so the model has no step program. */
  default void notSteppable(String why) {
  }
}
