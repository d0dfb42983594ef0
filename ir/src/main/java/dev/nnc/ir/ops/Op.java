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
        Softmax, LogSoftmax, OneHot, DropoutMask, Conv2d, Patches, PatchesGrad, Permute, Concat,
        Slice, Winograd, Conv2dGradInput, Conv2dGradWeight, Embedding, EmbeddingGrad, Recurrence, RecurrenceGrad {

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

  // ------------------------------------------------------------------ traits
  // What passes need to know about an op, asked of the op instead of listing classes: a new op
  // states its traits once, here by overriding, and every pass treats it right.

  /**
   * Each output element is a function of operand elements at the same (broadcast) index, so the
   * op can be computed inside another kernel's loop nest instead of a kernel of its own.
   */
  default boolean elementwise() {
    return false;
  }

  /**
   * An element-wise op whose output has more elements than its operand reads (broadcast, one-hot):
   * fusing a producer into it would recompute each produced element many times.
   */
  default boolean expands() {
    return false;
  }

  /**
   * Each output element is one operand element at an index computed from the output's
   * (transpose, window extraction): a consumer that iterates the output's shape reads it in
   * place (so max pooling never builds its windows), and its operand is read from memory.
   */
  default boolean gather() {
    return false;
  }

  /** Sums or otherwise combines operand elements along axes: element-wise producers fuse into its reads. */
  default boolean reduction() {
    return false;
  }

  /**
   * A value that comes from outside the computation (an input, a parameter): it has a buffer of
   * its own, is never recomputed, merged or folded, and a rebuilt graph keeps it as it is.
   */
  default boolean leaf() {
    return false;
  }

  /**
   * Draws random numbers: two applications to the same operands are different values (CSE must
   * not merge them), and the value cannot move into a GEMM epilogue, whose loop order differs.
   */
  default boolean random() {
    return false;
  }

  /** The operand's data under another shape (reshape): no kernel, the operand's buffer. */
  default boolean view() {
    return false;
  }

  /**
   * For an integer operand that indexes something (class labels, later token ids): the exclusive
   * upper bound of its valid values, {@code [0, bound)}; 0 when the operand is not an index. The
   * runtime checks inputs against it before a kernel runs, so an op that indexes states it here
   * once and every caller (training loop, generated class) inherits the check.
   */
  default int indexBound(int operand) {
    return 0;
  }

  /**
   * {@link #indexBound(int)} when the bound depends on the operands' shapes (a recurrence's
   * lengths are at most its padded length): the bound for this application to {@code inputs}.
   */
  default int indexBound(int operand, List<Node> inputs) {
    return indexBound(operand);
  }

  /** The least valid value of an index operand (0; 1 for sequence lengths: an empty sequence is an error). */
  default int indexMin(int operand) {
    return 0;
  }

  /** What an index operand's values are, for messages: {@code class index}, {@code token id}. */
  default String indexNoun(int operand) {
    return "class index";
  }
}
