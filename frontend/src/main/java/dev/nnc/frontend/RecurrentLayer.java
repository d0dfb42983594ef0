package dev.nnc.frontend;

import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Concat;
import dev.nnc.ir.ops.DropoutMask;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Recurrence;
import dev.nnc.ir.ops.Recurrence.Cell;
import dev.nnc.ir.ops.Slice;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code simple_rnn(units)}, {@code lstm(units)} and {@code gru(units)} on a sequence
 * {@code [T, features]}: PyTorch's {@code nn.RNN}, {@code nn.LSTM} and {@code nn.GRU} with
 * {@code batch_first=True} — the same weights under the same names and shapes
 * ({@code weight_ih_l0 [G·units, features]}, {@code weight_hh_l0 [G·units, units]},
 * {@code bias_ih_l0}, {@code bias_hh_l0}, {@code _reverse} for the backward direction; gates
 * i, f, g, o and r, z, n), the same initialisation (U(±1/√units)) and the same results.
 *
 * <p>Per direction and layer the input's projection for all steps is one matmul before the loop;
 * the loop itself is one {@link Recurrence} op whatever the length. Options: {@code
 * return_sequences} (every step's output {@code [T, dirs·units]}, else the last one
 * {@code [dirs·units]}: PyTorch's {@code h_n}, Keras' default), {@code bidirectional},
 * {@code layers} stacked with {@code dropout} between them (training only), {@code return_state}
 * (also the final states {@code [layers·dirs·units]}, ordered as PyTorch's {@code h_n}), and
 * {@code biases=1} for Keras' convention of one bias per gate (LSTM and simple RNN; a GRU keeps
 * both, as Keras' default {@code reset_after=True}). Further tensor operands: an {@code int}
 * tensor of one length per example masks the steps past it (padding), float tensors are the
 * initial states ({@code h0}, then {@code c0}) shaped like the final ones.
 */
final class RecurrentLayer implements Layer {
  private final String name;
  private final Cell cell;

  RecurrentLayer(String name, Cell cell) {
    this.name = name;
    this.cell = cell;
  }

  static List<Layer> all() {
    return List.of(new RecurrentLayer("simple_rnn", Cell.TANH), new RecurrentLayer("lstm", Cell.LSTM),
        new RecurrentLayer("gru", Cell.GRU));
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public int operands() {
    return LEADING;
  }

  @Override
  public List<Args.Spec> specs() {
    return List.of(Args.Spec.required("units"), Args.Spec.sym("return_sequences", "false"),
        Args.Spec.sym("bidirectional", "false"), Args.Spec.of("layers", 1), Args.Spec.of("dropout", 0),
        Args.Spec.sym("return_state", "false"), Args.Spec.of("biases", 2));
  }

  @Override
  public Node apply(LayerContext ctx, List<Node> in, Args a) {
    return applyAll(ctx, in, a).get(0);
  }

  @Override
  public List<Node> applyAll(LayerContext ctx, List<Node> in, Args a) {
    Graph.Builder b = ctx.graph();
    int units = a.positiveInt("units");
    boolean sequences = a.bool("return_sequences");
    boolean bidirectional = a.bool("bidirectional");
    int layers = a.positiveInt("layers");
    double dropout = a.num("dropout");
    boolean returnState = a.bool("return_state");
    double biases = a.num("biases");
    if (!(dropout >= 0 && dropout < 1)) {
      throw new LayerException("`dropout` of " + name + " must be in [0, 1), got " + dropout, null);
    }
    if (biases != 1 && biases != 2) {
      throw new LayerException("`biases` of " + name + " must be 2 (PyTorch: bias_ih and bias_hh) or 1 (Keras: "
          + "one bias per gate), got " + biases, null);
    }
    boolean hiddenBias = biases == 2 || cell == Cell.GRU;
    Node x = in.get(0);
    if (x.dtype() != DType.F32 || x.shape().rank() != 3) {
      throw new LayerException(name + " expects a sequence [time, features], got "
          + (x.dtype() == DType.I32 ? "integer ids " : "") + Layer.perExample(x),
          x.dtype() == DType.I32 ? "embed the ids first: `-> embedding(vocab, dim) -> " + name + "(…)`"
              : "reshape it to [time, features]");
    }
    int batch = x.shape().dim(0);
    int steps = x.shape().dim(1);
    int dirs = bidirectional ? 2 : 1;
    int stateSize = layers * dirs * units;
    Node lengths = null;
    List<Node> initial = new ArrayList<>();
    for (Node extra : in.subList(1, in.size())) {
      if (extra.dtype() == DType.I32) {
        if (lengths != null) {
          throw new LayerException(name + " takes one tensor of lengths, got two", null);
        }
        if (!(extra.shape().equals(Shape.of(batch)) || extra.shape().equals(Shape.of(batch, 1)))) {
          throw new LayerException(name + ": lengths must be one integer per example (`int[1]`), got "
              + Layer.perExample(extra), "declare them as `input lengths: int[1]`");
        }
        lengths = extra;
      } else {
        if (!Layer.perExample(extra).equals(Shape.of(stateSize))) {
          throw new LayerException(name + ": an initial state must be [" + stateSize + "] (layers·directions·units), "
              + "got " + Layer.perExample(extra), null);
        }
        initial.add(extra);
      }
    }
    int states = cell == Cell.LSTM ? 2 : 1;
    if (initial.size() > states) {
      throw new LayerException(name + " takes " + (states == 2 ? "h0 and c0" : "one initial state (h0)") + ", got "
          + initial.size() + " float tensors after the sequence", null);
    }
    boolean stepwise = ctx.stepwise() && !bidirectional;
    if (ctx.stepwise() && bidirectional) {
      ctx.notSteppable("the bidirectional " + name + " reads each sequence whole, backwards too");
    }
    if (stepwise) {
      // The step program: the state comes in through inputs and goes out through outputs.
      initial = new ArrayList<>(List.of(ctx.stateInput("h0", Shape.of(stateSize))));
      if (cell == Cell.LSTM) {
        initial.add(ctx.stateInput("c0", Shape.of(stateSize)));
      }
    }
    int g = cell.gates * units;
    Init init = new Init(Init.Kind.UNIFORM, 1 / Math.sqrt(units));
    Node seq = x;
    List<Node> finalH = new ArrayList<>();
    List<Node> finalC = new ArrayList<>();
    for (int l = 0; l < layers; l++) {
      if (l > 0 && dropout > 0 && ctx.mode() == LayerContext.Mode.TRAIN) {
        Node mask = b.add(new DropoutMask(dropout, seq.shape(), ctx.nextSalt()), ctx.step());
        seq = Ops.mul(b, seq, mask);
      }
      int features = seq.shape().dim(2);
      List<Node> outs = new ArrayList<>();
      for (int d = 0; d < dirs; d++) {
        String sfx = "_l" + l + (d == 1 ? "_reverse" : "");
        Node wih = ctx.param("weight_ih" + sfx, Shape.of(g, features), init);
        Node whh = ctx.param("weight_hh" + sfx, Shape.of(g, units), init);
        Node bih = ctx.param("bias_ih" + sfx, Shape.of(g), init);
        Node bhh = hiddenBias ? ctx.param("bias_hh" + sfx, Shape.of(g), init)
            : Ops.broadcastTo(b, Ops.constant(b, 0), Shape.of(g));
        // The input's projection for every step at once: one GEMM of B·T rows.
        Node rows = Ops.reshape(b, seq, Shape.of(batch * steps, features));
        Node proj = Ops.add(b, b.add(new MatMul(false, true), rows, wih), bih);
        Node xw = Ops.reshape(b, proj, Shape.of(batch, steps, g));
        int k = l * dirs + d;
        Node h0 = initialState(b, initial, 0, k, batch, units);
        List<Node> ops = new ArrayList<>(List.of(xw, whh, bhh, h0));
        if (cell == Cell.LSTM) {
          ops.add(initialState(b, initial, 1, k, batch, units));
        }
        if (lengths != null) {
          ops.add(lengths);
        }
        boolean reverse = d == 1;
        Recurrence op = new Recurrence(cell, units, reverse, lengths != null);
        // The state slots first (h, y, and c): the gate slots carry no gradient, so the backward
        // pass reads the gradient of this narrower block only.
        Node trace = b.add(new Slice(2, 0, cell.stateSlots * units), b.add(op, ops));
        // Outputs of the steps' rows; the final state is the last step's row. Unmasked, the
        // output y (slot 1) equals the state h (slot 0), and reading h leaves y unread, so the
        // loop does not store it (LowerRecurrence.backwardReads).
        Node stepRows = b.add(new Slice(1, reverse ? 0 : 1, steps), trace);
        outs.add(b.add(new Slice(2, lengths == null ? 0 : units, units), stepRows));
        Node last = b.add(new Slice(1, reverse ? 0 : steps, 1), trace);
        finalH.add(Ops.reshape(b, b.add(new Slice(2, 0, units), last), Shape.of(batch, units)));
        if (cell == Cell.LSTM) {
          finalC.add(Ops.reshape(b, b.add(new Slice(2, 2 * units, units), last), Shape.of(batch, units)));
        }
      }
      seq = outs.size() == 1 ? outs.get(0) : b.add(new Concat(2), outs);
    }
    if (stepwise) {
      ctx.stateOutput("h", join(b, finalH));
      if (cell == Cell.LSTM) {
        ctx.stateOutput("c", join(b, finalC));
      }
    }
    Node y;
    if (sequences) {
      y = seq;
    } else {
      List<Node> top = finalH.subList(finalH.size() - dirs, finalH.size());
      y = top.size() == 1 ? top.get(0) : b.add(new Concat(1), top);
    }
    if (!returnState) {
      return List.of(y);
    }
    List<Node> out = new ArrayList<>(List.of(y, join(b, finalH)));
    if (cell == Cell.LSTM) {
      out.add(join(b, finalC));
    }
    return out;
  }

  private static Node join(Graph.Builder b, List<Node> parts) {
    return parts.size() == 1 ? parts.get(0) : b.add(new Concat(1), parts);
  }

  /** State {@code which} (0 h, 1 c) of direction-layer {@code k}: its part of the given initial state, or zeros. */
  private static Node initialState(Graph.Builder b, List<Node> initial, int which, int k, int batch, int units) {
    if (which >= initial.size()) {
      return Ops.broadcastTo(b, Ops.constant(b, 0), Shape.of(batch, units));
    }
    Node s = initial.get(which);
    return s.shape().dim(1) == units ? s : b.add(new Slice(1, k * units, units), s);
  }
}
