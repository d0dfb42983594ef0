package dev.nnc.passes.lower;

import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.kernel.KExpr;
import dev.nnc.ir.kernel.KExpr.Affine;
import dev.nnc.ir.kernel.KExpr.BinOp;
import dev.nnc.ir.kernel.KStmt;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.ops.Recurrence;
import dev.nnc.ir.ops.Recurrence.Cell;
import dev.nnc.ir.ops.RecurrenceGrad;
import dev.nnc.ir.ops.UnaryFn;
import java.util.ArrayList;
import java.util.List;

/**
 * Lowers {@link Recurrence} and {@link RecurrenceGrad} to a kernel that sets up the state and a
 * {@link Kernel.Steps} loop whose body is one step: the hidden-state GEMM of all gates at once
 * ({@code h·W_hhᵀ + b_hh}, B × G·H × H) and one element-wise kernel for the cell (its gates'
 * nonlinearities, the new state, and the step's trace row). The state lives in buffers of its own
 * between steps; the step reads its slice of the input projections and writes its trace row at
 * the row the loop's counter selects ({@link KExpr.Row}). The backward loop is the same shape:
 * one element-wise kernel for the cell's derivative (the gate gradients of the step, stored in
 * its row of the gradient and in a buffer for the GEMM), then {@code dh = dg·W_hh + direct},
 * the GEMM that carries the state's gradient to the step before.
 */
final class LowerRecurrence {
  /** What the lowering needs from {@link LowerToKernels}. */
  interface Context {
    int buffer(Node n);

    int temp(String name, Shape shape);

    String kernelName(Node n, String what);

    /**
     * Which of a trace's slots (of {@code width} values) some node reads: all when the backward
     * pass or anything but slices reads it; at inference only those the layer's outputs slice.
     */
    boolean[] slotsRead(Node trace, int slots, int width);

    /**
     * Where box {@code box} of {@code n}'s value lies when the loops read {@code n} through its
     * concatenations ({@link #gradientReads}) instead of from a buffer of its own: in a block of
     * zeros, or in one materialised operand; null when {@code n} has its own buffer.
     */
    Piece piece(Node n, Box box);

    /**
     * Where the loops store box {@code box} of recurrence gradient {@code n}'s value when it is
     * written straight into the slices that read it ({@link #gradientWrites}): in one of them, or
     * nowhere ({@link Piece#ZERO}: none reads it); null when {@code n} has its own buffer.
     */
    Piece written(Node n, Box box);

    /**
     * The slices of recurrence {@code n}'s trace that its loop stores straight into, each step
     * its row of one slot ({@link Feed}); the trace's buffer then need not hold what only they read.
     */
    List<Feed> feeds(Node n);

    /** The embedding lookup recurrence {@code n}'s input projections are, read in place; or null. */
    Lookup lookup(Node n);
  }

  /**
   * Input projections that are an embedding lookup: step t of sequence b reads row {@code ids[b,
   * t]} of buffer {@code table} ({@code [vocab, G·H]}).
   */
  record Lookup(int table, int ids, int vocab) {}

  /**
   * A slice {@code [B, T, H]} of a trace that the forward loop stores each step's row of into
   * (at the step's row): slot {@code slot} over the loop's rows, or with {@code previous} the
   * state h each step starts from (the rows before them: the initial row, then every step's but
   * the last), the inputs of {@code dW_hh}.
   */
  record Feed(Node node, int slot, boolean previous) {}

  /** Rows {@code [r0, r1)} and columns {@code [c0, c1)} of every sequence of a {@code [B, R, C]} value. */
  record Box(long r0, long r1, long c0, long c1) {
    /** This box {@code d} further along axis 1 (rows) or 2 (columns). */
    Box shifted(int axis, long d) {
      return axis == 1 ? new Box(r0 + d, r1 + d, c0, c1) : new Box(r0, r1, c0 + d, c1 + d);
    }

    /** Whether this box lies inside {@code o}. */
    boolean within(Box o) {
      return r0 >= o.r0 && r1 <= o.r1 && c0 >= o.c0 && c1 <= o.c1;
    }

    /** Whether this box and {@code o} share an element. */
    boolean overlaps(Box o) {
      return r0 < o.r1 && o.r0 < r1 && c0 < o.c1 && o.c0 < c1;
    }

