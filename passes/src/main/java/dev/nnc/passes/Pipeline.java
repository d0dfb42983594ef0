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
    return new Pipeline(List.of(new FoldConvBatchNorm(), new FoldLinear(), new LowerConv(), new SinkReshape(), new CommonSubexpressionElimination(), new FoldConstants(),
        new CommonSubexpressionElimination(), new DeadCodeElimination()));
  }

  /**
   * Every stage a program goes through, in order: the graph passes, then the kernel stages of
   * lowering ({@code LowerToKernels.STAGES}), then memory planning. Each name works with
   * {@code nnc emit --after NAME}; {@code --print-after-all} prints them all.
   */
  public static List<String> passNames() {
    return List.of("elaborate", "differentiate", "fold-conv-bn", "fold-linear", "lower-conv", "sink-reshape", "cse", "fold-constants", "dce", "hoist-weights", "lower", "merge", "collapse",
        "place-updates", "plan-memory");
  }

  /** The stages that produce kernel IR rather than graph IR. */
  public static List<String> kernelStages() {
    return List.of("lower", "merge", "collapse", "place-updates", "plan-memory");
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
