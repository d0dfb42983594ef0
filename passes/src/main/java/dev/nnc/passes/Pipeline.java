package dev.nnc.passes;

import dev.nnc.ir.Graph;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * A pipeline is data: a list of passes run in order. The listener sees the graph after each
 * pass (for {@code nnc emit --ir --after NAME} and for tests that verify after every pass).
 */
public record Pipeline(List<Pass> passes) {
  /** The passes every graph goes through after elaboration (and after differentiation). */
  public static Pipeline canonical() {
    return new Pipeline(List.of(new CommonSubexpressionElimination(), new FoldConstants(),
        new CommonSubexpressionElimination(), new DeadCodeElimination()));
  }

  public static List<String> passNames() {
    return List.of("elaborate", "differentiate", "cse", "fold-constants", "dce", "lower");
  }

  public Graph run(Graph g, BiConsumer<String, Graph> after) {
    Graph cur = g;
    for (Pass p : passes) {
      cur = p.apply(cur);
      if (after != null) {
        after.accept(p.name(), cur);
      }
    }
    return cur;
  }
}
