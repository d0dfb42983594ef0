package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * A tensor that lives across runs: a trainable weight, a frozen one, or state (optimizer moments,
 * the step counter). Its name is its path in {@code nnc summary} and in weight files.
 */
public record Param(String name, Role role, Init init) implements Op {
  @Override
  public boolean leaf() {
    return true;
  }

  /**
   * What a parameter is for; only {@link #WEIGHT} takes gradients. {@link #BUFFER} is model state
   * that training updates without gradients and that weight files carry (BatchNorm's running
   * statistics, PyTorch's "buffers"); {@link #STATE} is the training loop's own (optimizer
   * moments, step, learning rate), kept in checkpoints only. {@link #DERIVED} is computed from the
   * others by the {@code prepare} program ({@code hoist-weights}): never saved, recomputed
   * whenever the weights change.
   */
  public enum Role {
    WEIGHT,
    FROZEN,
    STATE,
    BUFFER,
    DERIVED;

    public String text() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  @Override
  public String mnemonic() {
    return "param";
  }

  @Override
  public String attributes() {
    return "name=\"" + name + "\", role=" + role.text() + ", init=" + init;
  }

  @Override
  public int arity() {
    return 0;
  }

  @Override
  public TensorType infer(List<Node> inputs) {
    throw new UnsupportedOperationException("a parameter's type is declared, not inferred");
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return List.of();
  }
}
