package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.ops.Input;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.Set;

/**
 * {@code dce}: removes nodes that no output or update needs. Inputs stay, so a graph keeps its
 * calling convention.
 *
 * <pre>
 *   %1 = relu(%0)   // unused        →   (removed)
 * </pre>
 */
public final class DeadCodeElimination implements Pass {
  @Override
  public String name() {
    return "dce";
  }

  @Override
  public Graph apply(Graph g) {
    Set<Node> live = new HashSet<>();
    Deque<Node> work = new ArrayDeque<>();
    work.addAll(g.outputs().values());
    g.updates().forEach((k, v) -> {
      work.add(k);
      work.add(v);
    });
    g.nodes().stream().filter(n -> n.op() instanceof Input).forEach(work::add);
    while (!work.isEmpty()) {
      Node n = work.pop();
      if (live.add(n)) {
        work.addAll(n.inputs());
      }
    }
    if (live.size() == g.nodes().size()) {
      return g;
    }
    return Rebuilder.rebuild(g, live, null);
  }
}
