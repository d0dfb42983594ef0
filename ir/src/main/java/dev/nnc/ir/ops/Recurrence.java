package dev.nnc.ir.ops;

import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.ArrayList;
import java.util.List;

/**
 * A recurrent layer's loop over time, one op in the graph however long the sequence (a scan with
 * a fixed cell): from the input projections {@code xw[B, T, G·H]} (the input's product with
 * {@code W_ih} and its bias for all steps at once, computed before the loop by an ordinary matmul),
 * the hidden weight {@code w_hh[G·H, H]} and bias {@code b_hh[G·H]}, and the initial state
 * {@code h0[B, H]} (and {@code c0[B, H]} for an LSTM), it runs the cell over the time steps, last to
 * first when {@code reverse}, and gives its <em>trace</em> {@code [B, T+1, S·H]}: one row per step
 * and one for the initial state, each row the step's {@link Cell#slots slots} of {@code H} values.
 * Slot 0 is the state {@code h}, slot 1 the output {@code y} (h where the step is within the
 * sequence's length, 0 past it), then the cell's values the backward pass needs (an LSTM's cell
 * state and gate activations). Step {@code t}'s row is {@code t+1} ({@code t} when reversed); the
 * initial state is row 0 (row {@code T} when reversed), so the states before the steps are the
 * rows {@code [0, T)} ({@code [1, T+1)}) and the final state is the last step's row.
 *
 * <p>With {@code masked}, a last operand {@code lengths: i32[B]} gives each sequence's length:
 * steps at {@code t >= length} keep the state unchanged and output 0, so a padded batch gives
 * what each sequence gives alone (PyTorch's packed sequences). Gates follow PyTorch's order and
 * formulas: LSTM {@code i, f, g, o}, GRU {@code r, z, n} with {@code n = tanh(xw_n + r ⊙ (W_hn h +
 * b_hn))}, and the simple RNN {@code h' = tanh(xw + W_hh h + b_hh)}.
 *
 * <p>The gradient is {@link RecurrenceGrad}, a loop over the same steps backwards through the
 * stored trace; the weight gradients are then single large products over all steps. Only the
 * leading {@link Cell#stateSlots} slots (h, y, and c for an LSTM) carry a gradient: the gate
 * activations after them are values saved for the backward pass, whose gradient is taken as 0
 * (the layers only read the state slots), so the trace's gradient that the backward loop reads
 * is {@code [B, T+1, stateSlots·H]}, not the whole trace's width.
 *
 * <pre>
 *   %7 = recurrence[cell=lstm, hidden=128, reverse=false, masked=false](%xw, %whh, %bhh, %h0, %c0) : f32[64,61,896]
 * </pre>
 */
public record Recurrence(Cell cell, int hidden, boolean reverse, boolean masked) implements Op {
  /** The cell a recurrence runs: its gates per step and the slots of its trace rows. */
  public enum Cell {
    /** Elman's RNN with tanh (PyTorch's {@code nn.RNN}): one gate; slots h, y. */
    TANH(1, 2, 1, 2),
    /** LSTM (PyTorch's gate order i, f, g, o): slots h, y, c, i, f, g, o. */
    LSTM(4, 7, 4, 3),
    /** GRU (PyTorch's r, z, n): slots h, y, r, z, n and {@code W_hn h + b_hn}. */
    GRU(3, 6, 6, 2);

    /** Gates: {@code xw} and {@code w_hh} have {@code gates·H} rows. */
    public final int gates;
    /** Slots of H values per trace row. */
    public final int slots;
    /** Slots of H values per row of the gradient ({@link RecurrenceGrad}). */
    public final int gradSlots;
    /**
     * The leading slots that carry a gradient: the state h, the output y, and an LSTM's cell state
     * c. The others (gate activations) are saved for the backward pass and carry none.
     */
    public final int stateSlots;

    Cell(int gates, int slots, int gradSlots, int stateSlots) {
      this.gates = gates;
      this.slots = slots;
      this.gradSlots = gradSlots;
      this.stateSlots = stateSlots;
    }

    public String text() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    public static Cell parse(String s) {
      for (Cell c : values()) {
        if (c.text().equals(s)) {
          return c;
        }
      }
      throw new IllegalArgumentException("unknown recurrent cell '" + s + "' (tanh, lstm or gru)");
    }
  }

  public Recurrence {
    if (hidden < 1) {
      throw new IllegalArgumentException("recurrence: hidden size must be positive, got " + hidden);
    }
  }

  @Override
  public String mnemonic() {
    return "recurrence";
  }

  @Override
  public String attributes() {
    return "cell=" + cell.text() + ", hidden=" + hidden + ", reverse=" + reverse + ", masked=" + masked;
  }

  /** xw, w_hh, b_hh, h0, then c0 for an LSTM, then lengths when masked. */
  @Override
  public int arity() {
    return 4 + (cell == Cell.LSTM ? 1 : 0) + (masked ? 1 : 0);
  }

