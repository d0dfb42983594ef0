package dev.nnc.ir.ops;

import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * The adjoint of {@link Embedding} against its table: {@code dy[…, D]} and {@code ids[…]} give
 * {@code dW[vocab, D]} with {@code dW[v] = Σ_{t : ids[t] = v} dy[t]} (a scatter-add; rows of
 * tokens that do not occur are zero).
 *
 * <pre>
 *   %9 = embedding_grad[vocab=60](%dy, %ids) : f32[60,16]
 * </pre>
 */
public record EmbeddingGrad(int vocab) implements Op {
  public EmbeddingGrad {
    if (vocab < 1) {
      throw new IllegalArgumentException("embedding_grad: the vocabulary size must be positive, got " + vocab);
    }
  }

  @Override
  public String mnemonic() {
    return "embedding_grad";
  }

  @Override
  public String attributes() {
    return "vocab=" + vocab;
  }

  @Override
  public int arity() {
    return 2;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape dy = in.get(0).shape();
    Node ids = in.get(1);
    if (ids.dtype() != DType.I32) {
      throw new ShapeException("embedding_grad expects integer token ids, got " + ids.dtype().text() + ids.shape());
    }
    if (dy.rank() != ids.shape().rank() + 1
        || !Embedding.rows(ids.shape(), dy.dim(dy.rank() - 1)).equals(dy)) {
      throw new ShapeException("embedding_grad: dy " + dy + " is not the rows of ids " + ids.shape());
    }
    return TensorType.f32(Shape.of(vocab, dy.dim(dy.rank() - 1)));
  }

  @Override
  public int indexBound(int operand) {
    return operand == 1 ? vocab : 0;
  }

  @Override
  public String indexNoun(int operand) {
    return "token id";
  }

  /** Linear in {@code dy}: against {@code g[vocab, D]}, {@code dy} gets the rows of g its tokens select. */
  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node g) {
    return Ops.grads(b.add(new Embedding(vocab), g, self.input(1)), null);
  }
}
