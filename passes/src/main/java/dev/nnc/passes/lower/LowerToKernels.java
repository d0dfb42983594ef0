package dev.nnc.passes.lower;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.kernel.Buffer;
import dev.nnc.ir.kernel.KExpr;
import dev.nnc.ir.kernel.KernelWalk;
import dev.nnc.ir.kernel.KExpr.Affine;
import dev.nnc.ir.kernel.KStmt;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.ir.kernel.KernelVerifier;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.Broadcast;
import dev.nnc.ir.ops.Concat;
import dev.nnc.ir.ops.Constant;
import dev.nnc.ir.ops.Slice;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.Conv2dGradInput;
import dev.nnc.ir.ops.Conv2dGradWeight;
import dev.nnc.ir.ops.Patches;
import dev.nnc.ir.ops.PatchesGrad;
import dev.nnc.ir.ops.Permute;
import dev.nnc.ir.ops.Window;
import dev.nnc.ir.ops.Winograd;
import dev.nnc.ir.ops.DropoutMask;
import dev.nnc.ir.ops.Embedding;
import dev.nnc.ir.ops.EmbeddingGrad;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.OneHot;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.Recurrence;
import dev.nnc.ir.ops.RecurrenceGrad;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.ir.ops.SumTo;
import dev.nnc.ir.ops.Unary;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code lower}: graph → kernels. Decides what is materialised in a buffer and what is fused:
 * <ul>
 *   <li>an element-wise node with one element-wise (or reduction) user of the same shape is
 *       inlined into it, so chains like {@code dy · step(x)} become one loop;
 *   <li>a matmul whose one user is element-wise of its shape becomes a GEMM with that user as
 *       its epilogue ({@code relu(x·Wᵀ + b)} is one kernel);
 *   <li>reductions and softmax read their (possibly inlined) operand in their own loop nests;
 *   <li>state updates run last and write their parameter's buffer in place when no later kernel
 *       reads the old value; otherwise through a copy;
 *   <li>adjacent element-wise kernels over the same shape merge into one loop (an optimizer's
 *       update of a weight and its moments is one pass over memory).
 * </ul>
 */
public final class LowerToKernels {
  private final Graph g;
  private final String program;
  private final Map<Node, List<Node>> users;
  private final Set<Node> forced = new HashSet<>();
  private final Set<Node> fusedMatmul = new HashSet<>();
  private final Map<Node, Integer> bufOf = new HashMap<>();
  private final List<Buffer> buffers = new ArrayList<>();
  private int kernelCount;

  private LowerToKernels(Graph g, String program) {
    this.g = g;
    this.program = program;
    this.users = g.users();
    this.boundary = new HashSet<>(g.outputs().values());
    this.boundary.addAll(g.updates().values());
  }

  /** Outputs and updated values: computed into buffers of their own. A set, not a scan of both maps per node. */
  private final Set<Node> boundary;

  /** Lowers {@code g}; with assertions on (every test), the result must pass {@link KernelVerifier}. */
  public static KernelProgram lower(Graph g, String program) {
    KernelProgram kp = lowerUnchecked(g, program, null);
    assert KernelVerifier.verified(kp);
    return kp;
  }

  /** The kernel stages in order; {@code after} sees the program after each. */
  public static final java.util.List<String> STAGES = java.util.List.of("lower", "merge", "collapse", "place-updates");

  /**
   * Lowers without the verifier (for {@code nnc emit --verify}, which reports its problems
   * itself); {@code after}, when given, sees the program after each of {@link #STAGES}: one
   * kernel per materialised value ({@code lower}), adjacent loops over the same space merged
   * ({@code merge}), loop nests collapsed ({@code collapse}), state updates written in place
   * where safe ({@code place-updates}).
   */
  public static KernelProgram lowerUnchecked(Graph g, String program,
      java.util.function.BiConsumer<String, KernelProgram> after) {
    LowerToKernels l = new LowerToKernels(g, program);
    l.after = after;
    return l.run();
  }

  private java.util.function.BiConsumer<String, KernelProgram> after;

  private List<Kernel> stage(String name, List<Kernel> kernels, Map<String, Integer> inputs,
      Map<String, Integer> params) {
    if (after != null) {
      after.accept(name, program(kernels, inputs, params));
    }
    return kernels;
  }

  private KernelProgram program(List<Kernel> kernels, Map<String, Integer> inputs, Map<String, Integer> params) {
    Map<String, KernelProgram.View> outputs = new LinkedHashMap<>();
    g.outputs().forEach((name, n) -> outputs.put(name, new KernelProgram.View(bufOf.get(n), n.shape())));
    return new KernelProgram(program, List.copyOf(buffers), List.copyOf(kernels), inputs, outputs, params);
  }

  private static boolean elementwise(Node n) {
    return n.op().elementwise();
  }

  private boolean isBoundary(Node n) {
    return boundary.contains(n);
  }

  /**
   * Slices read only by other slices: a chain of slices is one load from the chain's first
   * operand, at the sum of their offsets (all slices keep the operand's rank and strides), so the
   * inner ones are never copied (a recurrence's outputs: the steps' rows, then the output slot).
   */
  private final Set<Node> chained = new HashSet<>();

  /** The operand a chain of slices reads: {@code n}'s, past every chained slice. */
  private Node sliceRoot(Node n) {
    Node x = n.input(0);
    while (chained.contains(x)) {
      x = x.input(0);
    }
    return x;
  }

  /** The offset in {@link #sliceRoot}'s elements at which the chain ending in slice {@code n} starts. */
  private long sliceBase(Node n) {
    Node root = sliceRoot(n);
    long[] strides = root.shape().strides();
    long base = 0;
    for (Node x = n; x != root; x = x.input(0)) {
      Slice sl = (Slice) x.op();
      base += sl.start() * strides[sl.axis()];
    }
    return base;
  }

  /** Whether {@code n}'s value needs a buffer of its own (or is a parameter/input/view). */
  private boolean materialized(Node n) {
    if (n.op() instanceof Constant || chained.contains(n)) {
      return false;
    }
    if (writtenThrough.containsKey(n) || lookups.containsValue(n)) {
      return false;
    }
    if ((constantBroadcast(n) || placedConcat(n) || readThrough.contains(n)) && !forced.contains(n) && !isBoundary(n)) {
      return false;
    }
    if (n.op() instanceof MatMul) {
      return !fusedMatmul.contains(n);
    }
    if (!elementwise(n) && !n.op().gather()) {
      return true;
    }
    if (forced.contains(n) || isBoundary(n)) {
      return true;
    }
    List<Node> us = users.get(n);
    if (us.size() != 1) {
      // A gather is a load at another index, as cheap in each of its users as a copy would be:
      // when all of them read it inline, none needs the copy (max pooling in training: the
      // maximum and the backward pass's argmax mask both read the activation's windows in place).
      return us.isEmpty() || !n.op().gather() || !us.stream().allMatch(u -> readsInline(u, n));
    }
    return !readsInline(us.get(0), n);
  }

  /**
   * A broadcast of a constant (through broadcasts): its users, which read it inline unless they
   * read their operands from memory (then it is forced), read the constant; a recurrence's
   * gradient is joined with blocks of zeros that would otherwise be written and read again
   * (3.9 MB a layer in the character LSTM's training step).
   */
  private static boolean constantBroadcast(Node n) {
    return n.op() instanceof Broadcast && (n.input(0).op() instanceof Constant || constantBroadcast(n.input(0)));
  }

  /**
   * A concatenation whose one user is a concatenation of the same rank that places it ({@link
   * #concat}): its operands are written straight into the outer one's buffer. The outer one's
   * loop over the first dimension (when it joins along another) must be the inner one's too.
   */
  private boolean placedConcat(Node n) {
    if (!(n.op() instanceof Concat inner)) {
      return false;
    }
    List<Node> us = users.get(n);
    return us.size() == 1 && us.get(0).op() instanceof Concat outer && us.get(0).shape().rank() == n.shape().rank()
        && (outer.axis() == 0 || inner.axis() > 0);
  }

  /**
   * The concatenations (and the slices above them) that a recurrence's gradient reads through
   * instead of from a buffer ({@link #readThrough(Node, RecurrenceGrad)}): never stored.
   */
  private final Set<Node> readThrough = new HashSet<>();

  /**
   * Marks trace gradient {@code d} read through ({@link #readThrough}) when recurrence gradient
   * {@code rg} can read it through the concatenations that build it ({@link LowerRecurrence#gradientReads}): {@code d} is a
   * concatenation only {@code rg} reads, and each box the loops read lies in a block of zeros or
   * in one operand, which is then materialised. Then {@code d} is not stored; its blocks of zeros
   * are never written or read. {@code -Dnnc.lower.readThrough=false} stores it, for comparisons.
   */
  private void readThrough(Node d, RecurrenceGrad rg) {
    if ("false".equals(System.getProperty("nnc.lower.readThrough"))) {
      return;
    }
    // The concatenation, under slices that only pass it on (the state slots of a trace as wide).
    List<Node> chain = new ArrayList<>();
    Node top = d;
    while (top.op() instanceof Slice && !isBoundary(top) && users.get(top).size() == 1) {
      chain.add(top);
      top = top.input(0);
    }
    if (!(top.op() instanceof Concat) || isBoundary(top) || users.get(top).size() != 1) {
      return;
    }
    chain.add(top);
    List<LowerRecurrence.Piece> pieces = new ArrayList<>();
    for (LowerRecurrence.Box box : LowerRecurrence.gradientReads(rg, d.shape())) {
      LowerRecurrence.Piece p = through(d, box);
      if (p == null) {
        return;
      }
      pieces.add(p);
    }
    pieces.stream().filter(p -> p.node() != null).forEach(p -> force(p.node()));
    readThrough.addAll(chain);
  }

