package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.ops.Op;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Copies a graph node by node into a new builder, keeping only {@code keep} (when given) and
 * letting a rewrite replace nodes. Outputs and updates follow their (rewritten) values.
 */
final class Rebuilder {
  /** Returns the replacement of {@code n} (already-mapped operands in {@code ins}), or null to copy it. */
  interface Rewrite {
    Node rewrite(Graph.Builder b, Node n, List<Node> ins);
  }

  /** A rewrite that also sees where earlier nodes went ({@code mapped.get(old)}), to reach past its operands. */
  interface DeepRewrite {
    Node rewrite(Graph.Builder b, Node n, List<Node> ins, Map<Node, Node> mapped);
  }

  private Rebuilder() {}

  static Graph rebuild(Graph g, Set<Node> keep, Rewrite rw) {
    return rebuildDeep(g, keep, rw == null ? null : (b, n, ins, mapped) -> rw.rewrite(b, n, ins));
  }

  static Graph rebuildDeep(Graph g, Set<Node> keep, DeepRewrite rw) {
    Graph.Builder b = Graph.builder(g.name());
    Map<Node, Node> map = new HashMap<>();
    for (Node n : g.nodes()) {
      if (keep != null && !keep.contains(n)) {
        continue;
      }
      List<Node> ins = n.inputs().stream().map(map::get).toList();
      Node r = rw == null ? null : rw.rewrite(b, n, ins, map);
      if (r == null) {
        Op op = n.op();
        r = op.leaf()
            ? b.addTyped(op, ins, new dev.nnc.ir.TensorType(n.shape(), n.dtype()))
            : b.add(op, ins);
      }
      map.put(n, r);
    }
    g.outputs().forEach((k, v) -> b.output(k, map.get(v)));
    g.updates().forEach((k, v) -> b.update(map.get(k), map.get(v)));
    return b.build();
  }
}
