package dev.nnc.frontend;

import dev.nnc.ir.Node;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.antlr.v4.runtime.Token;

/**
 * Values that no output (nor the loss) depends on: assigned and then reassigned before any use,
 * or leading nowhere. Each is a warning at its assignment, and its layers are left out of the
 * model — not in the graph, the summary or the weights — as Keras' functional API leaves out
 * layers that do not lead to an output.
 */
final class DeadValues {
  /** A name bound to a tensor by an assignment. */
  private record Binding(Token name, Node value) {}

  private final List<Binding> bindings = new ArrayList<>();

  void bound(Token name, Node value) {
    bindings.add(new Binding(name, value));
  }

  /** Every node the roots (and the loss, when there is one) depend on. */
  static Set<Node> liveFrom(Collection<Node> roots, Node loss) {
    Set<Node> live = new HashSet<>();
    Deque<Node> work = new ArrayDeque<>(roots);
    if (loss != null) {
      work.add(loss);
    }
    while (!work.isEmpty()) {
      Node n = work.pop();
      if (live.add(n)) {
        work.addAll(n.inputs());
      }
    }
    return live;
  }

  /**
   * Adds the updates that belong to live layers (BatchNorm's running statistics): an update lives
   * when its new value reads a node that is live, and then everything it reads lives too.
   */
  static void addUpdates(Set<Node> live, java.util.Map<Node, Node> updates) {
    for (java.util.Map.Entry<Node, Node> u : updates.entrySet()) {
      Set<Node> reads = liveFrom(java.util.List.of(u.getValue()), null);
      if (reads.stream().anyMatch(n -> live.contains(n) && !n.op().leaf())) {
        live.addAll(reads);
        live.add(u.getKey());
      }
    }
  }

  /** A warning at each assignment whose value is not live. */
  void warn(Diagnostics diag, Set<Node> live) {
    for (Binding b : bindings) {
      if (!live.contains(b.value())) {
        diag.warning(b.name(), "the value assigned to `" + b.name().getText() + "` here is never used; its layers "
            + "are left out of the model", "use it, or delete the assignment");
      }
    }
  }
}