  /**
   * Where {@code box} of {@code n}'s [B, R, C] value lies, through concatenations along R or C:
   * zero (in a broadcast of a literal zero), or in one operand that gets a buffer of its own
   * laid out as its shape; null when it spans operands or lies in one with no such buffer.
   */
  private LowerRecurrence.Piece through(Node n, LowerRecurrence.Box box) {
    if (n.shape().rank() != 3) {
      return null;
    }
    if (constantBroadcast(n)) {
      Node c = n;
      while (!(c.op() instanceof Constant)) {
        c = c.input(0);
      }
      return ((Constant) c.op()).value() == 0 ? LowerRecurrence.Piece.ZERO : null;
    }
    if (n.op() instanceof Slice sl && sl.axis() > 0) {
      LowerRecurrence.Piece p = through(n.input(0), box.shifted(sl.axis(), sl.start()));
      return p == null ? null : p.shifted(sl.axis(), -sl.start());
    }
    if (n.op() instanceof Concat cat) {
      if (cat.axis() == 0 || isBoundary(n)) {
        return null;
      }
      long lo = cat.axis() == 1 ? box.r0() : box.c0();
      long hi = cat.axis() == 1 ? box.r1() : box.c1();
      long offset = 0;
      for (Node x : n.inputs()) {
        long len = x.shape().dim(cat.axis());
        if (lo >= offset && hi <= offset + len) {
          LowerRecurrence.Piece p = through(x, box.shifted(cat.axis(), -offset));
          return p == null ? null : p.shifted(cat.axis(), offset);
        }
        offset += len;
      }
      return null;
    }
    // A buffer laid out as its shape once forced: its own, or a reshape's (its operand's), not a
    // constant, a broadcast or a slice read in place.
    if (n.op().view() && !(n.op() instanceof Reshape) || n.op() instanceof Slice || n.op() instanceof Constant
        || n.op() instanceof Broadcast) {
      return null;
    }
    return new LowerRecurrence.Piece(n, 0, 0);
  }

  /**
   * Recurrence gradients stored straight into the slices that read them ({@link
   * #writeThrough}), each with those slices (the ends of its tree of slices) and the box of its
   * value each one holds; and each such slice's recurrence gradient.
   */
  private final Map<Node, Map<Node, LowerRecurrence.Box>> writtenThrough = new HashMap<>();
  private final Map<Node, Node> writtenBy = new HashMap<>();

  /**
   * Marks recurrence gradient {@code n} written through: when only slices read it (along rows
   * and columns, through slices that only pass it on), and each slice at the end of that tree
   * holds exactly the loop's rows or the initial row, in whole slots of H columns, with no two
   * holding the same box, the loops store each of their boxes ({@link
   * LowerRecurrence#gradientWrites}) straight into the slice that holds it, and nowhere when none
   * does. {@code n} is never stored, and its slices are never copied: the character LSTM's
   * {@code dG} (7.5 MB a layer) is written once instead of written, read and written again.
   * {@code -Dnnc.lower.writeThrough=false} stores it, for comparisons.
   */
  private void writeThrough(Node n, RecurrenceGrad rg) {
    if ("false".equals(System.getProperty("nnc.lower.writeThrough")) || isBoundary(n) || users.get(n).isEmpty()
        || n.shape().rank() != 3) {
      return;
    }
    Map<Node, LowerRecurrence.Box> ends = sliceEnds(n, true);
    if (ends == null) {
      return;
    }
    // Every box a slice holds is whole boxes of the loops' stores, each in one slice at most.
    List<LowerRecurrence.Box> writes = LowerRecurrence.gradientWrites(rg, n.shape());
    for (LowerRecurrence.Box end : ends.values()) {
      long covered = 0;
      for (LowerRecurrence.Box w : writes) {
        if (w.within(end)) {
          covered += w.size();
        } else if (w.overlaps(end)) {
          return;
        }
      }
      if (covered != end.size()) {
        return;
      }
    }
    for (LowerRecurrence.Box w : writes) {
      if (ends.values().stream().filter(w::within).count() > 1) {
        return;
      }
    }
    writtenThrough.put(n, ends);
    ends.keySet().forEach(e -> {
      writtenBy.put(e, n);
      force(e);
    });
  }

  /** The embedding lookup each recurrence reads in place of its input projections ({@link #lookUp}). */
  private final Map<Node, Node> lookups = new HashMap<>();

  /**
   * Finds the embedding lookup that recurrence {@code rec}'s input projections are (through reshapes
   * that only pass it on), shaped as they are, and read by nothing else: the loop reads each
   * step's projections from the lookup's table at the token's row ({@link
   * LowerRecurrence.Lookup}) instead of from a [B, T, G·H] copy of them (7.5 MB written and read
   * again in the character LSTM, whose first layer's projection {@code fold-linear} turns into a
   * lookup of a 60-row table); recorded in {@link #lookups}. {@code -Dnnc.lower.lookup=false}
   * stores the projections, for comparisons.
   */
  private void lookUp(Node rec) {
    if ("false".equals(System.getProperty("nnc.lower.lookup"))) {
      return;
    }
    Node x = rec.input(0);
    while (x.op() instanceof Reshape && users.get(x).size() == 1 && !isBoundary(x)) {
      x = x.input(0);
    }
    if (!(x.op() instanceof Embedding) || isBoundary(x) || users.get(x).size() != 1
        || !x.shape().equals(rec.input(0).shape())) {
      return;
    }
    lookups.put(rec, x);
  }

  /**
   * The slices at the ends of {@code n}'s trees of slices along rows or columns (through the
   * slices that only pass it on, {@link #chained}), each with the box of {@code n}'s [B, R, C]
   * value it holds. Any other reader of {@code n} or of a chained slice is skipped; with {@code
   * onlySlices}, there is none then (null).
   */
  private Map<Node, LowerRecurrence.Box> sliceEnds(Node n, boolean onlySlices) {
    record Seen(Node node, LowerRecurrence.Box box) {}
    Map<Node, LowerRecurrence.Box> ends = new LinkedHashMap<>();
    java.util.ArrayDeque<Seen> todo = new java.util.ArrayDeque<>();
    LowerRecurrence.Box whole = new LowerRecurrence.Box(0, n.shape().dim(1), 0, n.shape().dim(2));
    users.get(n).forEach(u -> todo.add(new Seen(u, whole)));
    while (!todo.isEmpty()) {
      Seen v = todo.pop();
      if (!(v.node().op() instanceof Slice sl) || sl.axis() == 0) {
        if (onlySlices) {
          return null;
        }
        continue;
      }
      LowerRecurrence.Box box = v.box().shifted(sl.axis(), sl.start());
      box = sl.axis() == 1 ? new LowerRecurrence.Box(box.r0(), box.r0() + sl.size(), box.c0(), box.c1())
          : new LowerRecurrence.Box(box.r0(), box.r1(), box.c0(), box.c0() + sl.size());
      if (chained.contains(v.node())) {
        for (Node u : users.get(v.node())) {
          todo.add(new Seen(u, box));
        }
      } else {
        ends.put(v.node(), box);
      }
    }
    return ends;
  }

  /** The slices of each recurrence's trace its loop stores into ({@link #feed}), and all of them. */
  private final Map<Node, List<LowerRecurrence.Feed>> feeds = new HashMap<>();
  private final Set<Node> fed = new HashSet<>();

  /**
   * Finds the slices of recurrence {@code n}'s trace (at the ends of its trees of slices) that
   * hold one slot over the loop's rows (the outputs) or the state h over the rows before them
   * (the previous states, for {@code dW_hh}), and has the loop store into them each step ({@link
   * LowerRecurrence.Feed}) instead of copying them out of the trace afterwards: the character
   * LSTM's four copies of 2 MB from 896-float rows are gone, and an LSTM's trace no longer holds h
   * (its backward loop does not read it). {@code -Dnnc.lower.feed=false} copies them, for comparisons.
   */
  private void feed(Node n, Recurrence r) {
    if ("false".equals(System.getProperty("nnc.lower.feed")) || n.shape().rank() != 3) {
      return;
    }
    int steps = n.shape().dim(1) - 1;
    long hid = r.hidden();
    long shift = r.reverse() ? 0 : 1;
    long prev = 1 - shift;
    List<LowerRecurrence.Feed> found = new ArrayList<>();
    sliceEnds(n, false).forEach((end, box) -> {
      if (box.c1() - box.c0() != hid || box.c0() % hid != 0) {
        return;
      }
      if (box.r0() == shift && box.r1() == shift + steps) {
        found.add(new LowerRecurrence.Feed(end, (int) (box.c0() / hid), false));
      } else if (box.c0() == 0 && box.r0() == prev && box.r1() == prev + steps) {
        found.add(new LowerRecurrence.Feed(end, 0, true));
      } else {
        return;
      }
      fed.add(end);
      force(end);
    });
    if (!found.isEmpty()) {
      feeds.put(n, found);
    }
  }

  /** Whether {@code u} computes its operand {@code n} inline: a same-shaped element-wise op, or a reduction. */
  private static boolean readsInline(Node u, Node n) {
    if (elementwise(u) && !u.op().expands()) {
      return u.shape().equals(n.shape());
    }
    return u.op().reduction();
  }

