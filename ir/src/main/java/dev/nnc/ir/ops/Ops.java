package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import java.util.ArrayList;
import java.util.List;

/** Short builders for the ops that gradient rules and the frontend compose. */
public final class Ops {
  private Ops() {}

  public static Node constant(Graph.Builder b, double v) {
    return b.add(new Constant(v));
  }

  public static Node add(Graph.Builder b, Node x, Node y) {
    return b.add(new Binary(BinaryFn.ADD), x, y);
  }

  public static Node sub(Graph.Builder b, Node x, Node y) {
    return b.add(new Binary(BinaryFn.SUB), x, y);
  }

  public static Node mul(Graph.Builder b, Node x, Node y) {
    return b.add(new Binary(BinaryFn.MUL), x, y);
  }

  public static Node div(Graph.Builder b, Node x, Node y) {
    return b.add(new Binary(BinaryFn.DIV), x, y);
  }

  public static Node scale(Graph.Builder b, Node x, double s) {
    return mul(b, x, constant(b, s));
  }

  public static Node neg(Graph.Builder b, Node x) {
    return unary(b, UnaryFn.NEG, x);
  }

  public static Node unary(Graph.Builder b, UnaryFn fn, Node x) {
    return b.add(new Unary(fn, fn.defaultAlpha()), x);
  }

  public static Node unary(Graph.Builder b, UnaryFn fn, double alpha, Node x) {
    return b.add(new Unary(fn, alpha), x);
  }

  public static Node sumAll(Graph.Builder b, Node x) {
    return b.add(Reduce.all(ReduceFn.SUM, x.shape().rank()), x);
  }

  public static Node meanAll(Graph.Builder b, Node x) {
    return b.add(Reduce.all(ReduceFn.MEAN, x.shape().rank()), x);
  }

  public static Node reshape(Graph.Builder b, Node x, Shape s) {
    if (x.shape().equals(s)) {
      return x;
    }
    return b.add(new Reshape(s), x);
  }

  /** Sums {@code x} down to {@code target}, undoing a broadcast (the gradient of broadcasting). */
  public static Node sumTo(Graph.Builder b, Node x, Shape target) {
    if (x.shape().equals(target)) {
      return x;
    }
    return b.add(new SumTo(target), x);
  }

  public static Node broadcastTo(Graph.Builder b, Node x, Shape target) {
    if (x.shape().equals(target)) {
      return x;
    }
    return b.add(new Broadcast(target), x);
  }

  /** Reduction over the given axes keeping them as size-1 dimensions. */
  public static Node reduceKeep(Graph.Builder b, ReduceFn fn, Node x, int... axes) {
    List<Integer> ax = new ArrayList<>();
    for (int a : axes) {
      ax.add(a < 0 ? a + x.shape().rank() : a);
    }
    return b.add(new Reduce(fn, ax, true), x);
  }

  static List<Node> grads(Node... g) {
    List<Node> out = new ArrayList<>();
    for (Node n : g) {
      out.add(n);
    }
    return out;
  }
}
