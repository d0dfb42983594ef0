package dev.nnc.frontend;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.UnaryFn;
import java.util.List;

/** Normalisation layers: {@code batchnorm}. */
final class Normalization {
  private Normalization() {}

  static List<Layer> all() {
    return List.of(new BatchNorm());
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