  /** Operand index of the lengths (masked only). */
  public int lengthsOperand() {
    return arity() - 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape xw = in.get(0).shape();
    int g = cell.gates * hidden;
    if (xw.rank() != 3 || xw.dim(2) != g) {
      throw new ShapeException(cell.text() + " recurrence expects input projections [batch, time, " + g + "], got " + xw);
    }
    int b = xw.dim(0);
    int t = xw.dim(1);
    expect(in.get(1), Shape.of(g, hidden), "hidden weight");
    expect(in.get(2), Shape.of(g), "hidden bias");
    expect(in.get(3), Shape.of(b, hidden), "initial state");
    if (cell == Cell.LSTM) {
      expect(in.get(4), Shape.of(b, hidden), "initial cell state");
    }
    if (masked) {
      Node len = in.get(lengthsOperand());
      if (len.dtype() != DType.I32 || !(len.shape().equals(Shape.of(b)) || len.shape().equals(Shape.of(b, 1)))) {
        throw new ShapeException("recurrence lengths must be i32[" + b + "] (or [" + b + ", 1]), got "
            + len.dtype().text() + len.shape());
      }
    }
    for (int i = 0; i < in.size(); i++) {
      if (i != (masked ? lengthsOperand() : -1) && in.get(i).dtype() != DType.F32) {
        throw new ShapeException("recurrence operand " + i + " must be f32, got " + in.get(i).dtype().text());
      }
    }
    return TensorType.f32(Shape.of(b, Math.addExact(t, 1), Math.multiplyExact(cell.slots, hidden)));
  }

  private static void expect(Node n, Shape s, String what) {
    if (!n.shape().equals(s)) {
      throw new ShapeException("recurrence " + what + " must be " + s + ", got " + n.shape());
    }
  }

  /** The trace row of step {@code t}'s state, for {@code steps} steps. */
  public int row(int t) {
    return reverse ? t : t + 1;
  }

  /** The trace row of the initial state, for {@code steps} steps. */
  public int initialRow(int steps) {
    return reverse ? steps : 0;
  }

  /** The trace row of the state before step {@code t}. */
  public int previousRow(int t) {
    return reverse ? t + 1 : t;
  }

  /** Lengths count steps: {@code [1, T]}, checked when the input is set. */
  @Override
  public int indexBound(int operand, List<Node> inputs) {
    return masked && operand == lengthsOperand() ? inputs.get(0).shape().dim(1) + 1 : 0;
  }

  @Override
  public int indexMin(int operand) {
    return masked && operand == lengthsOperand() ? 1 : 0;
  }

  @Override
  public String indexNoun(int operand) {
    return "sequence length";
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    Node xw = self.input(0);
    Node whh = self.input(1);
    int batch = xw.shape().dim(0);
    int steps = xw.shape().dim(1);
    int g = cell.gates * hidden;
    // The gradient of the state slots: the first part of dy when autodiff built it as a
    // concatenation of that part and zeros for the gate slots (the layers slice the state first).
    int sw = cell.stateSlots * hidden;
    Node dstate = dy.op() instanceof Concat c && c.axis() == 2 && dy.input(0).shape().dim(2) == sw ? dy.input(0)
        : b.add(new Slice(2, 0, sw), dy);
    List<Node> gin = new ArrayList<>(List.of(self, whh, dstate));
    if (masked) {
      gin.add(self.input(lengthsOperand()));
    }
    Node grad = b.add(new RecurrenceGrad(cell, hidden, reverse, masked), gin);
    // Rows of the steps and of the states before them.
    int stepRows = reverse ? 0 : 1;
    int prevRows = reverse ? 1 : 0;
    Node stepGrads = b.add(new Slice(1, stepRows, steps), grad);
    Node dxw = b.add(new Slice(2, 0, g), stepGrads);
    Node dgh = cell == Cell.GRU ? b.add(new Slice(2, g, g), stepGrads) : dxw;
    Node hPrev = b.add(new Slice(2, 0, hidden), b.add(new Slice(1, prevRows, steps), self));
    long rows = (long) batch * steps;
    Node dghRows = Ops.reshape(b, dgh, Shape.of(Math.toIntExact(rows), g));
    Node dwhh = b.add(new MatMul(true, false), dghRows, Ops.reshape(b, hPrev, Shape.of(Math.toIntExact(rows), hidden)));
    Node dbhh = Ops.sumTo(b, dghRows, Shape.of(g));
    Node init = b.add(new Slice(1, initialRow(steps), 1), grad);
    Node dh0 = Ops.reshape(b, b.add(new Slice(2, 0, hidden), init), Shape.of(batch, hidden));
    List<Node> out = new ArrayList<>(List.of(dxw, dwhh, dbhh, dh0));
    if (cell == Cell.LSTM) {
      out.add(Ops.reshape(b, b.add(new Slice(2, hidden, hidden), init), Shape.of(batch, hidden)));
    }
    if (masked) {
      out.add(null);
    }
    return out;
  }
}
