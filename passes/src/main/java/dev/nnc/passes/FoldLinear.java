package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.Embedding;
import dev.nnc.ir.ops.EmbeddingGrad;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Permute;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.SumTo;
import dev.nnc.ir.ops.Window;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code fold-linear}: two linear maps in a row with nothing nonlinear between them become one,
 * when the FLOP model says the one is cheaper — 1×1 convolution → 1×1 convolution, 1×1
 * convolution → K×K convolution (or K×K → 1×1), dense → dense. The folded weight is computed from
 * the parameters inside the program (as {@code fold-conv-bn} does), so its cost — one product of
 * the two weights per run — is part of the model:
 *
 * <pre>
 *   before = FLOPs(first) + FLOPs(second)
 *   after  = FLOPs(one map from the first's input to the second's output) + FLOPs(W₂·W₁)
 * </pre>
 *
 * and the pass folds only when {@code after < before}. So a 256→64→256 bottleneck stays (the
 * one map would have 256·256 weights per pixel where the two have 2·256·64), while a 256→128→64
 * chain of 1×1 convolutions, or an 8→64 expansion followed by a 3×3 reduction to 8, becomes one
 * convolution. A bias between the maps folds into the result's bias ({@code W₂·b₁}), except
 * before a padded K×K convolution, where the padding would see the bias in one form and zeros in
 * the other. Grouped convolutions, and maps whose intermediate value is read anywhere else (every
 * training graph: the backward pass reads it), are left alone. An embedding lookup followed by a
 * dense map is the lookup of the mapped table when the vocabulary is smaller than the rows
 * looked up ({@link Lookup}); the lookup may be read elsewhere, since it costs no arithmetic.
 * The backward pass of such a map goes through the table as well ({@link Scatter}): the products
 * of the rows' gradient G with the rows, and of G with the map, become products with the table's
 * gradient {@code embedding_grad(G, ids)}, V rows instead of N.
 */
public final class FoldLinear implements Pass {
  @Override
  public String name() {
    return "fold-linear";
  }

  /** {@code first(x) [+ bias] → second}: the first map, its bias (or null), and the second map. */
  record Chain(Node first, Node bias, Node second) {}

  @Override
  public Graph apply(Graph g) {
    Map<Node, List<Node>> users = g.users();
    Map<Node, Scatter> scattered = new HashMap<>();
    Set<Node> outputs = Set.copyOf(g.outputs().values());
    for (Node n : g.nodes()) {
      Scatter sc = scatter(n, users, outputs);
      if (sc != null) {
        scattered.put(unshaped(sc.rowsGrad()), sc);
      }
    }
    return new DeadCodeElimination().apply(Rebuilder.rebuildDeep(g, null, (b, n, ins, mapped) -> {
      Lookup l = lookup(n, users);
      if (l != null) {
        return foldLookup(b, l, mapped, n.shape());
      }
      Scatter sc = scatter(n, users, outputs);
      if (sc != null) {
        Node table = tableGrad(b, sc.rowsGrad(), sc, mapped);
        Node other = mapped.get(sc.other());
        // Gᵀ·rows = (SᵀG)ᵀ·E; Sᵀ(G·W) = (SᵀG)·W, S the [N, V] selection of the rows' tokens.
        return n.op() instanceof EmbeddingGrad ? b.add(new MatMul(false, sc.transB()), table, other)
            : b.add(new MatMul(true, false), table, other);
      }
      Scatter rows = n.op() instanceof SumTo st && st.target().rank() == 1 ? scattered.get(unshaped(n.input(0))) : null;
      if (rows != null && n.input(0).shape().equals(rows.rowsGrad().shape()) && mapped.containsKey(rows.ids())) {
        // Every row lands on one row of the table's gradient: its column sums are the rows'.
        return b.add(n.op(), tableGrad(b, n.input(0), rows, mapped));
      }
      Chain c = match(n, users);
      if (c == null || !pays(c)) {
        return null;
      }
      Node x = mapped.get(c.first().input(0));
      Node w1 = mapped.get(c.first().input(1));
      Node w2 = mapped.get(c.second().input(1));
      Node bias = c.bias() == null ? null : mapped.get(c.bias());
      return c.second().op() instanceof MatMul ? foldDense(b, x, w1, w2, bias) : foldConv(b, c, x, w1, w2, bias);
    }));
  }

