package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.ops.Op;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code cse}: merges nodes with equal ops and identical operands. Op records compare by value,
 * which is why attributes live in records and operands on nodes.
 *
 * <pre>
 *   %2 = exp(%1)
 *   %3 = exp(%1)      →   uses of %3 become uses of %2
 * </pre>
 */
public final class CommonSubexpressionElimination implements Pass {
  private record Key(Op op, List<Integer> inputs) {}

  @Override
  public String name() {
    return "cse";
  }

  @Override
  public Graph apply(Graph g) {
    Map<Key, Node> seen = new HashMap<>();
    return Rebuilder.rebuild(g, null, (b, n, ins) -> {
      Op op = n.op();
      if (op.leaf() || op.random()) {
        return null;
      }
      Key k = new Key(op, ins.stream().map(Node::id).toList());
      Node prev = seen.get(k);
      if (prev != null) {
        return prev;
      }
      Node r = b.add(op, ins);
      seen.put(k, r);
      return r;
    });
  }
}
