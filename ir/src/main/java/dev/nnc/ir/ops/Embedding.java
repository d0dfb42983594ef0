package dev.nnc.ir.ops;

import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.Arrays;
import java.util.List;

/**
 * An embedding lookup: row {@code ids[…]} of {@code table[vocab, D]} for each token id, so
 * {@code ids[…]} gives {@code [… , D]} (PyTorch's {@code F.embedding}). Its gradient against the
 * table adds each token's output gradient onto its row ({@link EmbeddingGrad}); ids take none.
 *
 * <pre>
 *   %2 = embedding[vocab=60](%w, %ids) : f32[64,20,16]
 * </pre>
 */
public record Embedding(int vocab) implements Op {
  public Embedding {
    if (vocab < 1) {
      throw new IllegalArgumentException("embedding: the vocabulary size must be positive, got " + vocab);
    }
  }

  @Override
  public String mnemonic() {
    return "embedding";
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
    Shape table = in.get(0).shape();
    Node ids = in.get(1);
    if (table.rank() != 2 || table.dim(0) != vocab || in.get(0).dtype() != DType.F32) {
      throw new ShapeException("embedding[vocab=" + vocab + "] expects a table f32[" + vocab + ", D], got "
          + in.get(0).dtype().text() + table);
    }
    if (ids.dtype() != DType.I32) {
      throw new ShapeException("embedding expects integer token ids, got " + ids.dtype().text() + ids.shape());
    }
    return TensorType.f32(rows(ids.shape(), table.dim(1)));
  }

  /** {@code ids} followed by {@code dim}: the shape of the rows looked up. */
  public static Shape rows(Shape ids, int dim) {
    int[] d = Arrays.copyOf(ids.dims(), ids.rank() + 1);
    d[d.length - 1] = dim;
    return new Shape(d);
  }

  /** Token ids index the table's rows: {@code [0, vocab)}. */
  @Override
  public int indexBound(int operand) {
    return operand == 1 ? vocab : 0;
  }

  @Override
  public String indexNoun(int operand) {
    return "token id";
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return Ops.grads(b.add(new EmbeddingGrad(vocab), dy, self.input(1)), null);
  }
}