    /** Elements of one sequence in this box. */
    long size() {
      return (r1 - r0) * (c1 - c0);
    }
  }

  /**
   * A box's place: rows and columns of {@code node}'s own [B, R, C] value at offsets {@code row},
   * {@code col} (box row r is its row r − row); a block of zeros when {@code node} is null.
   */
  record Piece(Node node, long row, long col) {
    static final Piece ZERO = new Piece(null, 0, 0);

    /** The place of a box {@code d} further along axis 1 (rows) or 2 (columns); zero stays zero. */
    Piece shifted(int axis, long d) {
      return node == null ? this : axis == 1 ? new Piece(node, row + d, col) : new Piece(node, row, col + d);
    }
  }

  /**
   * The boxes of a trace's gradient ({@code [B, T+1, S·H]}, S state slots) that the backward
   * lowering of {@code r} reads: every state slot over the loop's rows, and the initial row's h
   * (and an LSTM's c). When each lies in one operand of the concatenations that build the
   * gradient (the autodiff's zeros beside the outputs' gradient), the loops read those operands
   * and the zeros are never stored (6 MB a layer, and two slots of every step's loads, in the
   * character LSTM's training step).
   */
  static List<Box> gradientReads(RecurrenceGrad r, Shape gradient) {
    int steps = gradient.dim(1) - 1;
    long hid = r.hidden();
    long shift = r.reverse() ? 0 : 1;
    List<Box> boxes = new ArrayList<>();
    for (int s = 0; s < r.cell().stateSlots; s++) {
      boxes.add(new Box(shift, shift + steps, s * hid, (s + 1) * hid));
    }
    long init = r.reverse() ? steps : 0;
    boxes.add(new Box(init, init + 1, 0, hid));
    if (r.cell() == Cell.LSTM) {
      boxes.add(new Box(init, init + 1, 2 * hid, 3 * hid));
    }
    return boxes;
  }

  /**
   * The boxes of recurrence gradient {@code r}'s value ({@code [B, T+1, G·H]}, G gradient slots)
   * that its loops store, each with one store a step or one in the initial kernel: every slot over
   * the loop's rows, and every slot of the initial row. Together they are the whole value.
   */
  static List<Box> gradientWrites(RecurrenceGrad r, Shape value) {
    int steps = value.dim(1) - 1;
    long hid = r.hidden();
    long shift = r.reverse() ? 0 : 1;
    long init = r.reverse() ? steps : 0;
    List<Box> boxes = new ArrayList<>();
    for (int s = 0; s < r.cell().gradSlots; s++) {
      boxes.add(new Box(shift, shift + steps, s * hid, (s + 1) * hid));
      boxes.add(new Box(init, init + 1, s * hid, (s + 1) * hid));
    }
    return boxes;
  }

  private final Context cx;
  private final Node out;
  private final Cell cell;
  private final boolean reverse;
  private final int batch;
  private final int steps;
  private final int hid;
  private final int gh;
  private final int width;
  private int counter;

  private LowerRecurrence(Context cx, Node out, Cell cell, boolean reverse, int batch, int steps, int hid) {
    this.cx = cx;
    this.out = out;
    this.cell = cell;
    this.reverse = reverse;
    this.batch = batch;
    this.steps = steps;
    this.hid = hid;
    this.gh = cell.gates * hid;
    this.width = cell.slots * hid;
  }

  // ------------------------------------------------------------------ expressions

  private static KExpr add(KExpr a, KExpr b) {
    return new KExpr.Bin(BinOp.ADD, a, b);
  }

  /** {@code a + b}, or the one that is not a literal zero (a gradient read from a block of zeros). */
  private static KExpr plus(KExpr a, KExpr b) {
    return zero(b) ? a : zero(a) ? b : add(a, b);
  }

  private static boolean zero(KExpr x) {
    return x instanceof KExpr.Lit l && l.value() == 0;
  }

  private static KExpr sub(KExpr a, KExpr b) {
    return new KExpr.Bin(BinOp.SUB, a, b);
  }

  private static KExpr mul(KExpr a, KExpr b) {
    return new KExpr.Bin(BinOp.MUL, a, b);
  }

  private static KExpr lit(double v) {
    return new KExpr.Lit(v);
  }

  private static KExpr local(int i) {
    return new KExpr.Local(i);
  }

  private static KExpr sigmoid(KExpr x) {
    return Expand.unary(UnaryFn.SIGMOID, 0, x);
  }