  /** The chain ending at {@code n}, or null. */
  static Chain match(Node n, Map<Node, List<Node>> users) {
    boolean conv = n.op() instanceof Conv2d c2 && c2.groups() == 1;
    boolean dense = n.op() instanceof MatMul m2 && !m2.transA() && m2.transB();
    if (!conv && !dense) {
      return null;
    }
    Node a = n.input(0);
    Node bias = null;
    Node first = a;
    if (a.op() instanceof Binary bin && bin.fn() == BinaryFn.ADD && single(users, a.input(0))) {
      first = a.input(0);
      bias = a.input(1);
    }
    if (!single(users, a)) {
      return null;
    }
    if (conv) {
      if (!(first.op() instanceof Conv2d c1) || c1.groups() != 1) {
        return null;
      }
      Window w1 = c1.window();
      Window w2 = ((Conv2d) n.op()).window();
      if (!pointwise(w1) && !pointwise(w2)) {
        return null;
      }
      int m = first.shape().dim(1);
      if (bias != null && (!bias.shape().equals(Shape.of(m, 1, 1)) || pointwise(w1) && w2.padded())) {
        return null;
      }
    } else {
      if (!(first.op() instanceof MatMul m1) || m1.transA() || !m1.transB()) {
        return null;
      }
      if (bias != null && !bias.shape().equals(Shape.of(first.shape().dim(1)))) {
        return null;
      }
    }
    return new Chain(first, bias, n);
  }

  /**
   * An embedding lookup whose rows a dense map takes ({@code matmul(reshape(embedding(E, ids)),
   * W)}, with the bias {@code b} that follows it or null): the lookup of the mapped table,
   * {@code embedding(E·W + b, ids)}, which costs V·D·O multiply-adds for the table instead of
   * N·D·O for the rows, so it folds when the vocabulary V is smaller than the N rows looked up (a
   * character model's first recurrent layer: a 60-row table instead of 3,840 rows of the input
   * projection, and no GEMM over the sequence). The lookup itself stays where anything else reads
   * it (the backward pass, for {@code dW}).
   */
  record Lookup(Node embedding, Node matmul, Node bias) {}

  /** The lookup chain ending at {@code n} (the product, or the bias added to it), or null. */
  static Lookup lookup(Node n, Map<Node, List<Node>> users) {
    Node mm = n;
    Node bias = null;
    if (n.op() instanceof Binary bin && bin.fn() == BinaryFn.ADD && n.shape().rank() == 2
        && n.input(0).op() instanceof MatMul && single(users, n.input(0))
        && n.input(1).shape().equals(Shape.of(n.shape().dim(1)))) {
      mm = n.input(0);
      bias = n.input(1);
    }
    if (!(mm.op() instanceof MatMul m) || m.transA() || mm.shape().rank() != 2 || mm.input(1).shape().rank() != 2) {
      return null;
    }
    if (bias == null && single(users, mm) && lookupBias(users.get(mm).get(0), mm)) {
      return null; // folded with its bias, at the add
    }
    Node a = mm.input(0);
    while (a.op() instanceof dev.nnc.ir.ops.Reshape) {
      a = a.input(0);
    }
    if (!(a.op() instanceof Embedding emb)) {
      return null;
    }
    int d = a.shape().dim(a.shape().rank() - 1);
    long rows = a.shape().size() / d;
    if (!mm.input(0).shape().equals(Shape.of((int) rows, d)) || emb.vocab() >= rows) {
      return null;
    }
    return new Lookup(a, mm, bias);
  }

  /** Whether {@code u} adds a bias of one value per column to product {@code mm}. */
  private static boolean lookupBias(Node u, Node mm) {
    return u.op() instanceof Binary bin && bin.fn() == BinaryFn.ADD && u.input(0) == mm && u.shape().rank() == 2
        && u.input(1).shape().equals(Shape.of(u.shape().dim(1)));
  }

  /** {@code reshape(embedding(E·W [+ b], ids))}, shaped as the rows' product was. */
  private static Node foldLookup(Graph.Builder b, Lookup l, Map<Node, Node> mapped, Shape shape) {
    MatMul m = (MatMul) l.matmul().op();
    Node table = b.add(new MatMul(false, m.transB()), mapped.get(l.embedding().input(0)),
        mapped.get(l.matmul().input(1)));
    if (l.bias() != null) {
      table = Ops.add(b, table, mapped.get(l.bias()));
    }
    Embedding emb = (Embedding) l.embedding().op();
    return Ops.reshape(b, b.add(emb, table, mapped.get(l.embedding().input(1))), shape);
  }

