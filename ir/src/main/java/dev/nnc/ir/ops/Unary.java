package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.TensorType;
import java.util.List;

/** {@code y = fn(x)} element-wise; {@code alpha} parameterises leaky_relu and elu. */
public record Unary(UnaryFn fn, double alpha) implements Op {
  @Override
  public boolean elementwise() {
    return true;
  }

  @Override
  public String mnemonic() {
    return fn.text();
  }

  @Override
  public String attributes() {
    return fn.hasAlpha() ? "alpha=" + alpha : "";
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    return TensorType.f32(in.get(0).shape());
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return List.of(fn.gradient(b, self.input(0), self, dy, alpha));
  }
}
