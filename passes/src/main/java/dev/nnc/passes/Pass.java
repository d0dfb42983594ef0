package dev.nnc.passes;

import dev.nnc.ir.Graph;

/**
 * A pure, named graph transformation. The name is also the CLI flag
 * ({@code nnc emit --ir --after NAME}) and the folder of the pass's golden tests.
 */
public interface Pass {
  String name();

  Graph apply(Graph g);
}
