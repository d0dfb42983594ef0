package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Ops;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reverse-mode automatic differentiation. Walks the nodes between the parameters and the loss
 * backwards, asks each op for its gradient rule (which appends ordinary graph ops) and sums the
 * contributions of every use. The backward pass is thereby just more graph, optimised and
 * compiled like the forward pass.
 */
public final class Autodiff {
  private Autodiff() {}

  /** Appends d(loss)/d(w) for each {@code w} to {@code b}; {@code loss} must be a scalar. */
  public static Map<Node, Node> gradients(Graph.Builder b, Node loss, Collection<Node> wrt) {
    if (!loss.shape().equals(Shape.SCALAR)) {
      throw new IllegalArgumentException("the loss must be a scalar, got " + loss.shape());
    }
    List<Node> forward = new ArrayList<>(b.nodes().subList(0, loss.id() + 1));
    // Nodes that depend on a parameter…
    Set<Node> fromWrt = new HashSet<>(wrt);
    for (Node n : forward) {
      if (n.inputs().stream().anyMatch(fromWrt::contains)) {
        fromWrt.add(n);
      }
    }
    // …and that the loss depends on.
    Set<Node> toLoss = new HashSet<>();
    toLoss.add(loss);
    for (int i = forward.size() - 1; i >= 0; i--) {
      Node n = forward.get(i);
      if (toLoss.contains(n)) {
        toLoss.addAll(n.inputs());
      }
    }
    Map<Node, Node> adjoint = new HashMap<>();
    adjoint.put(loss, Ops.constant(b, 1));
    for (int i = forward.size() - 1; i >= 0; i--) {
      Node n = forward.get(i);
      Node dy = adjoint.get(n);
      if (dy == null || n.inputs().isEmpty() || !fromWrt.contains(n)) {
        continue;
      }
      // The seed is a scalar constant; ops expect dy shaped like their output.
      if (!dy.shape().equals(n.shape())) {
        dy = Ops.broadcastTo(b, dy, n.shape());
      }
      List<Node> grads = n.op().gradients(b, n, dy);
      for (int k = 0; k < grads.size(); k++) {
        Node in = n.input(k);
        Node g = grads.get(k);
        if (g == null || !fromWrt.contains(in) || !toLoss.contains(in)) {
          continue;
        }
        Node prev = adjoint.get(in);
        adjoint.put(in, prev == null ? g : Ops.add(b, prev, g));
      }
    }
    Map<Node, Node> out = new LinkedHashMap<>();
    for (Node w : wrt) {
      Node g = adjoint.get(w);
      // A parameter the loss does not depend on has a zero gradient.
      out.put(w, g != null ? g : Ops.broadcastTo(b, Ops.constant(b, 0), w.shape()));
    }
    return out;
  }
}