  private static KExpr tanh(KExpr x) {
    return Expand.unary(UnaryFn.TANH, 0, x);
  }

  /** {@code x·(1 − x)}: the sigmoid's derivative from its value. */
  private static KExpr dsigmoid(KExpr x) {
    return mul(x, sub(lit(1), x));
  }

  /** {@code 1 − x²}: tanh's derivative from its value. */
  private static KExpr dtanh(KExpr x) {
    return sub(lit(1), mul(x, x));
  }

  /** The step index the loop's counter holds. */
  private KExpr step() {
    return new KExpr.Load(counter, new Affine(0, new long[2]));
  }

  /** Element {@code [b, j]} of a {@code [B, cols]} buffer at column offset {@code col}: variables 0 = b, 1 = j. */
  private static KExpr at(int buf, long col, long cols) {
    return new KExpr.Load(buf, new Affine(col, new long[] {cols, 1}));
  }

  private static Affine cell(long col, long cols) {
    return new Affine(col, new long[] {cols, 1});
  }

  /**
   * Slot {@code slot} (of H values, column {@code j}) of sequence {@code b}'s row {@code step + shift}
   * in a {@code [B, T+1, cols]} buffer.
   */
  private KExpr.Load row(int buf, long cols, int slot, int shift) {
    return new KExpr.Load(buf, new Affine((long) slot * hid, new long[] {(long) (steps + 1) * cols, 1}), rowOf(cols, shift));
  }

  private KExpr.Row rowOf(long cols, int shift) {
    return new KExpr.Row(shift == 0 ? step() : add(step(), lit(shift)), cols, steps + 1);
  }

  private KStmt storeRow(int buf, long cols, long col, int shift, KExpr v) {
    return new KStmt.Store(buf, new Affine(col, new long[] {(long) (steps + 1) * cols, 1}), v, rowOf(cols, shift));
  }

  /** {@code v} where the step is within the sequence's length, else {@code otherwise}. */
  private static KExpr where(KExpr valid, KExpr v, KExpr otherwise) {
    return valid == null ? v : new KExpr.Select(KExpr.Cmp.GT, valid, lit(0.5), v, otherwise);
  }

  /** 1 where step is within sequence b's length (lengths in buffer {@code len}), else 0; null: unmasked. */
  private KExpr valid(Integer len) {
    return len == null ? null
        : new KExpr.Select(KExpr.Cmp.LT, step(), new KExpr.Load(len, new Affine(0, new long[] {1, 0})), lit(1), lit(0));
  }

  private Kernel.Loops nest(String name, List<KStmt> body, int locals, double flopsPerElement) {
    KStmt.Loop root = new KStmt.Loop(0, batch, List.of(new KStmt.Loop(1, hid, body)));
    return new Kernel.Loops(name, root, 2, locals, batch > 1, flopsPerElement * batch * hid);
  }

  // ------------------------------------------------------------------ forward

  static List<Kernel> forward(Context cx, Node out, Recurrence r) {
    Node xw = out.input(0);
    LowerRecurrence l = new LowerRecurrence(cx, out, r.cell(), r.reverse(), xw.shape().dim(0), xw.shape().dim(1),
        r.hidden());
    Lookup lookup = cx.lookup(out);
    return l.forward(lookup, lookup != null ? -1 : cx.buffer(xw), cx.buffer(out.input(1)), cx.buffer(out.input(2)),
        cx.buffer(out.input(3)),
        r.cell() == Cell.LSTM ? cx.buffer(out.input(4)) : null, r.masked() ? cx.buffer(out.input(r.lengthsOperand())) : null);
  }

