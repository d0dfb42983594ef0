package dev.nnc.frontend;

import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.OneHot;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.UnaryFn;
import java.util.ArrayList;
import java.util.List;

/**
 * Losses, each giving one value per example ({@code [N]}); the training graph averages them over
 * the batch, which matches PyTorch's {@code reduction='mean'}. Keeping the per-example vector lets
 * evaluation ignore the padding of a last, partial batch.
 */
final class Losses {
  private Losses() {}

  static List<Layer> all() {
    return List.of(new Loss("cross_entropy"), new Loss("bce"), new Loss("bce_logits"), new Loss("mse"),
        new Loss("mae"));
  }

  static final class Loss implements Layer {
    private final String name;

    Loss(String name) {
      this.name = name;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public int operands() {
      return 2;
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of();
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Graph.Builder b = ctx.graph();
      Node x = in.get(0);
      Node t = in.get(1);
      if (name.equals("cross_entropy")) {
        return crossEntropy(b, x, t);
      }
      if (t.dtype() == DType.I32) {
        throw new LayerException(name + " needs float targets of the prediction's shape, got integer labels",
            "use cross_entropy for class labels, or csv(..., target=[...]) for float targets");
      }
      if (!x.shape().equals(t.shape())) {
        throw new LayerException(name + " needs prediction and target of the same shape, got "
            + Layer.perExample(x) + " and " + Layer.perExample(t));
      }
      Node elem = switch (name) {
        case "mse" -> Ops.unary(b, UnaryFn.SQUARE, Ops.sub(b, x, t));
        case "mae" -> Ops.unary(b, UnaryFn.ABS, Ops.sub(b, x, t));
        // −[t·log p + (1−t)·log(1−p)], each log clamped at −100 as PyTorch's BCELoss does.
        case "bce" -> {
          Node one = Ops.constant(b, 1);
          Node floor = Ops.constant(b, -100);
          Node logP = b.add(new Binary(BinaryFn.MAX), Ops.unary(b, UnaryFn.LOG, x), floor);
          Node log1mP = b.add(new Binary(BinaryFn.MAX), Ops.unary(b, UnaryFn.LOG, Ops.sub(b, one, x)), floor);
          yield Ops.neg(b, Ops.add(b, Ops.mul(b, t, logP), Ops.mul(b, Ops.sub(b, one, t), log1mP)));
        }
        // log(1 + eˣ) − x·t, with softplus computed stably.
        case "bce_logits" -> Ops.sub(b, Ops.unary(b, UnaryFn.SOFTPLUS, x), Ops.mul(b, x, t));
        default -> throw new AssertionError(name);
      };
      return perExampleMean(b, elem);
    }

    private Node crossEntropy(Graph.Builder b, Node logits, Node t) {
      if (logits.shape().rank() == 4) {
        return perPixelCrossEntropy(b, logits, t);
      }
      if (logits.shape().rank() == 3) {
        return perStepCrossEntropy(b, logits, t);
      }
      if (logits.shape().rank() != 2) {
        throw new LayerException("cross_entropy expects [classes] logits (or [classes, H, W] with a class per "
            + "pixel), got " + Layer.perExample(logits));
      }
      int classes = logits.shape().dim(1);
      Node target;
      if (t.dtype() == DType.I32) {
        if (t.shape().rank() != 1) {
          throw new LayerException("cross_entropy expects one integer label per example, got "
              + Layer.perExample(t));
        }
        target = b.add(new OneHot(classes), t);
      } else {
        if (!t.shape().equals(logits.shape())) {
          throw new LayerException("cross_entropy with one-hot targets needs targets shaped like the logits, got "
              + Layer.perExample(t) + " for logits " + Layer.perExample(logits));
        }
        target = t;
      }
      // −Σ_c t_c · log_softmax(x)_c per example.
      Node logp = b.add(new LogSoftmax(), logits);
      Node prod = Ops.mul(b, target, logp);
      return Ops.neg(b, b.add(new Reduce(ReduceFn.SUM, List.of(1), false), prod));
    }
  }

  /**
   * Segmentation: logits {@code [C, H, W]} and a class per pixel {@code i32[H, W]}; the loss of an
   * example is the mean over its pixels of each pixel's cross-entropy (PyTorch's
   * {@code CrossEntropyLoss} on {@code [N, C, H, W]}, whose mean over the batch is the same number).
   */
  static Node perPixelCrossEntropy(Graph.Builder b, Node logits, Node t) {
    Shape s = logits.shape();
    if (t.dtype() != DType.I32 || t.shape().rank() != 3 || t.shape().dim(1) != s.dim(2)
        || t.shape().dim(2) != s.dim(3)) {
      throw new LayerException("cross_entropy with [C, H, W] logits needs a class per pixel, integer labels "
          + Shape.of(s.dim(2), s.dim(3)) + ", got " + Layer.perExample(t) + (t.dtype() == DType.I32 ? "" : " floats"),
          "e.g. data = shapes(size=" + s.dim(2) + ") gives label i32[" + s.dim(2) + "," + s.dim(3) + "]");
    }
    int classes = s.dim(1);
    // Channels last, so that the class axis is the one log_softmax and one_hot work on.
    Node last = b.add(new dev.nnc.ir.ops.Permute(List.of(0, 2, 3, 1)), logits);
    Node logp = b.add(new LogSoftmax(), last);
    Node picked = b.add(new Reduce(ReduceFn.SUM, List.of(3), false), Ops.mul(b, b.add(new OneHot(classes), t), logp));
    return Ops.neg(b, b.add(new Reduce(ReduceFn.MEAN, List.of(1, 2), false), picked));
  }

  /**
   * A sequence: logits {@code [T, C]} (a class per step, the classes last: a dense layer on every
   * step) and labels {@code i32[T]}; the loss of an example is the mean over its steps (PyTorch's
   * {@code CrossEntropyLoss} on the logits reshaped to {@code [N·T, C]}, whose mean is the same).
   */
  static Node perStepCrossEntropy(Graph.Builder b, Node logits, Node t) {
    Shape s = logits.shape();
    if (t.dtype() != DType.I32 || t.shape().rank() != 2 || t.shape().dim(1) != s.dim(1)) {
      throw new LayerException("cross_entropy with [steps, classes] logits needs a class per step, integer labels ["
          + s.dim(1) + "], got " + Layer.perExample(t) + (t.dtype() == DType.I32 ? "" : " floats"),
          "e.g. data = text(\"file.txt\", length=" + s.dim(1) + ") gives label i32[" + s.dim(1) + "]");
    }
    Node logp = b.add(new LogSoftmax(), logits);
    Node picked = b.add(new Reduce(ReduceFn.SUM, List.of(2), false), Ops.mul(b, b.add(new OneHot(s.dim(2)), t), logp));
    return Ops.neg(b, b.add(new Reduce(ReduceFn.MEAN, List.of(1), false), picked));
  }

  /** Mean over all but the batch axis: {@code [N, ...] → [N]}. */
  static Node perExampleMean(Graph.Builder b, Node x) {
    Shape s = x.shape();
    if (s.rank() == 1) {
      return x;
    }
    List<Integer> axes = new ArrayList<>();
    for (int i = 1; i < s.rank(); i++) {
      axes.add(i);
    }
    return b.add(new Reduce(ReduceFn.MEAN, axes, false), x);
  }
}