  /**
   * A product in the backward pass of rows looked up from a table, {@code x = embedding(E, ids)}
   * viewed as N rows of D, with the rows' gradient {@code G[N, O]} (its {@code rowsGrad}), that
   * the table's gradient {@code T = embedding_grad(G, ids)} (a scatter-add, {@code [V, O]})
   * computes with V rows instead of N:
   *
   * <ul>
   *   <li>{@code Gᵀ·x} (a dense map's {@code dW}) is {@code Tᵀ·E}: N·O additions and V·O·D
   *       multiply-adds instead of N·O·D ({@code other} is E);
   *   <li>{@code embedding_grad(G·W, ids)} (the table's {@code dE} through the map) is {@code
   *       T·W}, with W as the product took it ({@code transB}; {@code other} is W), when nothing
   *       else reads {@code G·W}.
   * </ul>
   *
   * Folded when {@code V·D < N·(D − 1)}, the additions included; a bias's gradient, the column
   * sums of G, then sums T's V rows ({@code sum_to}), T being computed anyway. The character
   * LSTM's first layer: dW_ih and dE from a 60 × 512 T instead of two 3840 × 32 × 512 products.
   */
  record Scatter(Node rowsGrad, Node ids, int vocab, Node other, boolean transB) {}

  /** The product {@code n} as a {@link Scatter}, or null ({@code outputs}: the graph's, read from outside). */
  static Scatter scatter(Node n, Map<Node, List<Node>> users, Set<Node> outputs) {
    if (n.op() instanceof MatMul m && m.transA() && !m.transB() && n.input(0).shape().rank() == 2) {
      Node x = n.input(1);
      while (x.op() instanceof Reshape) {
        x = x.input(0);
      }
      Node grad = n.input(0);
      if (x.op() instanceof Embedding emb && n.input(1).shape().rank() == 2
          && x.input(1).shape().size() == grad.shape().dim(0) && pays(emb.vocab(), grad.shape().dim(0), x.shape())) {
        return new Scatter(grad, x.input(1), emb.vocab(), x.input(0), false);
      }
      return null;
    }
    if (n.op() instanceof EmbeddingGrad eg) {
      Node y = n.input(0);
      while (y.op() instanceof Reshape && single(users, y) && !outputs.contains(y)) {
        y = y.input(0);
      }
      if (y.op() instanceof MatMul m && !m.transA() && y.shape().rank() == 2 && single(users, y) && !outputs.contains(y)
          && y.input(0).shape().rank() == 2 && y.shape().dim(0) == n.input(1).shape().size()
          && pays(eg.vocab(), y.shape().dim(0), y.shape())) {
        return new Scatter(y.input(0), n.input(1), eg.vocab(), y.input(1), m.transB());
      }
    }
    return null;
  }

  /** {@code n} without the reshapes around it: two views of one value, shaped alike, have the same rows. */
  private static Node unshaped(Node n) {
    while (n.op() instanceof Reshape) {
      n = n.input(0);
    }
    return n;
  }

  /** Whether V rows of the table's gradient beat N: {@code V·D < N·(D − 1)}, D the rows' last dimension. */
  private static boolean pays(int vocab, long rows, Shape rowShape) {
    double d = rowShape.dim(rowShape.rank() - 1);
    return vocab * d < rows * (d - 1);
  }

  /**
   * {@code embedding_grad(G, ids)}: the rows' gradient {@code rowsGrad} (the scatter's, or the
   * same rows reshaped alike) shaped as the ids' rows, scattered onto the table.
   */
  private static Node tableGrad(Graph.Builder b, Node rowsGrad, Scatter sc, Map<Node, Node> mapped) {
    Node ids = mapped.get(sc.ids());
    Node grad = mapped.get(rowsGrad);
    Shape rows = dev.nnc.ir.ops.Embedding.rows(ids.shape(), grad.shape().dim(1));
    return b.add(new EmbeddingGrad(sc.vocab()), Ops.reshape(b, grad, rows), ids);
  }

  /** A 1×1, stride-1, unpadded, undilated window: a per-pixel linear map. */
  static boolean pointwise(Window w) {
    return w.kh() == 1 && w.kw() == 1 && w.sh() == 1 && w.sw() == 1 && !w.padded();
  }

  /** The FLOP model of the class comment (multiply-adds; the bias terms are negligible). */
  static boolean pays(Chain c) {
    return after(c) < before(c);
  }

  static double before(Chain c) {
    return macs(c.first()) + macs(c.second());
  }

