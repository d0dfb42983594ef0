package dev.nnc.frontend;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.UnaryFn;
import java.util.List;

/** Normalisation layers ({@code batchnorm}, {@code layernorm}) and learnt activations ({@code prelu}, {@code maxout}). */
final class Normalization {
  private Normalization() {}

  static List<Layer> all() {
    return List.of(new BatchNorm(), new LayerNorm(), new PRelu(), new Maxout());
  }

  /**
   * {@code layernorm(over=all, eps=1e-5, affine=true)}: each example normalised by its own mean
   * and biased variance (Ba et al., 2016), the same in training and inference — over all its
   * features ({@code over=all}: PyTorch's {@code LayerNorm(x.shape[1:])}) or over the last axis
   * only ({@code over=last}: {@code LayerNorm(x.shape[-1])}, Keras' default). Weights
   * {@code weight} (ones) and {@code bias} (zeros), shaped as the normalised axes.
   */
  static final class LayerNorm implements Layer {
    @Override
    public String name() {
      return "layernorm";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.sym("over", "all"), Args.Spec.of("eps", 1e-5), Args.Spec.sym("affine", "true"));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      Shape s = x.shape();
      if (s.rank() < 2) {
        throw new LayerException("layernorm needs per-example features, got a scalar");
      }
      boolean all;
      if (a.get("over") instanceof Val.SymV v && (v.name().equals("all") || v.name().equals("last"))) {
        all = v.name().equals("all");
      } else {
        throw new LayerException("layernorm over must be all or last, got " + Val.describe(a.get("over")),
            "over=all normalises all of an example's features, over=last only its last axis");
      }
      double eps = a.num("eps");
      if (!(eps > 0) || Double.isInfinite(eps)) {
        throw new LayerException("layernorm eps must be positive, got " + eps);
      }
      int first = all ? 1 : s.rank() - 1;
      int[] axes = new int[s.rank() - first];
      int[] norm = new int[axes.length];
      for (int i = 0; i < axes.length; i++) {
        axes[i] = first + i;
        norm[i] = s.dim(first + i);
      }
      Graph.Builder b = ctx.graph();
      Node centered = Ops.sub(b, x, Ops.reduceKeep(b, ReduceFn.MEAN, x, axes));
      Node var = Ops.reduceKeep(b, ReduceFn.MEAN, Ops.unary(b, UnaryFn.SQUARE, centered), axes);
      Node y = Ops.div(b, centered, Ops.unary(b, UnaryFn.SQRT, Ops.add(b, var, Ops.constant(b, eps))));
      if (a.bool("affine")) {
        Node gamma = ctx.param("weight", Shape.of(norm), Init.of(Init.Kind.ONES));
        Node beta = ctx.param("bias", Shape.of(norm), Init.ZEROS);
        y = Ops.add(b, Ops.mul(b, y, gamma), beta);
      }
      return y;
    }
  }

  /**
   * {@code prelu(init=0.25)}: {@code max(0, x) + a·min(0, x)} with a learnt slope {@code a} per
   * channel ({@code [C]} for images, {@code [features]} for vectors; PyTorch's {@code PReLU} with
   * {@code num_parameters=C}, weight named {@code weight}).
   */
  static final class PRelu implements Layer {
    @Override
    public String name() {
      return "prelu";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.of("init", 0.25));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      Shape s = x.shape();
      if (s.rank() != 2 && s.rank() != 4) {
        throw new LayerException("prelu supports [features] and [C, H, W] inputs, got " + Layer.perExample(x),
            "flatten it or reshape it to [C, H, W]");
      }
      int c = s.dim(1);
      Graph.Builder b = ctx.graph();
      Node slope = ctx.param("weight", Shape.of(c), new Init(Init.Kind.CONSTANT, a.num("init")));
      Node per = Ops.reshape(b, slope, s.rank() == 4 ? Shape.of(c, 1, 1) : Shape.of(c));
      Node zero = Ops.constant(b, 0);
      Node pos = b.add(new dev.nnc.ir.ops.Binary(dev.nnc.ir.ops.BinaryFn.MAX), x, zero);
      Node neg = b.add(new dev.nnc.ir.ops.Binary(dev.nnc.ir.ops.BinaryFn.MIN), x, zero);
      return Ops.add(b, pos, Ops.mul(b, neg, per));
    }
  }

  /**
   * {@code maxout(pieces)}: the maximum of each group of {@code pieces} consecutive features,
   * {@code [features] → [features / pieces]} (Goodfellow et al., 2013; put a {@code dense} of
   * {@code units·pieces} before it).
   */
  static final class Maxout implements Layer {
    @Override
    public String name() {
      return "maxout";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.required("pieces"));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      int k = a.positiveInt("pieces");
      if (x.shape().rank() != 2 || x.shape().dim(1) % k != 0) {
        throw new LayerException("maxout(" + k + ") needs [features] with features divisible by " + k + ", got "
            + Layer.perExample(x), "e.g. `-> dense(" + 64 * k + ") -> maxout(" + k + ")` for 64 units");
      }
      Graph.Builder b = ctx.graph();
      Node groups = Ops.reshape(b, x, Shape.of(x.shape().dim(0), x.shape().dim(1) / k, k));
      return b.add(new dev.nnc.ir.ops.Reduce(ReduceFn.MAX, List.of(2), false), groups);
    }
  }

  /**
   * {@code batchnorm(momentum=0.1, eps=1e-5)} on {@code [features]} (BatchNorm1d) or
   * {@code [C, H, W]} (BatchNorm2d) inputs, as PyTorch computes it: in training, each channel is
   * normalised with the batch's mean and biased variance, and the running averages move by
   * {@code momentum} toward the batch mean and the unbiased variance; in inference ({@code eval},
   * {@code predict}, compiled libraries) the running averages are used. Weights {@code weight}
   * (γ, ones) and {@code bias} (β, zeros); buffers {@code running_mean} (zeros) and
   * {@code running_var} (ones), all {@code [C]}, named as PyTorch's.
   */
  static final class BatchNorm implements Layer {
    @Override
    public String name() {
      return "batchnorm";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.of("momentum", 0.1), Args.Spec.of("eps", 1e-5));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      Shape s = x.shape();
      int[] axes;
      Shape bshape;
      if (s.rank() == 2) {
        axes = new int[] {0};
        bshape = Shape.of(s.dim(1));
      } else if (s.rank() == 4) {
        axes = new int[] {0, 2, 3};
        bshape = Shape.of(s.dim(1), 1, 1);
      } else {
        throw new LayerException("batchnorm supports [features] and [C, H, W] inputs, got " + Layer.perExample(x),
            "flatten it or reshape it to [C, H, W]");
      }
      double momentum = a.num("momentum");
      double eps = a.num("eps");
      if (!(momentum >= 0 && momentum <= 1)) {
        throw new LayerException("batchnorm momentum must be in [0, 1], got " + momentum);
      }
      if (!(eps > 0) || Double.isInfinite(eps)) {
        throw new LayerException("batchnorm eps must be positive, got " + eps);
      }
      int c = s.dim(1);
      Graph.Builder b = ctx.graph();
      Node gamma = ctx.param("weight", Shape.of(c), Init.of(Init.Kind.ONES));
      Node beta = ctx.param("bias", Shape.of(c), Init.ZEROS);
      Node runningMean = ctx.buffer("running_mean", Shape.of(c), Init.ZEROS);
      Node runningVar = ctx.buffer("running_var", Shape.of(c), Init.of(Init.Kind.ONES));
      Node centered;
      Node var;
      if (ctx.mode() == LayerContext.Mode.TRAIN) {
        Node mean = Ops.reduceKeep(b, ReduceFn.MEAN, x, axes);
        centered = Ops.sub(b, x, mean);
        var = Ops.reduceKeep(b, ReduceFn.MEAN, Ops.unary(b, UnaryFn.SQUARE, centered), axes);
        long n = s.size() / c;
        double unbias = n > 1 ? (double) n / (n - 1) : 1;
        b.update(runningMean, Ops.add(b, Ops.scale(b, runningMean, 1 - momentum),
            Ops.scale(b, Ops.reshape(b, mean, Shape.of(c)), momentum)));
        b.update(runningVar, Ops.add(b, Ops.scale(b, runningVar, 1 - momentum),
            Ops.scale(b, Ops.reshape(b, var, Shape.of(c)), momentum * unbias)));
      } else {
        centered = Ops.sub(b, x, Ops.reshape(b, runningMean, bshape));
        var = Ops.reshape(b, runningVar, bshape);
      }
      Node std = Ops.unary(b, UnaryFn.SQRT, Ops.add(b, var, Ops.constant(b, eps)));
      Node xhat = Ops.div(b, centered, std);
      return Ops.add(b, Ops.mul(b, xhat, Ops.reshape(b, gamma, bshape)), Ops.reshape(b, beta, bshape));
    }
  }
}