  private KernelProgram run() {
    for (Node n : g.nodes()) {
      if (n.op() instanceof Slice && !isBoundary(n) && !users.get(n).isEmpty()
          && users.get(n).stream().allMatch(u -> u.op() instanceof Slice)) {
        chained.add(n);
      }
    }
    // Trace gradients read through their concatenations (and their operands, forced).
    for (Node n : g.nodes()) {
      if (n.op() instanceof RecurrenceGrad rg) {
        readThrough(n.input(2), rg);
      }
    }
    // Recurrence gradients stored straight into the slices that read them; and traces' slices
    // fed by the forward loops.
    for (Node n : g.nodes()) {
      if (n.op() instanceof RecurrenceGrad rg) {
        writeThrough(n, rg);
      }
      if (n.op() instanceof Recurrence r) {
        feed(n, r);
        lookUp(n);
      }
    }
    // Operands that kernels read from memory must be materialised.
    for (Node n : g.nodes()) {
      switch (n.op()) {
        case MatMul mm -> n.inputs().forEach(this::force);
        case Softmax s -> force(n.input(0));
        case LogSoftmax s -> force(n.input(0));
        case Reshape r -> force(n.input(0));
        case Permute p -> force(n.input(0));
        case Patches p -> force(n.input(0));
        case Slice sl -> {
          if (!readThrough.contains(n) && !writtenThrough.containsKey(sliceRoot(n))) {
            force(sliceRoot(n));
          }
        }
        case Winograd w -> force(n.input(0));
        // lower-conv leaves the convolutions it computes directly (Conv2d.Lowering.DIRECT).
        case Conv2d _, Conv2dGradWeight _ -> n.inputs().forEach(this::force);
        // Embeddings read their table (or gradient) and token ids from memory, at rows the ids select.
        case Embedding _, EmbeddingGrad _ -> n.inputs().forEach(this::force);
        // A recurrence's loop reads its operands at the rows its steps select.
        // A recurrence gradient's trace gradient is read through its concatenations where it can be.
        // One whose input projections are an embedding lookup reads the lookup's table and ids.
        case Recurrence _ -> {
          Node e = lookups.get(n);
          if (e != null) {
            force(e.input(0));
            force(e.input(1));
          }
          n.inputs().stream().skip(e == null ? 0 : 1).forEach(this::force);
        }
        case RecurrenceGrad rg -> {
          for (int i = 0; i < n.inputs().size(); i++) {
            if (i != 2 || !readThrough.contains(n.input(2))) {
              force(n.input(i));
            }
          }
        }
        case Conv2dGradInput _ ->
            throw new IllegalStateException(n.op().mnemonic() + " reached lowering: the lower-conv pass must run first");
        // Reductions read their operand inline; element-wise ops read theirs inline or from memory.
        case Input _, Param _, Constant _, Unary _, Binary _, Reduce _, Broadcast _, SumTo _, OneHot _,
            DropoutMask _, PatchesGrad _, Concat _ -> { }
      }
    }
    for (Node n : g.nodes()) {
      // A batched product has no epilogue: its element-wise user reads it from memory.
      if (n.op() instanceof MatMul && !isBoundary(n) && MatMul.batch(n.shape()) == 1) {
        List<Node> us = users.get(n);
        if (us.size() == 1 && fusible(us.get(0), n)) {
          // The epilogue is the whole single-use element-wise chain above the product:
          // relu(x·Wᵀ + b) is one GEMM whose epilogue is max(acc + b, 0).
          Node top = us.get(0);
          while (!isBoundary(top) && users.get(top).size() == 1 && fusible(users.get(top).get(0), top)) {
            top = users.get(top).get(0);
          }
          fusedMatmul.add(n);
          forced.add(top);
        }
      }
    }
    // Buffers: parameters and inputs first, then one per materialised value; reshapes are views.
    Map<String, Integer> inputs = new LinkedHashMap<>();
    Map<String, Integer> params = new LinkedHashMap<>();
    List<Node> roots = new ArrayList<>();
    for (Node n : g.nodes()) {
      switch (n.op()) {
        case Input in -> inputs.put(in.name(), bufOf.computeIfAbsent(n, k -> newBuffer(in.name(), Buffer.Kind.INPUT, n.shape())));
        case Param p -> params.put(p.name(), bufOf.computeIfAbsent(n, k -> newBuffer(p.name(), Buffer.Kind.PARAM, n.shape())));
        case Reshape r -> bufOf.put(n, bufOf.get(n.input(0)));
        case Constant _, MatMul _, Unary _, Binary _, Reduce _, Broadcast _, SumTo _, Softmax _, LogSoftmax _,
            OneHot _, DropoutMask _, Conv2d _, Patches _, PatchesGrad _, Permute _, Concat _, Slice _, Winograd _,
            Conv2dGradInput _, Conv2dGradWeight _, Embedding _, EmbeddingGrad _, Recurrence _, RecurrenceGrad _ -> {
          if (materialized(n)) {
            bufOf.put(n, newBuffer("t" + n.id(), Buffer.Kind.TEMP, n.shape()));
            roots.add(n);
          }
        }
      }
    }
    // Updates and everything computed from them run after all other kernels, so that no kernel
    // reads a parameter after its new value has been written.
    Set<Node> late = new HashSet<>(g.updates().values());
    for (Node n : g.nodes()) {
      if (n.inputs().stream().anyMatch(late::contains)) {
        late.add(n);
      }
    }
    List<Node> order = new ArrayList<>();
    roots.stream().filter(n -> !late.contains(n)).forEach(order::add);
    roots.stream().filter(late::contains).forEach(order::add);

    // A recurrence gradient written through its slices runs where the first of them would be copied.
    List<Kernel> kernels = new ArrayList<>();
    Set<Node> ran = new HashSet<>();
    for (Node n : order) {
      Node rg = writtenBy.get(n);
      if (fed.contains(n)) {
        continue;
      }
      if (rg == null) {
        kernels.addAll(kernelsFor(n));
      } else if (ran.add(rg)) {
        kernels.addAll(kernelsFor(rg));
      }
    }
    stage("lower", kernels, inputs, params);
    kernels = stage("merge", Merge.adjacentLoops(kernels), inputs, params);
    kernels = stage("collapse", kernels.stream().map(Collapse::apply).toList(), inputs, params);
    kernels = stage("place-updates", placeUpdates(kernels, params), inputs, params);
    return program(kernels, inputs, params);
  }

  /** Whether {@code u} can take {@code n} into its element-wise expression at the same index. */
  private static boolean fusible(Node u, Node n) {
    return elementwise(u) && !u.op().expands() && !u.op().random() && u.shape().equals(n.shape());
  }

  private void force(Node n) {
    if (n.op().view()) {
      force(n.input(0));
    } else {
      forced.add(n);
    }
  }

  private int newBuffer(String name, Buffer.Kind kind, Shape shape) {
    int id = buffers.size();
    buffers.add(new Buffer(id, name, kind, Math.max(1, shape.size()), shape));
    return id;
  }

  private String kernelName(Node n) {
    return program + "_k" + (kernelCount++) + "_" + n.op().mnemonic();
  }

  // ------------------------------------------------------------------ kernels per root

  /** The kernels that compute {@code n}: one, or a recurrence's setup and loop over time. */
  private List<Kernel> kernelsFor(Node n) {
    LowerRecurrence.Context cx = new LowerRecurrence.Context() {
      @Override
      public int buffer(Node x) {
        return bufOf.get(x);
      }

      @Override
      public int temp(String name, Shape shape) {
        return newBuffer(name, Buffer.Kind.TEMP, shape);
      }

      @Override
      public boolean[] slotsRead(Node trace, int slots, int width) {
        boolean[] read = new boolean[slots];
        // Views of the trace (slices of it, of slices…), each with the trace column its last axis
        // starts at; a view read by anything but a slice is read whole.
        record View(Node node, int from) {}
        java.util.ArrayDeque<View> todo = new java.util.ArrayDeque<>(List.of(new View(trace, 0)));
        while (!todo.isEmpty()) {
          View v = todo.pop();
          if (fed.contains(v.node())) {
            continue;
          }
          boolean whole = isBoundary(v.node());
          for (Node u : users.get(v.node())) {
            if (u.op() instanceof RecurrenceGrad && u.input(0) == trace && v.node() == trace) {
              for (int k = 0; k < slots; k++) {
                read[k] |= LowerRecurrence.backwardReads(((RecurrenceGrad) u.op()).cell(), k);
              }
            } else if (u.op() instanceof Slice sl) {
              todo.push(new View(u, v.from() + (sl.axis() == 2 ? sl.start() : 0)));
            } else {
              whole = true;
            }
          }
          if (whole) {
            int size = v.node().shape().dim(2);
            for (int k = v.from() / width; k * width < v.from() + size; k++) {
              read[k] = true;
            }
          }
        }
        return read;
      }

      @Override
      public LowerRecurrence.Piece piece(Node x, LowerRecurrence.Box box) {
        if (!readThrough.contains(x)) {
          return null;
        }
        LowerRecurrence.Piece p = through(x, box);
        if (p == null) {
          throw new IllegalStateException("lowering: " + x + " is read through, but not at " + box);
        }
        return p;
      }

      @Override
      public LowerRecurrence.Piece written(Node x, LowerRecurrence.Box box) {
        Map<Node, LowerRecurrence.Box> ends = writtenThrough.get(x);
        if (ends == null) {
          return null;
        }
        for (Map.Entry<Node, LowerRecurrence.Box> e : ends.entrySet()) {
          if (box.within(e.getValue())) {
            return new LowerRecurrence.Piece(e.getKey(), e.getValue().r0(), e.getValue().c0());
          }
        }
        return LowerRecurrence.Piece.ZERO;
      }

      @Override
      public LowerRecurrence.Lookup lookup(Node rec) {
        Node e = lookups.get(rec);
        return e == null ? null
            : new LowerRecurrence.Lookup(bufOf.get(e.input(0)), bufOf.get(e.input(1)), ((Embedding) e.op()).vocab());
      }

      @Override
      public List<LowerRecurrence.Feed> feeds(Node x) {
        return feeds.getOrDefault(x, List.of());
      }

      @Override
      public String kernelName(Node x, String what) {
        return program + "_k" + (kernelCount++) + "_" + x.op().mnemonic() + "_" + what;
      }
    };
    return switch (n.op()) {
      case Recurrence r -> LowerRecurrence.forward(cx, n, r);
      case RecurrenceGrad r -> LowerRecurrence.backward(cx, n, r);
      case Input _, Param _, Constant _, MatMul _, Unary _, Binary _, Reduce _, Broadcast _, SumTo _, Reshape _,
          Softmax _, LogSoftmax _, OneHot _, DropoutMask _, Conv2d _, Patches _, PatchesGrad _, Permute _, Concat _,
          Slice _, Winograd _, Conv2dGradInput _, Conv2dGradWeight _, Embedding _, EmbeddingGrad _ -> List.of(kernelFor(n));
    };
  }

