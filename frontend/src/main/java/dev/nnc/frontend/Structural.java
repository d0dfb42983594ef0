package dev.nnc.frontend;

import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.DropoutMask;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Reshape;
import java.util.List;

/** Layers without parameters that move or combine tensors: flatten, reshape, dropout, add, multiply. */
final class Structural {
  private Structural() {}

  static List<Layer> all() {
    return List.of(new Flatten(), new ReshapeLayer(), new Dropout(), new Combine("add", BinaryFn.ADD),
        new Combine("multiply", BinaryFn.MUL), new Combine("subtract", BinaryFn.SUB), new ConcatLayer(), new Dot());
  }

  /**
   * {@code concat(a, b, …, axis=0)}: joins tensors along a per-example axis (0: channels of an
   * image, features of a vector), as {@code torch.cat(dim=axis+1)}.
   */
  static final class ConcatLayer implements Layer {
    @Override
    public String name() {
      return "concat";
    }

    @Override
    public int operands() {
      return VARIADIC;
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.of("axis", 0));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      double ax = a.num("axis");
      int rank = in.get(0).shape().rank() - 1;
      if (ax != Math.rint(ax) || ax < 0 || ax >= rank) {
        throw new LayerException("concat axis must be a per-example axis from 0 to " + (rank - 1) + ", got " + ax,
            "axis 0 joins channels (images) or features (vectors)");
      }
      try {
        return ctx.graph().add(new dev.nnc.ir.ops.Concat((int) ax + 1), in);
      } catch (ShapeException e) {
        StringBuilder shapes = new StringBuilder();
        for (Node n : in) {
          shapes.append(shapes.isEmpty() ? "" : " and ").append(Layer.perExample(n));
        }
        throw new LayerException("concat needs tensors that match except along axis " + (int) ax + ", got " + shapes,
            "pool or pad the larger one, or concatenate along the axis where they differ");
      }
    }
  }

  /** {@code [N, d1, d2, ...] → [N, d1·d2·…]}. */
  static final class Flatten implements Layer {
    @Override
    public String name() {
      return "flatten";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of();
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      return ctx.graph().add(new Reshape(Shape.of(x.shape().dim(0), (int) (x.shape().size() / x.shape().dim(0)))), x);
    }
  }

  /** {@code reshape([4, 7, 7])}: per-example target shape; one dimension may be -1. */
  static final class ReshapeLayer implements Layer {
    @Override
    public String name() {
      return "reshape";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.required("shape"));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      List<Integer> dims = a.ints("shape");
      long per = x.shape().size() / x.shape().dim(0);
      int[] out = new int[dims.size() + 1];
      out[0] = x.shape().dim(0);
      int unknown = -1;
      long known = 1;
      for (int i = 0; i < dims.size(); i++) {
        int d = dims.get(i);
        if (d == -1 && unknown < 0) {
          unknown = i + 1;
        } else if (d <= 0) {
          throw new LayerException("reshape dimensions must be positive (one may be -1), got " + dims);
        } else {
          known *= d;
        }
        out[i + 1] = d;
      }
      if (unknown > 0) {
        if (per % known != 0) {
          throw new LayerException("cannot reshape " + Layer.perExample(x) + " to " + dims);
        }
        out[unknown] = (int) (per / known);
      }
      Shape target = new Shape(out);
      if (target.size() != x.shape().size()) {
        throw new LayerException("cannot reshape " + Layer.perExample(x) + " (" + per + " elements) to " + dims
            + " (" + target.size() / out[0] + " elements)");
      }
      return ctx.graph().add(new Reshape(target), x);
    }
  }

  /** Inverted dropout: identity at inference; at training, a fresh mask per step. */
  static final class Dropout implements Layer {
    @Override
    public String name() {
      return "dropout";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.of("rate", 0.5));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      double rate = a.num("rate");
      if (rate < 0 || rate >= 1) {
        throw new LayerException("dropout rate must be in [0, 1), got " + rate);
      }
      Node x = in.get(0);
      int salt = ctx.nextSalt();
      if (ctx.mode() == LayerContext.Mode.INFER || rate == 0) {
        return x;
      }
      Node mask = ctx.graph().add(new DropoutMask(rate, x.shape(), salt), ctx.step());
      return Ops.mul(ctx.graph(), x, mask);
    }
  }

  /** {@code add(a, b)}, {@code multiply(a, b)}: element-wise with broadcasting. */
  static final class Combine implements Layer {
    private final String name;
    private final BinaryFn fn;

    Combine(String name, BinaryFn fn) {
      this.name = name;
      this.fn = fn;
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
      try {
        return ctx.graph().add(new Binary(fn), in.get(0), in.get(1));
      } catch (ShapeException e) {
        throw new LayerException(name + " needs tensors of the same shape, got " + Layer.perExample(in.get(0))
            + " and " + Layer.perExample(in.get(1)));
      }
    }
  }

  /**
   * {@code dot(a, b)}: the dot products of the two tensors' last axes, broadcasting the others
   * ({@code [1, D]} with {@code [K, D]} gives {@code [K]}: a word's vector against K others, as
   * Word2Vec scores them).
   */
  static final class Dot implements Layer {
    @Override
    public String name() {
      return "dot";
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
      Node x = in.get(0);
      Node y = in.get(1);
      if (x.shape().rank() < 2 || y.shape().rank() < 2 || x.shape().dim(-1) != y.shape().dim(-1)) {
        throw new LayerException("dot needs two tensors with the same last axis, got " + Layer.perExample(x)
            + " and " + Layer.perExample(y));
      }
      Node prod;
      try {
        prod = ctx.graph().add(new Binary(BinaryFn.MUL), x, y);
      } catch (ShapeException e) {
        throw new LayerException("dot: " + Layer.perExample(x) + " and " + Layer.perExample(y)
            + " do not broadcast to one shape");
      }
      return ctx.graph().add(new dev.nnc.ir.ops.Reduce(dev.nnc.ir.ops.ReduceFn.SUM, List.of(prod.shape().rank() - 1),
          false), prod);
    }
  }
}