  /** With {@code lookup}, the input projections are that lookup's and {@code xw} is unused. */
  private List<Kernel> forward(Lookup lookup, int xw, int whh, int bhh, int h0, Integer c0, Integer len) {
    int tr = cx.buffer(out);
    String base = "t" + out.id();
    counter = cx.temp(base + "_step", Shape.of(1));
    int h = cx.temp(base + "_h", Shape.of(batch, hid));
    int c = c0 == null ? -1 : cx.temp(base + "_c", Shape.of(batch, hid));
    int g = cx.temp(base + "_gates", Shape.of(batch, gh));
    int init = reverse ? steps : 0;
    // The initial state: into the state buffers and the trace's initial row (output and gates 0).
    List<KStmt> setup = new ArrayList<>();
    Affine initRow = new Affine((long) init * width, new long[] {(long) (steps + 1) * width, 1});
    for (int slot = 0; slot < cell.slots; slot++) {
      KExpr v = slot == 0 ? at(h0, 0, hid) : slot == 2 && c0 != null ? at(c0, 0, hid) : lit(0);
      setup.add(new KStmt.Store(tr, new Affine(initRow.base() + (long) slot * hid, initRow.strides()), v));
    }
    setup.add(new KStmt.Store(h, cell(0, hid), at(h0, 0, hid)));
    if (c0 != null) {
      setup.add(new KStmt.Store(c, cell(0, hid), at(c0, 0, hid)));
    }
    Kernel.Loops first = nest(cx.kernelName(out, "init"), setup, 0, 1);

    // One step: the gates' hidden parts for all gates in one GEMM, then the cell.
    KExpr bias = new KExpr.Load(bhh, new Affine(0, new long[] {0, 1}));
    Kernel.Gemm gemm = new Kernel.Gemm(cx.kernelName(out, "hh"), h, 0, whh, 0, g, batch, gh, hid, false, true,
        add(new KExpr.Acc(), bias));
    KExpr ok = valid(len);
    int shift = reverse ? 0 : 1;
    // xw[b, t, k·H + j]: the step's input projection of gate k; or of a lookup, its table's row ids[b, t].
    java.util.function.IntFunction<KExpr> x = lookup == null
        ? k -> new KExpr.Load(xw, new Affine((long) k * hid, new long[] {(long) steps * gh, 1}),
            new KExpr.Row(step(), gh, steps))
        : k -> new KExpr.Load(lookup.table(), new Affine((long) k * hid, new long[] {0, 1}), new KExpr.Row(
            new KExpr.Load(lookup.ids(), new Affine(0, new long[] {steps, 0}), new KExpr.Row(step(), 1, steps)),
            gh, lookup.vocab()));
    java.util.function.IntFunction<KExpr> pre = k -> add(x.apply(k), at(g, (long) k * hid, gh));
    KExpr hPrev = at(h, 0, hid);
    List<KStmt> body = new ArrayList<>();
    // Locals: 0 the new state, then the cell's values.
    List<KExpr> slots = new ArrayList<>();
    int locals = switch (cell) {
      case TANH -> {
        body.add(new KStmt.Assign(0, tanh(pre.apply(0))));
        yield 1;
      }
      case LSTM -> {
        body.add(new KStmt.Assign(1, sigmoid(pre.apply(0))));
        body.add(new KStmt.Assign(2, sigmoid(pre.apply(1))));
        body.add(new KStmt.Assign(3, tanh(pre.apply(2))));
        body.add(new KStmt.Assign(4, sigmoid(pre.apply(3))));
        body.add(new KStmt.Assign(5, add(mul(local(2), at(c, 0, hid)), mul(local(1), local(3)))));
        body.add(new KStmt.Assign(0, mul(local(4), tanh(local(5)))));
        slots.addAll(List.of(local(5), local(1), local(2), local(3), local(4)));
        yield 6;
      }
      case GRU -> {
        body.add(new KStmt.Assign(1, sigmoid(pre.apply(0))));
        body.add(new KStmt.Assign(2, sigmoid(pre.apply(1))));
        body.add(new KStmt.Assign(4, at(g, 2L * hid, gh)));
        body.add(new KStmt.Assign(3, tanh(add(x.apply(2), mul(local(1), local(4))))));
        body.add(new KStmt.Assign(0, add(mul(sub(lit(1), local(2)), local(3)), mul(local(2), hPrev))));
        slots.addAll(List.of(local(1), local(2), local(3), local(4)));
        yield 5;
      }
    };
    // The trace row: past the length the state carries on, the output and the gates are 0. Slots
    // that nothing reads (the gates, at inference) are not stored.
    boolean[] read = cx.slotsRead(out, cell.slots, hid);
    List<KExpr> value = new ArrayList<>(List.of(where(ok, local(0), hPrev), where(ok, local(0), lit(0))));
    for (int s = 0; s < slots.size(); s++) {
      KExpr carried = cell == Cell.LSTM && s == 0 ? at(c, 0, hid) : lit(0);
      value.add(where(ok, slots.get(s), carried));
    }
    for (int s = 0; s < cell.slots; s++) {
      if (read[s]) {
        body.add(storeRow(tr, width, (long) s * hid, shift, value.get(s)));
      }
    }
    // The slices fed straight from the step (before the state moves on: the previous h is read).
    for (Feed f : cx.feeds(out)) {
      body.add(new KStmt.Store(cx.buffer(f.node()), new Affine(0, new long[] {(long) steps * hid, 1}),
          f.previous() ? hPrev : value.get(f.slot()), new KExpr.Row(step(), hid, steps)));
    }
    if (c0 != null) {
      body.add(new KStmt.Store(c, cell(0, hid), where(ok, local(5), at(c, 0, hid))));
    }
    body.add(new KStmt.Store(h, cell(0, hid), where(ok, local(0), hPrev)));
    Kernel.Loops step = nest(cx.kernelName(out, "cell"), body, locals, 12.0 * cell.gates + 4);
    Kernel.Steps loop = new Kernel.Steps(cx.kernelName(out, "steps"), counter, steps, reverse ? steps - 1 : 0,
        reverse ? -1 : 1, List.of(gemm, step));
    return List.of(first, loop);
  }

