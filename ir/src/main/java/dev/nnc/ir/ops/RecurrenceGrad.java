package dev.nnc.ir.ops;

import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * Backpropagation through time of a {@link Recurrence}: from its trace, the hidden weight
 * {@code w_hh} and the gradient {@code dstate} of the trace's state slots ({@code [B, T+1,
 * stateSlots·H]}: h, y, and c for an LSTM; the lengths follow when masked) it runs the
 * cell's derivative over the steps in the opposite order, carrying the state's gradient from step
 * to step, and gives {@code [B, T+1, Cell.gradSlots·H]}: in each step's row the gradient of the
 * gates' pre-activations on the input side ({@code dxw}, G·H values; for a GRU then those on the
 * hidden side, which differ in the n gate: {@code r ⊙ dn}), and in the initial state's row the
 * gradient of {@code h0} (then of {@code c0} for an LSTM, then zeros). Steps past a sequence's
 * length pass the state's gradient through and have zero gate gradients.
 *
 * <pre>
 *   %9 = recurrence_grad[cell=lstm, hidden=128, reverse=false, masked=false](%trace, %whh, %dstate) : f32[64,61,512]
 * </pre>
 */
public record RecurrenceGrad(Recurrence.Cell cell, int hidden, boolean reverse, boolean masked) implements Op {
  @Override
  public String mnemonic() {
    return "recurrence_grad";
  }

  @Override
  public String attributes() {
    return "cell=" + cell.text() + ", hidden=" + hidden + ", reverse=" + reverse + ", masked=" + masked;
  }

  /** trace, w_hh, dstate, then lengths when masked. */
  @Override
  public int arity() {
    return masked ? 4 : 3;
  }

  /** The recurrence this differentiates. */
  public Recurrence forward() {
    return new Recurrence(cell, hidden, reverse, masked);
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape trace = in.get(0).shape();
    int width = cell.slots * hidden;
    if (trace.rank() != 3 || trace.dim(2) != width || trace.dim(1) < 2) {
      throw new ShapeException(cell.text() + " recurrence_grad expects a trace [batch, time+1, " + width + "], got "
          + trace);
    }
    if (!in.get(1).shape().equals(Shape.of(cell.gates * hidden, hidden))) {
      throw new ShapeException("recurrence_grad hidden weight must be [" + cell.gates * hidden + ", " + hidden
          + "], got " + in.get(1).shape());
    }
    Shape state = Shape.of(trace.dim(0), trace.dim(1), cell.stateSlots * hidden);
    if (!in.get(2).shape().equals(state)) {
      throw new ShapeException("recurrence_grad: the state's gradient " + in.get(2).shape() + " is not " + state
          + " (the trace's " + cell.stateSlots + " state slots)");
    }
    if (masked) {
      Node len = in.get(3);
      if (len.dtype() != DType.I32 || len.shape().size() != trace.dim(0) || len.shape().dim(0) != trace.dim(0)) {
        throw new ShapeException("recurrence_grad lengths must be i32[" + trace.dim(0) + "], got "
            + len.dtype().text() + len.shape());
      }
    }
    return TensorType.f32(Shape.of(trace.dim(0), trace.dim(1), cell.gradSlots * hidden));
  }

  /**
   * Second derivatives through time are not part of any training the language describes (no
   * gradient penalties): asked for, they are an error rather than a silent zero.
   */
  /** Lengths count steps: {@code [1, T]}, checked when the input is set. */
  @Override
  public int indexBound(int operand, List<Node> inputs) {
    return masked && operand == 3 ? inputs.get(0).shape().dim(1) : 0;
  }

  @Override
  public int indexMin(int operand) {
    return masked && operand == 3 ? 1 : 0;
  }

  @Override
  public String indexNoun(int operand) {
    return "sequence length";
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    throw new UnsupportedOperationException("the gradient of recurrence_grad (a second derivative through time) "
        + "is not supported");
  }
}
