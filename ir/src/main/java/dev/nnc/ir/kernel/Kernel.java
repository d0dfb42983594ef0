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
   * {@code C = A·B}. How a back end computes it (packing, tiling) is its own business: the scratch
   * it needs comes from {@code Backend.scratchFloats}, and memory planning gives each kernel its
   * scratch for the kernel's duration.
   */
  record Gemm(String name, int a, long aBase, int b, long bBase, int c, int m, int n, int k, boolean transA,
      boolean transB, KExpr epilogue) implements Kernel {}
}