  // ------------------------------------------------------------------ backward

  /**
   * Whether the backward loop reads slot {@code slot} of the forward trace: never the output y
   * (slot 1), so an unmasked layer, whose outputs are read from slot 0 (equal to y there), does
   * not store y; an LSTM's reads only c and the gates (slots 2 on), a GRU's and a tanh cell's the
   * state h too. An LSTM's h is then stored only where something else reads it (not at all when
   * the slices of its rows are fed, {@link Feed}).
   */
  static boolean backwardReads(Cell cell, int slot) {
    return cell == Cell.LSTM ? slot >= 2 : slot != 1;
  }

  static List<Kernel> backward(Context cx, Node out, RecurrenceGrad r) {
    Node trace = out.input(0);
    LowerRecurrence l = new LowerRecurrence(cx, out, r.cell(), r.reverse(), trace.shape().dim(0),
        trace.shape().dim(1) - 1, r.hidden());
    return l.backward(cx.buffer(trace), cx.buffer(out.input(1)), out.input(2),
        r.masked() ? cx.buffer(out.input(3)) : null);
  }

  /**
   * Slot {@code slot} of the trace's gradient {@code dtr} (S·H values a row) in rows {@code [r0,
   * r1)}, at the row {@code rowAt.apply(o)} selects in a value whose row r0 is its row r0 − o:
   * from {@code dtr}'s own buffer, from the operand that holds the rows, or zero.
   */
  private KExpr gradient(Node dtr, long sw, int slot, long r0, long r1, java.util.function.LongFunction<KExpr> rowAt) {
    long c0 = (long) slot * hid;
    Piece p = cx.piece(dtr, new Box(r0, r1, c0, c0 + hid));
    if (p == null) {
      return new KExpr.Load(cx.buffer(dtr), new Affine(c0, new long[] {(steps + 1) * sw, 1}),
          new KExpr.Row(rowAt.apply(0), sw, steps + 1));
    }
    if (p.node() == null) {
      return lit(0);
    }
    long rows = p.node().shape().dim(1);
    long cols = p.node().shape().dim(2);
    return new KExpr.Load(cx.buffer(p.node()), new Affine(c0 - p.col(), new long[] {rows * cols, 1}),
        new KExpr.Row(rowAt.apply(p.row()), cols, rows));
  }

  /** Slot {@code slot} of the trace's gradient at the step's row plus {@code shift}. */
  private KExpr gradientRow(Node dtr, long sw, int slot, int shift) {
    return gradient(dtr, sw, slot, shift, shift + steps, o -> shift == o ? step() : add(step(), lit(shift - o)));
  }

  /** Slot {@code slot} of the trace's gradient at row {@code init} (the initial state's). */
  private KExpr gradientAt(Node dtr, long sw, int slot, long init) {
    return gradient(dtr, sw, slot, init, init + 1, o -> lit(init - o));
  }

