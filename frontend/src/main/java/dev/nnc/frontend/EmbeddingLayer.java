package dev.nnc.frontend;

import dev.nnc.ir.DType;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Embedding;
import java.util.List;

/**
 * {@code embedding(vocab, dim, init=normal)}: token ids {@code int[…]} to their rows of a table
 * {@code weight[vocab, dim]}, giving {@code […, dim]}, as PyTorch's {@code nn.Embedding} (same
 * parameter name and shape, same default N(0, 1) initialisation), so weights move by name.
 * Ids outside {@code [0, vocab)} are rejected when the input is set, naming the index and the
 * vocabulary size.
 */
final class EmbeddingLayer implements Layer {
  @Override
  public String name() {
    return "embedding";
  }

  @Override
  public List<Args.Spec> specs() {
    return List.of(Args.Spec.required("vocab"), Args.Spec.required("dim"), Args.Spec.sym("init", "normal"));
  }

  @Override
  public Node apply(LayerContext ctx, List<Node> in, Args a) {
    Node ids = in.get(0);
    int vocab = a.positiveInt("vocab");
    int dim = a.positiveInt("dim");
    if (ids.dtype() != DType.I32) {
      throw new LayerException("embedding expects integer token ids, got a float input " + Layer.perExample(ids),
          "declare the input as `int[…]`: `input chars: int[60]`");
    }
    Node w = ctx.param("weight", Shape.of(vocab, dim), Inits.parse(a.get("init"), "embedding weights"));
    return ctx.graph().add(new Embedding(vocab), w, ids);
  }
}