  private Kernel kernelFor(Node n) {
    return switch (n.op()) {
      case MatMul mm -> gemm(n, mm, null, n);
      case Reduce r -> reduction(n, n.input(0), r.fn(), r.reducedShape(n.input(0).shape(), true));
      case SumTo s -> reduction(n, n.input(0), ReduceFn.SUM, keepShape(s.target(), n.input(0).shape()));
      case Softmax s -> softmax(n, false);
      case LogSoftmax s -> softmax(n, true);
      case Unary _, Binary _, Broadcast _, OneHot _, DropoutMask _, Patches _, Permute _, Slice _ ->
          elementwiseKernel(n);
      case Concat c -> concat(n, c);
      case PatchesGrad pg -> patchesGrad(n, pg);
      case Winograd w -> winograd(n, w);
      case Conv2d c -> directConv(n, c);
      case Conv2dGradWeight g -> directConvGradWeight(n, g);
      case Embedding e -> embedding(n, e);
      case EmbeddingGrad e -> embeddingGrad(n, e);
      case Conv2dGradInput _ ->
          throw new IllegalStateException(n.op().mnemonic() + " reached lowering: the lower-conv pass must run first");
      case Recurrence _, RecurrenceGrad _ -> throw new IllegalStateException(n + " is a loop: see kernelsFor");
      // Never a root: stored (inputs, parameters), a view, or a literal inlined where it is read.
      case Input _, Param _, Reshape _, Constant _ -> throw new IllegalStateException("no kernel computes " + n);
    };
  }

  /**
   * An embedding lookup: per token (the parallel loop) its row of the table, copied along the
   * embedding dimension, the row given by the token id ({@link KExpr.Row}, clamped to the
   * vocabulary: the runtime rejects ids outside it before any kernel runs).
   */
  private Kernel embedding(Node out, Embedding e) {
    Node table = out.input(0);
    Node ids = out.input(1);
    int dim = table.shape().dim(1);
    long tokens = ids.shape().size();
    // Variables: 0 = token, 1 = element of its row.
    KExpr.Row row = new KExpr.Row(new KExpr.Load(bufOf.get(ids), new Affine(0, new long[] {1, 0})), dim, e.vocab());
    KStmt store = new KStmt.Store(bufOf.get(out), new Affine(0, new long[] {dim, 1}),
        new KExpr.Load(bufOf.get(table), new Affine(0, new long[] {0, 1}), row));
    KStmt.Loop root = new KStmt.Loop(0, tokens, List.of(new KStmt.Loop(1, dim, List.of(store))));
    return new Kernel.Loops(kernelName(out), root, 2, 0, tokens > 1, 0);
  }