  /**
   * Stores {@code v} at slot {@code slot}'s columns of the recurrence gradient's rows {@code [r0,
   * r1)}, at the row {@code rowAt.apply(o)} selects in a value whose row r0 is its row r0 − o: in
   * its own buffer or in the slice that holds those rows ({@link Context#written}); null when
   * nothing reads them.
   */
  private KStmt storeGradient(int slot, long r0, long r1, java.util.function.LongFunction<KExpr> rowAt, KExpr v) {
    long c0 = (long) slot * hid;
    Piece p = cx.written(out, new Box(r0, r1, c0, c0 + hid));
    if (p == null) {
      long gw = (long) cell.gradSlots * hid;
      return store(cx.buffer(out), c0, steps + 1, gw, rowAt.apply(0), v);
    }
    if (p.node() == null) {
      return null;
    }
    return store(cx.buffer(p.node()), c0 - p.col(), p.node().shape().dim(1), p.node().shape().dim(2),
        rowAt.apply(p.row()), v);
  }

  /** {@code v} at column {@code col} of row {@code row} (a literal: a constant offset) of a [B, rows, cols] buffer. */
  private static KStmt store(int buf, long col, long rows, long cols, KExpr row, KExpr v) {
    if (row instanceof KExpr.Lit lit) {
      return new KStmt.Store(buf, new Affine((long) lit.value() * cols + col, new long[] {rows * cols, 1}), v);
    }
    return new KStmt.Store(buf, new Affine(col, new long[] {rows * cols, 1}), v, new KExpr.Row(row, cols, rows));
  }

