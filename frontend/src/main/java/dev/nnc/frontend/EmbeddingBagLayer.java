package dev.nnc.frontend;

import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Embedding;
import dev.nnc.ir.ops.OneHot;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.Slice;
import java.util.List;

/**
 * {@code embedding_bag(vocab, dim, mode=mean, init=normal)}: a bag of token ids {@code int[L]}
 * to the sum or the mean of their rows of {@code weight[vocab, dim]}, giving {@code [dim]}; id 0
 * is padding and left out (PyTorch's {@code nn.EmbeddingBag(vocab, dim, mode, padding_idx=0)}
 * on a batch of fixed-length bags: a bag of padding only gives zeros). Built of ops that exist:
 * the lookup, a mask of the ids that are not padding, a sum over the bag, and for the mean a
 * division by the bag's length (at least 1).
 */
final class EmbeddingBagLayer implements Layer {
  @Override
  public String name() {
    return "embedding_bag";
  }

  @Override
  public List<Args.Spec> specs() {
    return List.of(Args.Spec.required("vocab"), Args.Spec.required("dim"), Args.Spec.sym("mode", "mean"),
        Args.Spec.sym("init", "normal"));
  }

  @Override
  public Node apply(LayerContext ctx, List<Node> in, Args a) {
    Node ids = in.get(0);
    int vocab = a.positiveInt("vocab");
    int dim = a.positiveInt("dim");
    String mode = a.get("mode") instanceof Val.SymV s ? s.name() : String.valueOf(a.get("mode"));
    if (!mode.equals("mean") && !mode.equals("sum")) {
      throw new LayerException("embedding_bag mode must be mean or sum, got " + mode, "mode=mean averages the bag");
    }
    if (ids.dtype() != DType.I32 || ids.shape().rank() != 2) {
      throw new LayerException("embedding_bag expects a bag of integer token ids int[L], got "
          + (ids.dtype() == DType.I32 ? "int" : "a float input ") + Layer.perExample(ids),
          "declare the input as `int[L]`: `input chars: int[16]`");
    }
    Graph.Builder b = ctx.graph();
    Node w = ctx.param("weight", Shape.of(vocab, dim), Inits.parse(a.get("init"), "embedding_bag weights"));
    Node rows = b.add(new Embedding(vocab), w, ids);                                   // [N, L, dim]
    // 1 where the id is a token, 0 where it is padding (id 0): [N, L, 1].
    Node padding = b.add(new Slice(2, 0, 1), b.add(new OneHot(vocab), ids));
    Node mask = b.add(new dev.nnc.ir.ops.Binary(BinaryFn.SUB), Ops.constant(b, 1), padding);
    Node sum = b.add(new Reduce(ReduceFn.SUM, List.of(1), false), Ops.mul(b, rows, mask));   // [N, dim]
    if (mode.equals("sum")) {
      return sum;
    }
    Node count = b.add(new Reduce(ReduceFn.SUM, List.of(1), false), mask);                  // [N, 1]
    Node atLeastOne = b.add(new dev.nnc.ir.ops.Binary(BinaryFn.MAX), count, Ops.constant(b, 1));
    return Ops.div(b, sum, atLeastOne);
  }
}
