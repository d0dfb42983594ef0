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
  record Loops(String name, KStmt.Loop root, int vars, int locals, boolean parallel, double flops)
      implements Kernel {}

  /**
   * {@code C[M,N] = epilogue(op(A)·op(B))}; A is {@code [M,K]} ({@code [K,M]} if transA), B is
   * {@code [K,N]} ({@code [N,K]} if transB), all row-major and dense. The epilogue is evaluated
   * per element with loop variables 0 = i and 1 = j and {@link KExpr.Acc} the product; null means
   * {@code C = A·B}. {@code workspace} is scratch for packing ({@link #workspaceFloats}).
   */
  record Gemm(String name, int a, long aBase, int b, long bBase, int c, int m, int n, int k, boolean transA,
      boolean transB, KExpr epilogue, int workspace) implements Kernel {
    /**
     * Packing scratch a GEMM may use: B as K rows of N padded by up to 64 columns, then A as K
     * columns of M padded by up to 64 rows (any micro-tile of at most 64 fits).
     */
    public static long workspaceFloats(int m, int n, int k) {
      return packedBFloats(n, k) + (long) k * ((m + 127) / 64 * 64);
    }

    public static long packedBFloats(int n, int k) {
      return (long) k * ((n + 127) / 64 * 64);
    }
  }
}