  private List<Kernel> backward(int tr, int whh, Node dtr, Integer len) {
    long gw = (long) cell.gradSlots * hid;
    String base = "t" + out.id();
    counter = cx.temp(base + "_step", Shape.of(1));
    int dh = cx.temp(base + "_dh", Shape.of(batch, hid));
    int dc = cell == Cell.LSTM ? cx.temp(base + "_dc", Shape.of(batch, hid)) : -1;
    int dg = cx.temp(base + "_dgates", Shape.of(batch, gh));
    List<KStmt> zero = new ArrayList<>(List.of(new KStmt.Store(dh, cell(0, hid), lit(0))));
    if (dc >= 0) {
      zero.add(new KStmt.Store(dc, cell(0, hid), lit(0)));
    }
    Kernel.Loops first = nest(cx.kernelName(out, "zero"), zero, 0, 1);

    KExpr ok = valid(len);
    int shift = reverse ? 0 : 1;
    int prev = reverse ? 1 : 0;
    java.util.function.IntFunction<KExpr> t = slot -> row(tr, width, slot, shift);
    // The state slots' gradient (h, y, and c for an LSTM): rows of stateSlots·H.
    long sw = (long) cell.stateSlots * hid;
    java.util.function.IntFunction<KExpr> d = slot -> gradientRow(dtr, sw, slot, shift);
    List<KStmt> body = new ArrayList<>();
    // Local 0: the gradient of the step's state (carried, plus the trace's own at h and y).
    KExpr dy = d.apply(1);
    body.add(new KStmt.Assign(0, plus(plus(at(dh, 0, hid), d.apply(0)), zero(dy) ? dy : where(ok, dy, lit(0)))));
    KExpr dht = local(0);
    // The gate gradients: on the input side (the gradient's row) and on the hidden side (the GEMM's).
    List<KExpr> dx = new ArrayList<>();
    List<KExpr> dhid = new ArrayList<>();
    KExpr direct = lit(0);
    int locals = switch (cell) {
      case TANH -> {
        body.add(new KStmt.Assign(1, mul(dht, dtanh(t.apply(0)))));
        dx.add(local(1));
        yield 2;
      }
      case LSTM -> {
        // 1 c, 2 i, 3 f, 4 g, 5 o, 6 tanh(c), 7 dc, 8..11 the pre-activations' gradients.
        for (int k = 1; k <= 5; k++) {
          body.add(new KStmt.Assign(k, t.apply(k + 1)));
        }
        body.add(new KStmt.Assign(6, tanh(local(1))));
        body.add(new KStmt.Assign(7, add(plus(at(dc, 0, hid), d.apply(2)), mul(mul(dht, local(5)), dtanh(local(6))))));
        KExpr di = mul(local(7), local(4));
        KExpr df = mul(local(7), row(tr, width, 2, prev));
        KExpr dgg = mul(local(7), local(2));
        KExpr dO = mul(dht, local(6));
        body.add(new KStmt.Assign(8, mul(di, dsigmoid(local(2)))));
        body.add(new KStmt.Assign(9, mul(df, dsigmoid(local(3)))));
        body.add(new KStmt.Assign(10, mul(dgg, dtanh(local(4)))));
        body.add(new KStmt.Assign(11, mul(dO, dsigmoid(local(5)))));
        dx.addAll(List.of(local(8), local(9), local(10), local(11)));
        yield 12;
      }
      case GRU -> {
        // 1 r, 2 z, 3 n, 4 W_hn h + b_hn, 5 dn's pre-activation, 6 dr's, 7 dz's, 8 the hidden n part.
        for (int k = 1; k <= 4; k++) {
          body.add(new KStmt.Assign(k, t.apply(k + 1)));
        }
        KExpr dn = mul(dht, sub(lit(1), local(2)));
        KExpr dz = mul(dht, sub(row(tr, width, 0, prev), local(3)));
        body.add(new KStmt.Assign(5, mul(dn, dtanh(local(3)))));
        body.add(new KStmt.Assign(6, mul(mul(local(5), local(4)), dsigmoid(local(1)))));
        body.add(new KStmt.Assign(7, mul(dz, dsigmoid(local(2)))));
        body.add(new KStmt.Assign(8, mul(local(5), local(1))));
        dx.addAll(List.of(local(6), local(7), local(5)));
        dhid.addAll(List.of(local(6), local(7), local(8)));
        direct = mul(dht, local(2));
        yield 9;
      }
    };
    if (dhid.isEmpty()) {
      dhid = dx;
    }
    // The step's row of the gradient: the input side's gate gradients (and a GRU's hidden side's).
    List<KExpr> rowValues = new ArrayList<>(dx);
    if (cell == Cell.GRU) {
      rowValues.addAll(dhid);
    }
    java.util.function.LongFunction<KExpr> stepRow = o -> shift == o ? step() : add(step(), lit(shift - o));
    for (int k = 0; k < rowValues.size(); k++) {
      KStmt st = storeGradient(k, shift, shift + steps, stepRow, where(ok, rowValues.get(k), lit(0)));
      if (st != null) {
        body.add(st);
      }
    }
    for (int k = 0; k < dhid.size(); k++) {
      body.add(new KStmt.Store(dg, cell((long) k * hid, gh), where(ok, dhid.get(k), lit(0))));
    }
    // What reaches the previous state besides the GEMM: a GRU's z·dh; past the length, all of it.
    // Nothing, for an unmasked LSTM or tanh cell: then no buffer of zeros is stored every step
    // for the GEMM's epilogue to add.
    boolean passes = ok != null || !zero(direct);
    int pass = passes ? cx.temp(base + "_direct", Shape.of(batch, hid)) : -1;
    if (passes) {
      body.add(new KStmt.Store(pass, cell(0, hid), where(ok, direct, dht)));
    }
    if (dc >= 0) {
      body.add(new KStmt.Store(dc, cell(0, hid), where(ok, mul(local(7), local(3)),
          plus(at(dc, 0, hid), d.apply(2)))));
    }
    Kernel.Loops step = nest(cx.kernelName(out, "cell_grad"), body, locals, 16.0 * cell.gates + 4);
    Kernel.Gemm gemm = new Kernel.Gemm(cx.kernelName(out, "hh_grad"), dg, 0, whh, 0, dh, batch, hid, gh, false, false,
        passes ? add(new KExpr.Acc(), at(pass, 0, hid)) : null);
    Kernel.Steps loop = new Kernel.Steps(cx.kernelName(out, "steps"), counter, steps, reverse ? 0 : steps - 1,
        reverse ? 1 : -1, List.of(step, gemm));

    // The initial state's gradients: what the loop carried back, plus the trace's own there.
    int init = reverse ? steps : 0;
    List<KStmt> last = new ArrayList<>();
    for (int slot = 0; slot < cell.gradSlots; slot++) {
      KExpr v = lit(0);
      if (slot == 0) {
        v = plus(at(dh, 0, hid), gradientAt(dtr, sw, 0, init));
      } else if (slot == 1 && dc >= 0) {
        v = plus(at(dc, 0, hid), gradientAt(dtr, sw, 2, init));
      }
      KStmt st = storeGradient(slot, init, init + 1, o -> lit(init - o), v);
      if (st != null) {
        last.add(st);
      }
    }
    return last.isEmpty() ? List.of(first, loop)
        : List.of(first, loop, nest(cx.kernelName(out, "initial"), last, 0, 2));
  }
}