  /**
   * The table's gradient: zero it, then add each token's output gradient onto its row, token
   * after token (tokens that share an id add onto the same row, so the tokens of one column run
   * on one thread). Work items are blocks of {@code gcd(D, 64)} columns (the lowest power of two
   * dividing D, at most 64): the items share no
   * element, and a wide table's gradient (a character LSTM's first layer through its lookup,
   * 60 × 512 from 3840 tokens) is scattered by all the threads.
   */
  private Kernel embeddingGrad(Node out, EmbeddingGrad e) {
    Node dy = out.input(0);
    Node ids = out.input(1);
    int dw = bufOf.get(out);
    int dim = out.shape().dim(1);
    long tokens = ids.shape().size();
    int width = Math.min(64, Integer.lowestOneBit(dim));
    int blocks = dim / width;
    // Variables: 0 = the block of columns, 1 = table row (zeroing), then token; 2 = column in the block.
    KStmt zero = new KStmt.Loop(1, e.vocab(), List.of(new KStmt.Loop(2, width,
        List.of(new KStmt.Store(dw, new Affine(0, new long[] {width, dim, 1}), new KExpr.Lit(0))))));
    KExpr.Row row = new KExpr.Row(new KExpr.Load(bufOf.get(ids), new Affine(0, new long[] {0, 1, 0})), dim,
        e.vocab());
    Affine at = new Affine(0, new long[] {width, 0, 1});
    KStmt add = new KStmt.Store(dw, at, new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Load(dw, at, row),
        new KExpr.Load(bufOf.get(dy), new Affine(0, new long[] {width, dim, 1}))), row);
    KStmt scatter = new KStmt.Loop(1, tokens, List.of(new KStmt.Loop(2, width, List.of(add))));
    KStmt.Loop root = new KStmt.Loop(0, blocks, List.of(zero, scatter));
    return new Kernel.Loops(kernelName(out), root, 3, 0, blocks > 1, (double) tokens * dim);
  }

  /** {@code target} right-aligned to {@code full}'s rank with 1s in front. */
  private static Shape keepShape(Shape target, Shape full) {
    int[] d = new int[full.rank()];
    int off = full.rank() - target.rank();
    for (int i = 0; i < d.length; i++) {
      d[i] = i < off ? 1 : target.dim(i - off);
    }
    return new Shape(d);
  }

  /** Builds expressions over an iteration space: one loop variable per dimension. */
  private final class ExprBuilder {
    final Shape space;
    final int[] varOfDim;
    final int vars;
    Node matmul;

    ExprBuilder(Shape space, int[] varOfDim, int vars) {
      this.space = space;
      this.varOfDim = varOfDim;
      this.vars = vars;
    }

    /** The affine index of a row-major tensor of shape {@code t}, broadcast into the space. */
    Affine broadcastIndex(Shape t, long base) {
      long[] strides = new long[vars];
      long[] ts = t.strides();
      int off = space.rank() - t.rank();
      for (int d = 0; d < space.rank(); d++) {
        int td = d - off;
        if (td >= 0 && t.dim(td) != 1) {
          strides[varOfDim[d]] += ts[td];
        }
      }
      return new Affine(base, strides);
    }

    Affine contiguous() {
      return broadcastIndex(space, 0);
    }

    /** The expression of a kernel's root: its own op, even though it is materialised. */
    KExpr of0(Node n) {
      if (n.op().leaf() || n.op().view()) {
        return of(n);
      }
      return expand(n);
    }

    KExpr of(Node n) {
      if (n.op().leaf() || n.op().view() || (bufOf.containsKey(n) && materialized(n))) {
        Integer buf = bufOf.get(n);
        if (buf == null) {
          throw new IllegalStateException("no buffer for " + n);
        }
        return new KExpr.Load(buf, broadcastIndex(n.shape(), 0));
      }
      return expand(n);
    }

    /**
     * A gather whose output dimension {@code d} walks the operand's dimension
     * {@code operandDim(d)}, from element {@code base} of the operand.
     */
    private KExpr gatherLoad(Node n, java.util.function.IntUnaryOperator operandDim, long base) {
      return gatherLoad(n, n.input(0), operandDim, base);
    }

    /** As above, reading {@code x} (the operand, or the first operand of a chain of slices). */
    private KExpr gatherLoad(Node n, Node x, java.util.function.IntUnaryOperator operandDim, long base) {
      long[] xs = x.shape().strides();
      long[] strides = new long[vars];
      int off = space.rank() - n.shape().rank();
      for (int d = 0; d < n.shape().rank(); d++) {
        if (n.shape().dim(d) != 1) {
          strides[varOfDim[d + off]] += xs[operandDim.applyAsInt(d)];
        }
      }
      return new KExpr.Load(bufOf.get(x), new Affine(base, strides));
    }

    private KExpr expand(Node n) {
      return switch (n.op()) {
        case Constant c -> new KExpr.Lit(c.value());
        case Unary u -> Expand.unary(u.fn(), u.alpha(), of(n.input(0)));
        case Binary b -> Expand.binary(b.fn(), of(n.input(0)), of(n.input(1)));
        case Broadcast b -> of(n.input(0));
        case OneHot oh -> {
          // labels[N…] align with the leading dimensions; the class index is the last variable.
          Node labels = n.input(0);
          long[] strides = new long[vars];
          long[] ls = labels.shape().strides();
          for (int d = 0; d < labels.shape().rank(); d++) {
            strides[varOfDim[d]] += ls[d];
          }
          KExpr label = new KExpr.Load(bufOf.get(labels), new Affine(0, strides));
          yield new KExpr.Select(KExpr.Cmp.EQ, label, new KExpr.IndexValue(varOfDim[space.rank() - 1]),
              new KExpr.Lit(1), new KExpr.Lit(0));
        }
        case DropoutMask dm -> new KExpr.Rand(contiguous(), of(n.input(0)), dm.salt(), dm.rate());
        // Output dimension d is the operand's dimension perm[d]: it walks that one's stride.
        case Permute p -> gatherLoad(n, p.perm()::get, 0);
        case Patches p -> patchesLoad(n, p, this);
        // The operand at the same index, shifted by start along the axis.
        case Slice sl -> gatherLoad(n, sliceRoot(n), d -> d, sliceBase(n));
        case MatMul mm -> {
          if (matmul != null && matmul != n) {
            throw new IllegalStateException("two matmuls fused into one epilogue");
          }
          matmul = n;
          yield new KExpr.Acc();
        }
        // Read from memory, never inlined (of() loads them): stored, a view, or computed by a kernel of their own.
        case Input _, Param _, Reshape _, Reduce _, SumTo _, Softmax _, LogSoftmax _, PatchesGrad _, Conv2d _,
            Concat _, Winograd _, Conv2dGradInput _, Conv2dGradWeight _, Embedding _, EmbeddingGrad _, Recurrence _,
            RecurrenceGrad _ ->
            throw new IllegalStateException("cannot inline " + n);
      };
    }
  }

  /**
   * The guards of an access at input row {@code rowExpr − pt} and column {@code colExpr − pl} of
   * an {@code [N, C, H, W]} tensor: one per axis the window can leave (the padded ones).
   */
  private static List<KExpr.Guard> windowGuards(Window w, long[] rowExpr, long[] colExpr, Shape xs) {
    List<KExpr.Guard> guards = new ArrayList<>();
    if (w.pt() > 0 || w.pb() > 0) {
      guards.add(new KExpr.Guard(new Affine(-w.pt(), rowExpr), 0, xs.dim(2)));
    }
    if (w.pl() > 0 || w.pr() > 0) {
      guards.add(new KExpr.Guard(new Affine(-w.pl(), colExpr), 0, xs.dim(3)));
    }
    return guards;
  }

  /**
   * A window element read in place: {@code x[n, c, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl]},
   * guarded where the window can reach into the padding (which reads {@code fill}).
   */
  private KExpr patchesLoad(Node n, Patches p, ExprBuilder eb) {
    Window w = p.window();
    Shape xs = n.input(0).shape();
    long[] st = xs.strides();
    int[] dims = p.channelsLast() ? new int[] {0, 3, 1, 2, 4, 5} : new int[] {0, 1, 2, 3, 4, 5}; // N C OH OW KH KW
    int off = eb.space.rank() - n.shape().rank();
    long[][] per = new long[6][eb.vars];
    for (int i = 0; i < 6; i++) {
      int d = dims[i];
      if (n.shape().dim(d) != 1) {
        per[i][eb.varOfDim[d + off]] = 1;
      }
    }
    long[] index = new long[eb.vars];
    long[] rowExpr = new long[eb.vars];
    long[] colExpr = new long[eb.vars];
    for (int v = 0; v < eb.vars; v++) {
      rowExpr[v] = per[2][v] * w.sh() + per[4][v] * w.dh();
      colExpr[v] = per[3][v] * w.sw() + per[5][v] * w.dw();
      index[v] = per[0][v] * st[0] + per[1][v] * st[1] + rowExpr[v] * st[2] + colExpr[v] * st[3];
    }
    List<KExpr.Guard> guards = windowGuards(w, rowExpr, colExpr, xs);
    return new KExpr.Load(bufOf.get(n.input(0)), new Affine(-w.pt() * st[2] - w.pl() * st[3], index), guards,
        p.fill());
  }

  /**
   * {@code dx = Σ windows}. Windows that tile the image exactly once store each element; others
   * are summed per pixel ({@link #patchesGradByPixel}). Where that cannot read the windows'
   * tensor at another element, or with {@code -Dnnc.lower.col2im=scatter} (for comparisons), per
   * image (the parallel loop) zero {@code dx}, then add each window element at the position it
   * was read from, walking the windows in their memory order; writes into the padding are
   * skipped by guards.
   */
  private Kernel patchesGrad(Node out, PatchesGrad pg) {
    Window w = pg.window();
    Node dp = out.input(0);
    Shape ps = dp.shape();
    Shape xs = out.shape();
    long[] st = xs.strides();
    int vars = 6;
    int dx = bufOf.get(out);
    // Variables are the window tensor's dimensions in its order; their roles:
    int[] role = pg.channelsLast() ? new int[] {0, 3, 1, 2, 4, 5} : new int[] {0, 1, 2, 3, 4, 5}; // N C OH OW KH KW → var
    ExprBuilder eb = new ExprBuilder(ps, identityVars(6), vars);
    KExpr value = eb.of(dp);
    long[] rowExpr = new long[vars];
    long[] colExpr = new long[vars];
    rowExpr[role[2]] = w.sh();
    rowExpr[role[4]] = w.dh();
    colExpr[role[3]] = w.sw();
    colExpr[role[5]] = w.dw();
    long[] index = new long[vars];
    index[role[0]] = st[0];
    index[role[1]] = st[1];
    for (int v = 0; v < vars; v++) {
      index[v] += rowExpr[v] * st[2] + colExpr[v] * st[3];
    }
    Affine at = new Affine(-w.pt() * st[2] - w.pl() * st[3], index);
    if (tilesExactly(w, ps.dim(role[2]), ps.dim(role[3]), xs.dim(2), xs.dim(3))) {
      // Every element of dx is in exactly one window (max pooling's usual 2×2 stride 2): each is
      // stored once, with no zeroing and no read of dx.
      KStmt store = new KStmt.Store(dx, at, value);
      for (int v = vars - 1; v >= 0; v--) {
        store = new KStmt.Loop(v, ps.dim(v), List.of(store));
      }
      return new Kernel.Loops(kernelName(out), (KStmt.Loop) store, vars, 0, ps.dim(0) > 1, ps.size());
    }
    if (!"scatter".equals(System.getProperty("nnc.lower.col2im"))) {
      Kernel gathered = patchesGradByPixel(out, pg, value, role, dx);
      if (gathered != null) {
        return gathered;
      }
    }
    List<KExpr.Guard> guards = windowGuards(w, rowExpr, colExpr, xs);
    // The value is guarded too: back ends may evaluate a store's value before testing its guards.
    KStmt acc = new KStmt.Store(dx, at, new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Load(dx, at, guards, 0), value),
        guards);
    for (int v = vars - 1; v >= 1; v--) {
      acc = new KStmt.Loop(v, ps.dim(v), List.of(acc));
    }
    KStmt zero = new KStmt.Store(dx, new Affine(0, new long[] {st[0], st[1], st[2], st[3], 0, 0}), new KExpr.Lit(0));
    for (int v = 3; v >= 1; v--) {
      zero = new KStmt.Loop(v, xs.dim(v), List.of(zero));
    }
    KStmt.Loop root = new KStmt.Loop(0, xs.dim(0), List.of(zero, acc));
    return new Kernel.Loops(kernelName(out), root, vars, 0, xs.dim(0) > 1, ps.size());
  }

  /**
   * {@code dx = Σ windows} as a sum per pixel: loops n (parallel), c, and the
   * pixels' rows and columns in steps of the strides, {@code y = sh·yq + ry}, {@code x = sw·xq +
   * rx}, the body storing each of the {@code sh·sw} phases (ry, rx) once. Phase ry is covered by
   * the kernel rows kh with {@code ry + pt − dh·kh} a multiple of sh, of the windows {@code oh = yq
   * + (ry + pt − dh·kh)/sh}, guarded to [0, OH) (columns alike); the pixel is the sum of those
   * window elements in the windows' memory order (kh, then kw, from the last), the order in which
   * the scatter adds them (a window outside the map adds a 0); 0 where none covers it. Every element of dx is
   * stored once and nothing reads it, so on a GPU each pixel may be a thread (a strided
   * convolution's input gradient at batch 128 was a thread per image adding 147 kFLOP into it in
   * order); the CPU reads the windows' elements in place. With stride 1 there is one phase. Null where {@code value}, the window
   * tensor's element over its own dimensions' variables 0–5, reads a row, an index value or random
   * numbers (it cannot be read at another element by rewriting its indices).
   */
  private Kernel patchesGradByPixel(Node out, PatchesGrad pg, KExpr value, int[] role, int dx) {
    boolean[] plain = {true};
    KernelWalk.forEach(value, e -> {
      if (e instanceof KExpr.IndexValue || e instanceof KExpr.Rand || e instanceof KExpr.Acc
          || (e instanceof KExpr.Load ld && ld.row() != null)) {
        plain[0] = false;
      }
    });
    if (!plain[0]) {
      return null;
    }
    Window w = pg.window();
    Shape ps = out.input(0).shape();
    Shape xs = out.shape();
    long[] st = xs.strides();
    int oh = ps.dim(role[2]);
    int ow = ps.dim(role[3]);
    int yq = (xs.dim(2) + w.sh() - 1) / w.sh();
    int xq = (xs.dim(3) + w.sw() - 1) / w.sw();
    // The window tensor's variables n, c, oh, ow as the nest's 0 n, 1 c, 2 yq, 3 xq (kh and kw
    // become constants, oh and ow offsets of yq and xq).
    int[] to = new int[6];
    java.util.Arrays.fill(to, -1);
    to[role[0]] = 0;
    to[role[1]] = 1;
    to[role[2]] = 2;
    to[role[3]] = 3;
    List<KStmt> stores = new ArrayList<>();
    for (int ry = 0; ry < w.sh(); ry++) {
      for (int rx = 0; rx < w.sw(); rx++) {
        KExpr sum = null;
        // Kernel rows and columns from the last: the windows in their memory order, as the
        // scatter adds them: each pixel the same terms in the same order.
        for (int kh = w.kh() - 1; kh >= 0; kh--) {
          int dy = ry + w.pt() - w.dh() * kh;
          if (Math.floorMod(dy, w.sh()) != 0) {
            continue;
          }
          for (int kw = w.kw() - 1; kw >= 0; kw--) {
            int dxw = rx + w.pl() - w.dw() * kw;
            if (Math.floorMod(dxw, w.sw()) != 0) {
              continue;
            }
            // Window (yq + a, xq + b), element (kh, kw): variables 0 n, 1 c, 2 yq, 3 xq.
            long a = Math.floorDiv(dy, w.sh());
            long b = Math.floorDiv(dxw, w.sw());
            long[] at = new long[6];
            at[role[4]] = kh;
            at[role[5]] = kw;
            at[role[2]] = a;
            at[role[3]] = b;
            List<KExpr.Guard> inside = new ArrayList<>();
            if (a < 0 || a + yq > oh) {
              inside.add(new KExpr.Guard(new Affine(a, new long[] {0, 0, 1, 0}), 0, oh));
            }
            if (b < 0 || b + xq > ow) {
              inside.add(new KExpr.Guard(new Affine(b, new long[] {0, 0, 0, 1}), 0, ow));
            }
            KExpr term = KernelWalk.map(value, e -> e instanceof KExpr.Load ld ? new KExpr.Load(ld.buf(),
                moved(ld.index(), to, at), java.util.stream.Stream.concat(ld.guards().stream()
                    .map(g -> new KExpr.Guard(moved(g.expr(), to, at), g.lo(), g.hi())), inside.stream()).toList(),
                ld.fill(), null) : e);
            sum = sum == null ? term : new KExpr.Bin(KExpr.BinOp.ADD, sum, term);
          }
        }
        List<KExpr.Guard> edge = new ArrayList<>();
        if ((long) (yq - 1) * w.sh() + ry >= xs.dim(2)) {
          edge.add(new KExpr.Guard(new Affine(ry, new long[] {0, 0, w.sh(), 0}), 0, xs.dim(2)));
        }
        if ((long) (xq - 1) * w.sw() + rx >= xs.dim(3)) {
          edge.add(new KExpr.Guard(new Affine(rx, new long[] {0, 0, 0, w.sw()}), 0, xs.dim(3)));
        }
        stores.add(new KStmt.Store(dx, new Affine(ry * st[2] + rx * st[3], new long[] {st[0], st[1], w.sh() * st[2],
            w.sw() * st[3]}), sum == null ? new KExpr.Lit(0) : sum, edge));
      }
    }
    KStmt.Loop cols = new KStmt.Loop(3, xq, stores);
    KStmt.Loop root = new KStmt.Loop(0, xs.dim(0), List.of(new KStmt.Loop(1, xs.dim(1), List.of(
        new KStmt.Loop(2, yq, List.of(cols))))));
    return new Kernel.Loops(kernelName(out), root, 4, 0, xs.dim(0) > 1, ps.size());
  }

  /** {@code a}, over the window tensor's variables 0–5, with variable v read as {@code to[v]} (or none) plus {@code at[v]}: four variables. */
  private static Affine moved(Affine a, int[] to, long[] at) {
    long[] s = new long[4];
    long base = a.base();
    for (int v = 0; v < a.strides().length && v < 6; v++) {
      long sv = a.strides()[v];
      if (sv == 0) {
        continue;
      }
      base += sv * at[v];
      if (to[v] >= 0) {
        s[to[v]] += sv;
      }
    }
    return new Affine(base, s);
  }

  /**
   * A Winograd transform, loops {@code c} (parallel), {@code n}, {@code th}, {@code tw} with the
   * whole tile in the innermost body: every transformed element is a sum of constant multiples of
   * window elements (zero coefficients left out, ±1 as adds and subtracts), and the window's
   * loads, the same address in every one of those sums, are shared by them. The tiles are split
   * into up to nine nests: the interior, whose windows lie inside the image and need no guard,
   * and the border rows and columns, whose image accesses are guarded. {@code winograd_untiles} whose windows tile the image
   * exactly once (Winograd's output transform) stores each pixel directly; otherwise, as for the
   * adjoint of overlapping tiles, it zeroes the image's channel and adds every window onto it.
   */
  private Kernel winograd(Node out, Winograd wg) {
    Node in = out.input(0);
    Shape img = wg.toTiles() ? in.shape() : out.shape();
    int ch = img.dim(1);
    int h = img.dim(2);
    int w = img.dim(3);
    long t = (long) img.dim(0) * wg.tiles();
    boolean exact = !wg.toTiles() && exactTiling(wg, h, w);
    int win = wg.toTiles() ? wg.q() : wg.p();           // a tile's window in the image
    // Tiles whose windows lie inside the image need no guards: the nest is split into the
    // border rows and columns of tiles (guarded) and the interior (plain loads and stores).
    int[] rows = interior(wg.tilesH(), wg.stride(), wg.padTop(), win, h);
    int[] cols = interior(wg.tilesW(), wg.stride(), wg.padLeft(), win, w);
    List<KStmt> nests = new ArrayList<>();
    double[] flops = {0};
    for (int r = 0; r < 3; r++) {
      for (int c = 0; c < 3; c++) {
        int r0 = rows[r];
        int c0 = cols[c];
        int nr = rows[r + 1] - r0;
        int nc = cols[c + 1] - c0;
        if (nr > 0 && nc > 0) {
          List<KStmt> body = winogradTile(wg, img, t, bufOf.get(wg.toTiles() ? in : out),
              bufOf.get(wg.toTiles() ? out : in), r0, nr, c0, nc, exact, nests.isEmpty() ? flops : null);
          nests.add(new KStmt.Loop(1, img.dim(0), List.of(new KStmt.Loop(2, nr, List.of(new KStmt.Loop(3, nc, body))))));
        }
      }
    }
    List<KStmt> perChannel = new ArrayList<>();
    if (!wg.toTiles() && !exact) {
      long[] is = img.strides();
      KStmt zero = new KStmt.Store(bufOf.get(out), new Affine(0, new long[] {is[1], is[0], w, 1}), new KExpr.Lit(0));
      perChannel.add(new KStmt.Loop(1, img.dim(0), List.of(new KStmt.Loop(2, h, List.of(new KStmt.Loop(3, w,
          List.of(zero)))))));
    }
    perChannel.addAll(nests);
    KStmt.Loop root = new KStmt.Loop(0, ch, perChannel);
    int imageBuf = bufOf.get(wg.toTiles() ? in : out);
    int tilesBuf = bufOf.get(wg.toTiles() ? out : in);
    return new Kernel.Loops(kernelName(out), root, 4, 0, ch > 1, flops[0] * ch * t,
        new Kernel.TileTransform(imageBuf, tilesBuf, img.dim(0), ch, wg));
  }

  /**
   * A direct convolution ({@code Conv2d.Lowering.DIRECT}): loops over images (parallel; the
   * filters when there is one image), filters, output rows and output columns, whose body
   * stores each output's whole sum of {@code C·KH·KW} products, so the innermost loop runs along
   * an output row, contiguous in {@code y} and (at stride 1) in {@code x}, and vectorises with the
   * weights as loop-invariant broadcasts. {@code lower-conv} writes the padding out first, so
   * every window lies inside the image and no load needs a guard.
   */
  private Kernel directConv(Node out, Conv2d c) {
    Node x = out.input(0);
    Shape xs = x.shape();
    Shape ys = out.shape();
    Window v = c.window();
    long terms = directTerms(out, xs, v, c.groups() != 1 || v.padded());
    int xb = bufOf.get(x);
    int wb = bufOf.get(out.input(1));
    int ch = xs.dim(1);
    int h = xs.dim(2);
    int w = xs.dim(3);
    boolean byImage = ys.dim(0) > 1;
    int outer = byImage ? 0 : 1;                          // variable of the image index
    int inner = byImage ? 1 : 0;                          // variable of the filter index
    long[] xst = new long[4];
    xst[outer] = (long) ch * h * w;
    xst[2] = (long) v.sh() * w;
    xst[3] = v.sw();
    long[] wst = new long[4];
    wst[inner] = terms;
    KExpr sum = null;
    for (int ci = 0; ci < ch; ci++) {
      for (int kh = 0; kh < v.kh(); kh++) {
        for (int kw = 0; kw < v.kw(); kw++) {
          KExpr term = new KExpr.Bin(KExpr.BinOp.MUL,
              new KExpr.Load(xb, new Affine((long) ci * h * w + (long) kh * v.dh() * w + (long) kw * v.dw(), xst)),
              new KExpr.Load(wb, new Affine(((long) ci * v.kh() + kh) * v.kw() + kw, wst)));
          sum = sum == null ? term : new KExpr.Bin(KExpr.BinOp.ADD, sum, term);
        }
      }
    }
    long[] yst = new long[4];
    yst[outer] = (long) ys.dim(1) * ys.dim(2) * ys.dim(3);
    yst[inner] = (long) ys.dim(2) * ys.dim(3);
    yst[2] = ys.dim(3);
    yst[3] = 1;
    KStmt store = new KStmt.Store(bufOf.get(out), new Affine(0, yst), sum);
    int outerExtent = byImage ? ys.dim(0) : ys.dim(1);
    int innerExtent = byImage ? ys.dim(1) : ys.dim(0);
    KStmt.Loop root = new KStmt.Loop(0, outerExtent, List.of(new KStmt.Loop(1, innerExtent,
        List.of(new KStmt.Loop(2, ys.dim(2), List.of(new KStmt.Loop(3, ys.dim(3), List.of(store))))))));
    return new Kernel.Loops(kernelName(out), root, 4, 0, outerExtent > 1, 2.0 * terms * ys.size());
  }

  /**
   * The products per output ({@code C·KH·KW}) of a direct convolution or weight gradient of
   * {@code x} through {@code v}; a convolution lower-conv did not hand to its direct lowering
   * ({@code refused}, or too many products for one body) is refused.
   */
  private static long directTerms(Node out, Shape xs, Window v, boolean refused) {
    long terms = (long) xs.dim(1) * v.kh() * v.kw();
    if (refused || terms > Conv2d.Lowering.DIRECT_MAX_TERMS) {
      throw new IllegalStateException(out.op().mnemonic() + " " + v.text() + " of " + terms
          + " products per output reached lowering: the lower-conv pass must run first");
    }
    return terms;
  }

  /**
   * The weight gradient of a direct convolution: per filter (parallel), one running sum per input
   * channel and kernel offset, all over the same images, output rows and output columns (lower-conv
   * hands it the input with its padding written out, so every window lies inside the image and no
   * load needs a guard), the innermost loop along an output row of {@code dy} and the matching
   * row of {@code x}; {@code dy} is read once for all the sums.
   */
  private Kernel directConvGradWeight(Node out, Conv2dGradWeight g) {
    Node x = out.input(0);
    Node dy = out.input(1);
    Shape xs = x.shape();
    Shape ds = dy.shape();
    Window v = g.window();
    int terms = (int) directTerms(out, xs, v, v.padded());
    int xb = bufOf.get(x);
    int db = bufOf.get(dy);
    int wb = bufOf.get(out);
    int ch = xs.dim(1);
    int h = xs.dim(2);
    int w = xs.dim(3);
    int filters = ds.dim(1);
    int oh = ds.dim(2);
    int ow = ds.dim(3);
    // Variables: 0 = filter, 1 = image, 2 = output row, 3 = output column; local t = the sum of term t.
    KExpr dyAt = new KExpr.Load(db, new Affine(0, new long[] {(long) oh * ow, (long) filters * oh * ow, ow, 1}));
    long[] xst = {0, (long) ch * h * w, (long) v.sh() * w, v.sw()};
    List<KStmt> zero = new ArrayList<>();
    List<KStmt> sums = new ArrayList<>();
    List<KStmt> stores = new ArrayList<>();
    int t = 0;
    for (int ci = 0; ci < ch; ci++) {
      for (int kh = 0; kh < v.kh(); kh++) {
        for (int kw = 0; kw < v.kw(); kw++, t++) {
          zero.add(new KStmt.Assign(t, new KExpr.Lit(0)));
          KExpr prod = new KExpr.Bin(KExpr.BinOp.MUL, dyAt,
              new KExpr.Load(xb, new Affine((long) ci * h * w + (long) kh * v.dh() * w + (long) kw * v.dw(), xst)));
          sums.add(new KStmt.Assign(t, new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Local(t), prod)));
          stores.add(new KStmt.Store(wb, new Affine(t, new long[] {terms, 0, 0, 0}), new KExpr.Local(t)));
        }
      }
    }
    List<KStmt> perFilter = new ArrayList<>(zero);
    perFilter.add(new KStmt.Loop(1, ds.dim(0), List.of(new KStmt.Loop(2, oh, List.of(new KStmt.Loop(3, ow, sums))))));
    perFilter.addAll(stores);
    KStmt.Loop root = new KStmt.Loop(0, filters, perFilter);
    return new Kernel.Loops(kernelName(out), root, 4, terms, filters > 1, 2.0 * terms * ds.size());
  }

  /**
   * {@code [0, lo, hi, tiles]}: tiles {@code [lo, hi)} have their whole window of side
   * {@code win} at {@code t·stride − pad} inside {@code [0, size)}; those before and after may not.
   */
  private static int[] interior(int tiles, int stride, int pad, int win, int size) {
    int lo = Math.min(tiles, (pad + stride - 1) / stride);
    int last = size - win + pad;                            // the largest t·stride that still fits
    int hi = last < 0 ? lo : Math.max(lo, Math.min(tiles, last / stride + 1));
    return new int[] {0, lo, hi, tiles};
  }

  /**
   * The innermost body of a Winograd nest over tiles {@code (r0 + i2, c0 + i3)}: one store per
   * transformed element ({@code winograd_tiles}) or per window pixel ({@code winograd_untiles}),
   * guarded along the rows or columns where the window can leave the image.
   */
  private static List<KStmt> winogradTile(Winograd wg, Shape img, long t, int xb, int tb, int r0, int nr, int c0,
      int nc, boolean exact, double[] flops) {
    int ch = img.dim(1);
    int h = img.dim(2);
    int w = img.dim(3);
    long[] is = img.strides();
    int s = wg.stride();
    int side = wg.toTiles() ? wg.p() : wg.q();          // a transformed tile
    int win = wg.toTiles() ? wg.q() : wg.p();           // its window in the image
    // Variables: 0 = c, 1 = n, 2 = th − r0, 3 = tw − c0.
    java.util.function.IntFunction<Affine> tileAt = pos -> new Affine((long) pos * ch * t
        + (long) r0 * wg.tilesW() + c0, new long[] {t, wg.tiles(), wg.tilesW(), 1});
    java.util.function.BiFunction<Integer, Integer, Affine> pixAt = (a, b) -> new Affine(
        (long) (r0 * s + a - wg.padTop()) * w + (c0 * s + b - wg.padLeft()), new long[] {is[1], is[0], (long) s * w, s});
    // A guard only where this window element can leave the image for some tile of the nest.
    java.util.function.BiFunction<Integer, Integer, List<KExpr.Guard>> inImage = (a, b) -> {
      List<KExpr.Guard> gs = new ArrayList<>();
      long row = (long) r0 * s + a - wg.padTop();
      long col = (long) c0 * s + b - wg.padLeft();
      if (row < 0 || row + (long) (nr - 1) * s >= h) {
        gs.add(new KExpr.Guard(new Affine(row, new long[] {0, 0, s, 0}), 0, h));
      }
      if (col < 0 || col + (long) (nc - 1) * s >= w) {
        gs.add(new KExpr.Guard(new Affine(col, new long[] {0, 0, 0, s}), 0, w));
      }
      return gs;
    };
    List<KStmt> body = new ArrayList<>();
    int outer = wg.toTiles() ? side : win;
    int inner = wg.toTiles() ? win : side;
    for (int i = 0; i < outer; i++) {
      for (int j = 0; j < outer; j++) {
        KExpr sum = null;
        for (int a = 0; a < inner; a++) {
          for (int b = 0; b < inner; b++) {
            double coef = wg.at(i, a) * wg.at(j, b);
            if (coef == 0) {
              continue;
            }
            KExpr load = wg.toTiles()
                ? new KExpr.Load(xb, pixAt.apply(a, b), inImage.apply(a, b), 0)
                : new KExpr.Load(tb, tileAt.apply(a * side + b));
            sum = addScaled(sum, coef, load);
            if (flops != null) {
              flops[0] += 2;                            // per tile and channel, counted in one nest
            }
          }
        }
        KExpr value = sum == null ? new KExpr.Lit(0) : sum;
        if (wg.toTiles()) {
          body.add(new KStmt.Store(tb, tileAt.apply(i * side + j), value));
        } else {
          List<KExpr.Guard> gs = inImage.apply(i, j);
          body.add(exact
              ? new KStmt.Store(xb, pixAt.apply(i, j), value, gs)
              : new KStmt.Store(xb, pixAt.apply(i, j),
                  new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Load(xb, pixAt.apply(i, j), gs, 0), value), gs));
        }
      }
    }
    return body;
  }

  /** Whether the windows of {@code winograd_untiles} cover every pixel of the image exactly once. */
  /**
   * Whether the {@code oh × ow} windows of {@code w} cover an {@code h × w} image exactly once:
   * as wide as their stride, undilated, unpadded, and reaching its last row and column.
   */
  private static boolean tilesExactly(Window w, int oh, int ow, int h, int wd) {
    return w.kh() == w.sh() && w.kw() == w.sw() && w.dh() == 1 && w.dw() == 1 && !w.padded()
        && (long) oh * w.sh() == h && (long) ow * w.sw() == wd;
  }

  private static boolean exactTiling(Winograd wg, int h, int w) {
    return wg.p() == wg.stride() && wg.padTop() == 0 && wg.padLeft() == 0 && (long) wg.tilesH() * wg.stride() >= h
        && (long) wg.tilesW() * wg.stride() >= w;
  }

  /** {@code sum + coef·x}: ±1 as an add or a subtract, and the first term alone. */
  private static KExpr addScaled(KExpr sum, double coef, KExpr x) {
    if (sum == null) {
      return coef == 1 ? x : new KExpr.Bin(KExpr.BinOp.MUL, new KExpr.Lit(coef), x);
    }
    if (coef == 1 || coef == -1) {
      return new KExpr.Bin(coef == 1 ? KExpr.BinOp.ADD : KExpr.BinOp.SUB, sum, x);
    }
    return new KExpr.Bin(KExpr.BinOp.ADD, sum, new KExpr.Bin(KExpr.BinOp.MUL, new KExpr.Lit(coef), x));
  }

  /**
   * One nest per operand, each writing its block of the output: over the leading dimension
   * (parallel) when the axis is not the first, else once.
   */
  private Kernel concat(Node out, Concat c) {
    Shape s = out.shape();
    int r = s.rank();
    int axis = c.axis();
    int vars = r + 1;           // variable r: the single outer iteration when joining along dimension 0
    long[] os = s.strides();
    boolean outerLoop = axis > 0;
    List<KStmt> body = new ArrayList<>();
    place(out, 0, out, os, outerLoop, body);
    KStmt.Loop root = outerLoop ? new KStmt.Loop(0, s.dim(0), body) : new KStmt.Loop(r, 1, body);
    return new Kernel.Loops(kernelName(out), root, vars, 0, outerLoop && s.dim(0) > 1, s.size());
  }

  /**
   * The nests writing the operands of concatenation {@code c} into {@code out}'s buffer (strides
   * {@code os}) from element {@code base}; an operand that is itself a placed concatenation
   * ({@link #placedConcat}) has its own operands placed at its offset instead of being copied.
   */
  private void place(Node c, long base, Node out, long[] os, boolean outerLoop, List<KStmt> body) {
    int r = os.length;
    int vars = r + 1;
    int axis = ((Concat) c.op()).axis();
    long offset = 0;
    for (Node x : c.inputs()) {
      long at = base + offset * os[axis];
      if (placedConcat(x) && !forced.contains(x) && !isBoundary(x)) {
        place(x, at, out, os, outerLoop, body);
      } else {
        ExprBuilder eb = new ExprBuilder(x.shape(), identityVars(r), vars);
        KExpr value = eb.of(x);
        long[] st = new long[vars];
        for (int d = 0; d < r; d++) {
          st[d] = os[d];
        }
        KStmt nest = new KStmt.Store(bufOf.get(out), new Affine(at, st), value);
        for (int d = r - 1; d >= (outerLoop ? 1 : 0); d--) {
          nest = new KStmt.Loop(d, x.shape().dim(d), List.of(nest));
        }
        body.add(nest);
      }
      offset += x.shape().dim(axis);
    }
  }

  private static int[] identityVars(int rank) {
    int[] v = new int[rank];
    for (int i = 0; i < rank; i++) {
      v[i] = i;
    }
    return v;
  }

  /** Loop nest over {@code shape} (a single iteration for scalars) around {@code body}. */
  private static KStmt.Loop nest(Shape shape, List<KStmt> body) {
    if (shape.rank() == 0) {
      return new KStmt.Loop(0, 1, body);
    }
    List<KStmt> inner = body;
    KStmt.Loop loop = null;
    for (int d = shape.rank() - 1; d >= 0; d--) {
      loop = new KStmt.Loop(d, shape.dim(d), inner);
      inner = List.of(loop);
    }
    return loop;
  }

  private Kernel elementwiseKernel(Node n) {
    Shape s = n.shape();
    int vars = Math.max(1, s.rank());
    ExprBuilder eb = new ExprBuilder(s, identityVars(s.rank()), vars);
    KExpr value = eb.of0(n);
    if (eb.matmul != null) {
      return gemm(eb.matmul, (MatMul) eb.matmul.op(), value, n);
    }
    KStmt.Store store = new KStmt.Store(bufOf.get(n), eb.contiguous(), value);
    return new Kernel.Loops(kernelName(n), nest(s, List.of(store)), vars, 0, s.rank() > 0 && s.dim(0) > 1, s.size());
  }

  private Kernel gemm(Node mmNode, MatMul mm, KExpr epilogue, Node out) {
    Node a = mmNode.input(0);
    Node b = mmNode.input(1);
    int o = mmNode.shape().rank() - 2;      // 1 for a batch of products
    int m = mmNode.shape().dim(o);
    int nn = mmNode.shape().dim(o + 1);
    int k = mm.transA() ? a.shape().dim(o) : a.shape().dim(o + 1);
    return new Kernel.Gemm(kernelName(out), bufOf.get(a), 0, bufOf.get(b), 0, bufOf.get(out), m, nn, k, mm.transA(),
        mm.transB(), epilogue, MatMul.batch(mmNode.shape()));
  }

  /**
   * {@code out[kept] = fold over reduced axes of x}: loops over the kept dimensions (outer,
   * parallel), then an accumulator loop over the reduced ones.
   */
  private Kernel reduction(Node out, Node x, ReduceFn fn, Shape keep) {
    Shape xs = x.shape();
    List<Integer> kept = new ArrayList<>();
    List<Integer> reduced = new ArrayList<>();
    for (int d = 0; d < xs.rank(); d++) {
      if (keep.dim(d) == 1 && xs.dim(d) != 1) {
        reduced.add(d);
      } else {
        kept.add(d);
      }
    }
    if (!reduced.isEmpty() && !kept.isEmpty() && reduced.get(reduced.size() - 1) < kept.get(0)) {
      long rows = 1;
      for (int d : reduced) {
        rows *= xs.dim(d);
      }
      if (rows >= 16 && xs.size() / rows >= 8) {
        return leadingReduction(out, x, fn, keep, kept, reduced, rows);
      }
    }
    int[] varOfDim = new int[xs.rank()];
    int v = 0;
    boolean outerDummy = kept.isEmpty();
    if (outerDummy) {
      v = 1; // var 0: a single outer iteration
    }
    for (int d : kept) {
      varOfDim[d] = v++;
    }
    for (int d : reduced) {
      varOfDim[d] = v++;
    }
    int vars = Math.max(v, 1);
    ExprBuilder eb = new ExprBuilder(xs, varOfDim, vars);
    KExpr val = eb.of(x);
    KExpr acc = new KExpr.Local(0);
    KExpr step = switch (fn) {
      case SUM, MEAN -> new KExpr.Bin(KExpr.BinOp.ADD, acc, val);
      case MAX -> new KExpr.Bin(KExpr.BinOp.MAX, acc, val);
    };
    KStmt inner = new KStmt.Assign(0, step);
    for (int i = reduced.size() - 1; i >= 0; i--) {
      int d = reduced.get(i);
      inner = new KStmt.Loop(varOfDim[d], xs.dim(d), List.of(inner));
    }
    long count = 1;
    for (int d : reduced) {
      count *= xs.dim(d);
    }
    KExpr result = fn == ReduceFn.MEAN ? new KExpr.Bin(KExpr.BinOp.DIV, acc, new KExpr.Lit(count)) : acc;
    // The output is row-major over the kept shape.
    long[] ostr = new long[vars];
    long[] ks = keep.strides();
    for (int d : kept) {
      ostr[varOfDim[d]] = ks[d];
    }
    double init = fn == ReduceFn.MAX ? Double.NEGATIVE_INFINITY : 0;
    List<KStmt> body = new ArrayList<>();
    body.add(new KStmt.Assign(0, new KExpr.Lit(init)));
    if (reduced.isEmpty()) {
      body.add(new KStmt.Assign(0, step));
    } else {
      body.add(inner);
    }
    body.add(new KStmt.Store(bufOf.get(out), new Affine(0, ostr), result));
    KStmt.Loop root;
    if (outerDummy) {
      root = new KStmt.Loop(0, 1, body);
    } else {
      List<KStmt> cur = body;
      KStmt.Loop loop = null;
      for (int i = kept.size() - 1; i >= 0; i--) {
        int d = kept.get(i);
        loop = new KStmt.Loop(varOfDim[d], xs.dim(d), cur);
        cur = List.of(loop);
      }
      root = loop;
    }
    boolean parallel = !outerDummy && root.extent() > 1;
    return new Kernel.Loops(kernelName(out), root, vars, 1, parallel, xs.size());
  }

  /**
   * A reduction over leading axes (a bias's gradient: the sum of a [rows, C] gradient's rows): the
   * output's row is accumulated row after row, so the inner loop runs along contiguous columns
   * and vectorises; reading each column down the rows instead strides by the row's length (a
   * recurrent layer's bias gradient over B·T = 3,840 rows of 512: 6.4 ms that way).
   */
  private Kernel leadingReduction(Node out, Node x, ReduceFn fn, Shape keep, List<Integer> kept, List<Integer> reduced,
      long rows) {
    Shape xs = x.shape();
    // Variables: 0 the single outer iteration, then the reduced dimensions, then the kept ones.
    int[] varOfDim = new int[xs.rank()];
    int v = 1;
    for (int d : reduced) {
      varOfDim[d] = v++;
    }
    for (int d : kept) {
      varOfDim[d] = v++;
    }
    int vars = v;
    ExprBuilder eb = new ExprBuilder(xs, varOfDim, vars);
    long[] ostr = new long[vars];
    long[] ks = keep.strides();
    for (int d : kept) {
      ostr[varOfDim[d]] = ks[d];
    }
    int o = bufOf.get(out);
    Affine at = new Affine(0, ostr);
    KExpr cur = new KExpr.Load(o, at);
    KExpr val = eb.of(x);
    KExpr step = switch (fn) {
      case SUM, MEAN -> new KExpr.Bin(KExpr.BinOp.ADD, cur, val);
      case MAX -> new KExpr.Bin(KExpr.BinOp.MAX, cur, val);
    };
    java.util.function.Function<KStmt, KStmt> overKept = st -> {
      KStmt in = st;
      for (int i = kept.size() - 1; i >= 0; i--) {
        in = new KStmt.Loop(varOfDim[kept.get(i)], xs.dim(kept.get(i)), List.of(in));
      }
      return in;
    };
    List<KStmt> body = new ArrayList<>();
    body.add(overKept.apply(new KStmt.Store(o, at, new KExpr.Lit(fn == ReduceFn.MAX ? Double.NEGATIVE_INFINITY : 0))));
    KStmt acc = overKept.apply(new KStmt.Store(o, at, step));
    for (int i = reduced.size() - 1; i >= 0; i--) {
      acc = new KStmt.Loop(varOfDim[reduced.get(i)], xs.dim(reduced.get(i)), List.of(acc));
    }
    body.add(acc);
    if (fn == ReduceFn.MEAN) {
      body.add(overKept.apply(new KStmt.Store(o, at, new KExpr.Bin(KExpr.BinOp.DIV, cur, new KExpr.Lit(rows)))));
    }
    return new Kernel.Loops(kernelName(out), new KStmt.Loop(0, 1, body), vars, 0, false, xs.size());
  }

  /** Row-wise (log-)softmax over the last axis: max, Σexp, then write, with two accumulators. */
  private Kernel softmax(Node out, boolean log) {
    Node x = out.input(0);
    Shape s = x.shape();
    int cols = s.dim(-1);
    long rows = s.size() / cols;
    int xb = bufOf.get(x);
    Affine at = new Affine(0, new long[] {cols, 1});
    KExpr xv = new KExpr.Load(xb, at);
    KExpr max = new KExpr.Local(0);
    KExpr sum = new KExpr.Local(1);
    KExpr shifted = new KExpr.Bin(KExpr.BinOp.SUB, xv, max);
    KExpr value = log
        ? new KExpr.Bin(KExpr.BinOp.SUB, shifted, new KExpr.Un(KExpr.UnOp.LOG, sum))
        : new KExpr.Bin(KExpr.BinOp.DIV, new KExpr.Un(KExpr.UnOp.EXP, shifted), sum);
    List<KStmt> body = List.of(
        new KStmt.Assign(0, new KExpr.Lit(Double.NEGATIVE_INFINITY)),
        new KStmt.Loop(1, cols, List.of(new KStmt.Assign(0, new KExpr.Bin(KExpr.BinOp.MAX, max, xv)))),
        new KStmt.Assign(1, new KExpr.Lit(0)),
        new KStmt.Loop(1, cols, List.of(new KStmt.Assign(1,
            new KExpr.Bin(KExpr.BinOp.ADD, sum, new KExpr.Un(KExpr.UnOp.EXP, shifted))))),
        new KStmt.Loop(1, cols, List.of(new KStmt.Store(bufOf.get(out), at, value))));
    return new Kernel.Loops(kernelName(out), new KStmt.Loop(0, rows, body), 2, 2, rows > 1, s.size() * 4.0);
  }

  // ------------------------------------------------------------------ state updates

  /**
   * Points each update at its parameter's buffer when that is safe (no kernel after the writer
   * reads the old value; the writer itself reads it only at the element it writes); otherwise
   * appends a copy kernel at the end.
   */
  private List<Kernel> placeUpdates(List<Kernel> kernels, Map<String, Integer> params) {
    List<Kernel> out = new ArrayList<>(kernels);
    Map<Integer, Integer> remap = new HashMap<>();
    List<Kernel> copies = new ArrayList<>();
    // One pass for who writes and reads what: per update, scanning every later kernel made
    // lowering quadratic in the model's depth (minutes for a few thousand layers).
    Map<Integer, Integer> firstWriter = new HashMap<>();
    Map<Integer, Integer> lastReader = new HashMap<>();
    Set<Integer> remapped = new HashSet<>();
    for (int k = 0; k < out.size(); k++) {
      for (int b : Reads.writeSet(out.get(k))) {
        firstWriter.putIfAbsent(b, k);
      }
      for (int b : Reads.readSet(out.get(k))) {
        lastReader.put(b, k);
      }
    }
    for (Map.Entry<Node, Node> u : g.updates().entrySet()) {
      int p = bufOf.get(u.getKey());
      Node value = u.getValue();
      Integer vb = bufOf.get(value);
      int writer = vb == null ? -1 : firstWriter.getOrDefault(vb, -1);
      boolean ok = writer >= 0 && !value.op().leaf() && !value.op().view() && !remapped.contains(p)
          && !remap.containsKey(vb);
      if (ok) {
        // In place only if the writer may, and no kernel after it still reads the old value.
        ok = Reads.safeInPlace(out.get(writer), p, vb) && lastReader.getOrDefault(p, -1) <= writer;
      }
      if (ok) {
        remap.put(vb, p);
        remapped.add(p);
      } else {
        Shape s = value.shape();
        int vars = Math.max(1, s.rank());
        ExprBuilder eb = new ExprBuilder(s, identityVars(s.rank()), vars);
        KStmt.Store st = new KStmt.Store(p, eb.contiguous(), new KExpr.Load(bufOf.get(value), eb.contiguous()));
        copies.add(Collapse.apply(new Kernel.Loops(program + "_k" + (kernelCount++) + "_update", nest(s, List.of(st)),
            vars, 0, s.rank() > 0 && s.dim(0) > 1, s.size())));
      }
    }
    List<Kernel> result = new ArrayList<>();
    for (Kernel k : out) {
      result.add(Reads.remap(k, remap));
    }
    result.addAll(copies);
    bufOf.replaceAll((n, b) -> remap.getOrDefault(b, b));
    return result;
  }

}
