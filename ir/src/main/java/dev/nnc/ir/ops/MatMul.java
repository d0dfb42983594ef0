package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * {@code C[M,N] = op(A) · op(B)} where {@code op} transposes when the flag is set: A is stored
 * {@code [M,K]} (or {@code [K,M]} with transA), B {@code [K,N]} (or {@code [N,K]} with transB).
 * Dense layers use transB, so their weight is {@code [out, in]} as in PyTorch. Both operands may
 * also carry one leading batch dimension of the same size, {@code [G,M,K]·[G,K,N] → [G,M,N]}: G
 * independent products (the flags transpose each one), as Winograd's α² tile products are.
 *
 * <pre>
 *   %2 = matmul[transA=false, transB=true](%x, %w) : f32[64,256]   // x[64,784], w[256,784]
 * </pre>
 */
public record MatMul(boolean transA, boolean transB) implements Op {
  @Override
  public String mnemonic() {
    return "matmul";
  }

  @Override
  public String attributes() {
    return "transA=" + transA + ", transB=" + transB;
  }

  @Override
  public int arity() {
    return 2;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape a = in.get(0).shape();
    Shape b = in.get(1).shape();
    if (!((a.rank() == 2 && b.rank() == 2) || (a.rank() == 3 && b.rank() == 3))) {
      throw new ShapeException("matmul expects two matrices or two batches of matrices, got " + a + " and " + b);
    }
    int o = a.rank() - 2;     // 1 for a batch: its dimension 0 is the batch
    if (o == 1 && a.dim(0) != b.dim(0)) {
      throw new ShapeException("matmul batches differ: " + a + " and " + b);
    }
    int m = transA ? a.dim(o + 1) : a.dim(o);
    int ka = transA ? a.dim(o) : a.dim(o + 1);
    int kb = transB ? b.dim(o + 1) : b.dim(o);
    int n = transB ? b.dim(o) : b.dim(o + 1);
    if (ka != kb) {
      throw new ShapeException("matmul inner dimensions differ: " + a + (transA ? "ᵀ" : "") + " · " + b
          + (transB ? "ᵀ" : "") + " (" + ka + " vs " + kb + ")");
    }
    return TensorType.f32(o == 1 ? Shape.of(a.dim(0), m, n) : Shape.of(m, n));
  }

  /** Products in the batch: the leading dimension of a batched product, else 1. */
  public static int batch(Shape out) {
    return out.rank() == 3 ? out.dim(0) : 1;
  }

  /**
   * The gradient rule; a batched product's is the same per product, since the flags transpose
   * each product's last two dimensions.
   */
  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    Node a = self.input(0);
    Node w = self.input(1);
    // dA = dC · op(B)ᵀ, stored transposed when A is: (dC · op(B)ᵀ)ᵀ = op(B) · dCᵀ.
    Node da = transA
        ? b.add(new MatMul(transB, true), w, dy)
        : b.add(new MatMul(false, !transB), dy, w);
    // dB = op(A)ᵀ · dC, stored transposed when B is: dCᵀ · op(A).
    Node db = transB
        ? b.add(new MatMul(true, transA), dy, a)
        : b.add(new MatMul(!transA, false), a, dy);
    return List.of(da, db);
  }
}
