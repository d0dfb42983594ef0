package dev.nnc.ir.kernel;

/**
 * A target-neutral kernel. Back ends decide how its parallel dimension maps to threads (CPU)
 * or blocks (GPU); its arithmetic is tested once, against the reference interpreter.
 */
public sealed interface Kernel {
  String name();

  /**
   * A loop nest. When {@code parallel}, the outermost statement is a loop whose iterations are
   * independent: the runtime splits them across threads.
   */
  record Loops(String name, KStmt.Loop root, int vars, int locals, boolean parallel, double flops,
      TileTransform transform) implements Kernel {
    /** A nest that is only its loops. */
    public Loops(String name, KStmt.Loop root, int vars, int locals, boolean parallel, double flops) {
      this(name, root, vars, locals, parallel, flops, null);
    }

    /** The same nest with another name (and the same description, if any). */
    public Loops named(String newName) {
      return new Loops(newName, root, vars, locals, parallel, flops, transform);
    }
  }

  /**
   * Time as a loop of the program: the {@code body} kernels run in order, {@code steps} times;
   * before iteration {@code s} the runtime writes the step's index {@code first + s·delta} (as a
   * float) into element 0 of buffer {@code counter}. Body kernels address the step's slice of a
   * sequence through a {@link KExpr.Row} whose id reads the counter, so one copy of the body serves
   * every step and the program's size does not depend on the sequence length (a recurrent
   * layer's cell: its hidden-state GEMM and its gate kernel). The row clamps as always, so no
   * counter value, however wrong, reaches outside a buffer. Bodies hold loop nests and GEMMs (no
   * nested steps); memory planning keeps every buffer the body touches live for the whole loop.
   */
  record Steps(String name, int counter, long steps, long first, long delta, java.util.List<Kernel> body)
      implements Kernel {
    public Steps {
      body = java.util.List.copyOf(body);
      if (steps < 1 || body.isEmpty()) {
        throw new IllegalArgumentException("steps " + name + ": " + steps + " steps of " + body.size() + " kernels");
      }
    }

    /** The counter's value at iteration {@code s}. */
    public long index(long s) {
      return first + s * delta;
    }
  }

  /**
   * What a loop nest computes when it is a Winograd transform ({@code op}) between images
   * {@code [images, channels, h, w]} in buffer {@code image} and tiles in buffer {@code tiles},
   * both from their first element, with the nest's outermost loop over the channels. A back end
   * may emit such a kernel its own way (vectorised across tiles) instead of the nest; the nest
   * stays the definition, which the interpreter runs and the verifier checks, and the back end's
   * code must compute the same values up to rounding. Passes that rewrite a nest drop the
   * description (the nest then runs as written).
   */
  record TileTransform(int image, int tiles, int images, int channels, dev.nnc.ir.ops.Winograd op) {}

  /**
   * {@code C[M,N] = epilogue(op(A)·op(B))}; A is {@code [M,K]} ({@code [K,M]} if transA), B is
   * {@code [K,N]} ({@code [N,K]} if transB), all row-major and dense. The epilogue is evaluated
   * per element with loop variables 0 = i and 1 = j and {@link KExpr.Acc} the product; null means
   * {@code C = A·B}. How a back end computes it (packing, tiling) is its own business: the scratch
   * it needs comes from {@code Backend.scratchFloats}, and memory planning gives each kernel its
   * scratch for the kernel's duration.
   *
   * <p>With {@code batch > 1} it is that many independent products over consecutive blocks:
   * product {@code q} reads A at {@code aBase + q·M·K}, B at {@code bBase + q·K·N} and writes C at
   * {@code q·M·N}. A batched product has no epilogue.
   */
  record Gemm(String name, int a, long aBase, int b, long bBase, int c, int m, int n, int k, boolean transA,
      boolean transB, KExpr epilogue, int batch) implements Kernel {
    public Gemm {
      if (batch < 1 || (batch > 1 && epilogue != null)) {
        throw new IllegalArgumentException("gemm " + name + ": batch " + batch + (epilogue != null ? " with an epilogue" : ""));
      }
    }

    /** One product. */
    public Gemm(String name, int a, long aBase, int b, long bBase, int c, int m, int n, int k, boolean transA,
        boolean transB, KExpr epilogue) {
      this(name, a, aBase, b, bBase, c, m, n, k, transA, transB, epilogue, 1);
    }
  }
}