  static double after(Chain c) {
    Node first = c.first();
    Node second = c.second();
    double out = second.shape().size();                  // N·O·P2 (conv) or N·O (dense)
    double in = first.input(0).shape().dim(1);           // C
    double mid = first.shape().dim(1);                   // M
    double o = second.shape().dim(1);
    if (second.op() instanceof MatMul) {
      return out * in + o * mid * in;
    }
    Window w1 = ((Conv2d) first.op()).window();
    Window w2 = ((Conv2d) second.op()).window();
    // 1×1 first: the second's window on x; else the first's window (the second is 1×1).
    Window w = pointwise(w1) ? w2 : w1;
    double k = (double) w.kh() * w.kw();
    return out * in * k + o * mid * in * k;
  }

  /** Multiply-adds of a convolution or matmul node. */
  static double macs(Node n) {
    if (n.op() instanceof Conv2d) {
      Shape w = n.input(1).shape();                 // [O, C/groups, kh, kw]: each output reads C/groups·kh·kw
      return (double) n.shape().size() * w.dim(1) * w.dim(2) * w.dim(3);
    }
    MatMul m = (MatMul) n.op();
    Shape a = n.input(0).shape();
    return (double) n.shape().size() * (m.transA() ? a.dim(0) : a.dim(1));
  }

  /** {@code x·(W₂W₁)ᵀ + W₂·b₁}. */
  private static Node foldDense(Graph.Builder b, Node x, Node w1, Node w2, Node b1) {
    Node w = b.add(new MatMul(false, false), w2, w1);                                  // [O, C]
    Node y = b.add(new MatMul(false, true), x, w);
    if (b1 == null) {
      return y;
    }
    int mid = b1.shape().dim(0);
    Node shift = b.add(new MatMul(false, false), w2, Ops.reshape(b, b1, Shape.of(mid, 1)));   // [O, 1]
    return Ops.add(b, y, Ops.reshape(b, shift, Shape.of(w2.shape().dim(0))));
  }

  private static Node foldConv(Graph.Builder b, Chain c, Node x, Node w1, Node w2, Node b1) {
    Conv2d first = (Conv2d) c.first().op();
    Conv2d second = (Conv2d) c.second().op();
    Shape s1 = w1.shape();                                   // [M, C, kh1, kw1]
    Shape s2 = w2.shape();                                   // [O, M, kh2, kw2]
    int o = s2.dim(0);
    int mid = s2.dim(1);
    int in = s1.dim(1);
    Node w;
    Node shift = null;
    Conv2d op;
    if (pointwise(first.window())) {
      // W[o, c, k] = Σ_m W₂[o, m, k]·W₁[m, c]: W₂ with its taps as rows, times W₁.
      int taps = s2.dim(2) * s2.dim(3);
      Node rows = Ops.reshape(b, b.add(new Permute(List.of(0, 2, 3, 1)), w2), Shape.of(o * taps, mid));
      Node prod = b.add(new MatMul(false, false), rows, Ops.reshape(b, w1, Shape.of(mid, in)));       // [O·K, C]
      Node back = Ops.reshape(b, prod, Shape.of(o, s2.dim(2), s2.dim(3), in));
      w = b.add(new Permute(List.of(0, 3, 1, 2)), back);                                               // [O, C, kh, kw]
      op = second;
      if (b1 != null) {
        // An unpadded window sees the bias at every tap: Σ_{m,k} W₂[o, m, k]·b₁[m].
        Node summed = b.add(new Reduce(ReduceFn.SUM, List.of(2), false), Ops.reshape(b, w2, Shape.of(o, mid, taps)));
        shift = b.add(new MatMul(false, false), summed, Ops.reshape(b, b1, Shape.of(mid, 1)));
      }
    } else {
      // The second is 1×1: W[o, c, k] = Σ_m W₂[o, m]·W₁[m, c, k].
      Node w2m = Ops.reshape(b, w2, Shape.of(o, mid));
      Node prod = b.add(new MatMul(false, false), w2m,
          Ops.reshape(b, w1, Shape.of(mid, in * s1.dim(2) * s1.dim(3))));
      w = Ops.reshape(b, prod, Shape.of(o, in, s1.dim(2), s1.dim(3)));
      op = first;
      if (b1 != null) {
        shift = b.add(new MatMul(false, false), w2m, Ops.reshape(b, b1, Shape.of(mid, 1)));
      }
    }
    Node y = b.add(op, x, w);
    return shift == null ? y : Ops.add(b, y, Ops.reshape(b, shift, Shape.of(o, 1, 1)));
  }

  private static boolean single(Map<Node, List<Node>> users, Node n) {
    return users.getOrDefault(n, List.of()).size() == 1;
  }
}
