package dev.nnc.frontend;

import dev.nnc.ir.Node;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import java.util.List;

/**
 * Activations as layers: {@code -> relu}, {@code -> leaky_relu(0.2)}, {@code -> softmax}.
 * {@code linear} is the identity.
 */
final class Activation implements Layer {
  private final String name;
  private final UnaryFn fn;

  Activation(String name, UnaryFn fn) {
    this.name = name;
    this.fn = fn;
  }

  static List<Layer> all() {
    return List.of(
        new Activation("relu", UnaryFn.RELU),
        new Activation("leaky_relu", UnaryFn.LEAKY_RELU),
        new Activation("elu", UnaryFn.ELU),
        new Activation("sigmoid", UnaryFn.SIGMOID),
        new Activation("tanh", UnaryFn.TANH),
        new Activation("softsign", UnaryFn.SOFTSIGN),
        new Activation("softplus", UnaryFn.SOFTPLUS),
        new Activation("gelu", UnaryFn.GELU),
        new Activation("swish", UnaryFn.SWISH),
        new Activation("sign", UnaryFn.SIGN),
        new Activation("step", UnaryFn.STEP),
        new Activation("exp", UnaryFn.EXP),
        new Activation("log", UnaryFn.LOG),
        new Activation("abs", UnaryFn.ABS),
        new Activation("sqrt", UnaryFn.SQRT),
        new Activation("square", UnaryFn.SQUARE),
        new Activation("linear", null),
        new Activation("softmax", null),
        new Activation("log_softmax", null));
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public List<Args.Spec> specs() {
    return fn != null && fn.hasAlpha() ? List.of(Args.Spec.of("alpha", fn.defaultAlpha())) : List.of();
  }

  @Override
  public Node apply(LayerContext ctx, List<Node> in, Args a) {
    Node x = in.get(0);
    return switch (name) {
      case "linear" -> x;
      case "softmax" -> ctx.graph().add(new Softmax(), x);
      case "log_softmax" -> ctx.graph().add(new LogSoftmax(), x);
      default -> ctx.graph().add(new Unary(fn, fn.hasAlpha() ? a.num("alpha") : fn.defaultAlpha()), x);
    };
  }
}
