package dev.nnc.ir;

import java.util.HashMap;
import java.util.Map;
import java.util.Map.Entry;
import java.util.stream.Collectors;

/**
 * Prints a graph as IR text. Values are renumbered densely in node order, so two graphs that
 * differ only in node ids print the same (the golden tests rely on it).
 *
 * <pre>
 * graph mlp {
 *   %0 = input[name="x"] : f32[64,784]
 *   %1 = param[name="dense1.weight", role=weight, init=glorot_uniform] : f32[256,784]
 *   %2 = matmul[transA=false, transB=true](%0, %1) : f32[64,256]
 *   output "y" = %2
 * }
 * </pre>
 */
public final class IrPrinter {
  private IrPrinter() {}

  public static String print(Graph g) {
    Map<Node, Integer> ids = new HashMap<>();
    StringBuilder sb = new StringBuilder("graph ").append(g.name()).append(" {\n");
    for (Node n : g.nodes()) {
      int id = ids.size();
      ids.put(n, id);
      sb.append("  %").append(id).append(" = ").append(n.op().mnemonic());
      String attrs = n.op().attributes();
      if (!attrs.isEmpty()) {
        sb.append('[').append(attrs).append(']');
      }
      if (!n.inputs().isEmpty()) {
        sb.append(n.inputs().stream().map(i -> "%" + ids.get(i)).collect(Collectors.joining(", ", "(", ")")));
      }
      sb.append(" : ").append(n.dtype().text()).append(n.shape()).append('\n');
    }
    for (Entry<String, Node> o : g.outputs().entrySet()) {
      sb.append("  output \"").append(o.getKey()).append("\" = %").append(ids.get(o.getValue())).append('\n');
    }
    for (Entry<Node, Node> u : g.updates().entrySet()) {
      sb.append("  update %").append(ids.get(u.getKey())).append(" = %").append(ids.get(u.getValue())).append('\n');
    }
    return sb.append("}\n").toString();
  }
}
