package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Constant;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Param;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * {@code hoist-weights}: in the inference programs, values computed from parameters alone —
 * {@code fold-conv-bn}'s folded weights and biases, {@code fold-linear}'s weight products, the
 * Winograd filter transforms of {@code lower-conv}, transposed weights — move into one program,
 * {@value #PROGRAM}, which writes each into a persistent tensor (a parameter of role
 * {@link Param.Role#DERIVED}); the inference programs read those tensors instead of computing
 * them again on every call. The runtime runs {@value #PROGRAM} before an inference program
 * whenever the weights changed since it last ran (after loading them, setting one, or a
 * training step).
 *
 * <p>A hoisted value is a node whose operands are all parameters, constants or hoistable, that
 * an input-dependent node (or an output) reads. Views (reshapes) and broadcasts are not hoisted
 * themselves — they cost nothing or would store a larger tensor than they read — but what they
 * read is. The same computation in several programs (eval and predict compute the same folded
 * weights) is one derived tensor, recognised by its structure.
 */
public final class HoistWeights {
  /** The program that computes the derived tensors. */
  public static final String PROGRAM = "prepare";

  /** The pass's name, for {@code nnc emit --after}. */
  public static final String NAME = "hoist-weights";

  /**
   * The inference programs rewritten to read the derived tensors, and the program that computes
   * them (null when nothing was hoisted).
   */
  public record Result(Graph prepare, Map<String, Graph> programs) {}

  private HoistWeights() {}

  public static Result apply(Map<String, Graph> programs) {
    Graph.Builder prep = Graph.builder(PROGRAM);
    Map<String, Node> prepNodes = new HashMap<>();
    Map<String, Node> derived = new LinkedHashMap<>();
    Map<String, Graph> out = new LinkedHashMap<>();
    for (Map.Entry<String, Graph> e : programs.entrySet()) {
      Graph g = e.getValue();
      List<Node> roots = roots(g);
      if (roots.isEmpty()) {
        out.put(e.getKey(), g);
        continue;
      }
      Map<Node, String> sigs = new HashMap<>();
      Map<Node, Node> replacement = new HashMap<>();
      for (Node r : roots) {
        String sig = signature(r, sigs);
        Node d = derived.get(sig);
        if (d == null) {
          Node value = copy(r, prep, prepNodes, sigs);
          String from = firstParam(r);
          String name = "prepared." + derived.size() + (from != null ? "." + from : "");
          d = prep.addTyped(new Param(name, Param.Role.DERIVED, Init.ZEROS), List.of(), new TensorType(r.shape(), r.dtype()));
          prep.update(d, value);
          derived.put(sig, d);
        }
        replacement.put(r, d);
      }
      Graph main = Rebuilder.rebuild(g, null, (b, n, ins) -> {
        Node d = replacement.get(n);
        return d == null ? null : b.addTyped(d.op(), List.of(), new TensorType(d.shape(), d.dtype()));
      });
      out.put(e.getKey(), new DeadCodeElimination().apply(main));
    }
    return new Result(derived.isEmpty() ? null : prep.build(), out);
  }

  /** The nodes to hoist, in graph order. */
  static List<Node> roots(Graph g) {
    Set<Node> weightOnly = new HashSet<>();
    for (Node n : g.nodes()) {
      boolean computed = !n.op().leaf() && !n.op().random() && !n.inputs().isEmpty() && weightOnly.containsAll(n.inputs());
      if (given(n) || computed) {
        weightOnly.add(n);
      }
    }
    Set<Node> ends = new HashSet<>(g.outputs().values());
    ends.addAll(g.updates().values());
    Map<Node, List<Node>> users = g.users();
    Deque<Node> work = new ArrayDeque<>();
    for (Node n : g.nodes()) {
      if (weightOnly.contains(n) && !given(n)
          && (ends.contains(n) || users.getOrDefault(n, List.of()).stream().anyMatch(u -> !weightOnly.contains(u)))) {
        work.add(n);
      }
    }
    Set<Node> roots = new TreeSet<>(Comparator.comparingInt(Node::id));
    Set<Node> seen = new HashSet<>();
    while (!work.isEmpty()) {
      Node n = work.poll();
      if (given(n) || !seen.add(n)) {
        continue;
      }
      if (n.op().view() || n.op().expands()) {
        work.addAll(n.inputs());
      } else {
        roots.add(n);
      }
    }
    return List.copyOf(roots);
  }

  /** A parameter or a constant: what hoisted values are computed from, never hoisted themselves. */
  private static boolean given(Node n) {
    return n.op() instanceof Param || n.op() instanceof Constant;
  }

  /** The node's computation as text: equal texts compute equal values from the same parameters. */
  private static String signature(Node n, Map<Node, String> memo) {
    String s = memo.get(n);
    if (s != null) {
      return s;
    }
    StringBuilder sb = new StringBuilder();
    if (n.op() instanceof Param p) {
      sb.append("param ").append(p.name());
    } else {
      sb.append(n.op().mnemonic()).append('[').append(n.op().attributes()).append("](");
      for (int i = 0; i < n.inputs().size(); i++) {
        sb.append(i > 0 ? ", " : "").append(signature(n.input(i), memo));
      }
      sb.append(')');
    }
    sb.append(':').append(n.shape());
    s = sb.toString();
    memo.put(n, s);
    return s;
  }

  /** {@code n} and what it reads, copied into the prepare program once per computation. */
  private static Node copy(Node n, Graph.Builder b, Map<String, Node> done, Map<Node, String> sigs) {
    String sig = signature(n, sigs);
    Node c = done.get(sig);
    if (c != null) {
      return c;
    }
    if (n.op() instanceof Param p) {
      c = b.param(p.name());
      if (c == null) {
        c = b.addTyped(p, List.of(), new TensorType(n.shape(), n.dtype()));
      }
    } else if (n.op().leaf()) {
      c = b.addTyped(n.op(), List.of(), new TensorType(n.shape(), n.dtype()));
    } else {
      List<Node> ins = n.inputs().stream().map(i -> copy(i, b, done, sigs)).toList();
      c = b.add(n.op(), ins);
    }
    done.put(sig, c);
    return c;
  }

  /** The first parameter {@code n} reads (depth first), to name the derived tensor after it; null if none. */
  private static String firstParam(Node n) {
    if (n.op() instanceof Param p) {
      return p.name();
    }
    for (Node i : n.inputs()) {
      String s = firstParam(i);
      if (s != null) {
        return s;
      }
    }
    return null;
  }
}
