package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * A tensor operation. Each op is one record (its attributes) in one file, holding its shape rule
 * and gradient rule; operands live on {@link Node}s. Printer, parser, interpreter and back ends
 * switch over this sealed type without a default branch, so a new op fails compilation wherever
 * it is not handled yet.
 */
public sealed interface Op
    permits Input, Param, Constant, MatMul, Unary, Binary, Reduce, Broadcast, SumTo, Reshape,
        Softmax, LogSoftmax, OneHot, DropoutMask {

  /** The op's name in IR text ({@code matmul}, {@code relu}). */
  String mnemonic();

  /** Attributes in IR text, {@code key=value} separated by commas; empty when none. */
  default String attributes() {
    return "";
  }

  /** Number of operands, or -1 for variadic. */
  int arity();

  /** The shape and dtype rule; throws {@link dev.nnc.ir.ShapeException} with a readable message. */
  TensorType infer(List<Node> inputs);

  /**
   * The gradient rule: given {@code dy} (the gradient of the loss with respect to {@code self}),
   * returns one gradient per operand, built with other graph ops; null where an operand takes no
   * gradient (integer inputs, masks).
   */
  List<Node> gradients(Graph.Builder b, Node self, Node dy);

  /**
   * For an integer operand that indexes something (class labels, later token ids): the exclusive
   * upper bound of its valid values, {@code [0, bound)}; 0 when the operand is not an index. The
   * runtime checks inputs against it before a kernel runs, so an op that indexes states it here
   * once and every caller (training loop, generated class) inherits the check.
   */
  default int indexBound(int operand) {
    return 0;
  }
}
