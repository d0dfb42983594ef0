package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.UnaryFn;
import dev.nnc.ir.train.OptimizerSpec;
import java.util.List;

/**
 * The optimizer's update as graph ops, step for step as {@code torch.optim} computes it (the
 * tests compare ten steps). State tensors are parameters with role {@code state}, named
 * {@code <param>.<state>}; {@code step} counts updates and {@code lr} is set by the runtime from
 * the schedule, so changing the learning rate needs no recompilation.
 */
final class OptimizerUpdate {
  private final Graph.Builder b;
  private final OptimizerSpec opt;
  private final Node lr;
  private final Node t;
  private Node muProduct;
  private Node muProductNew;
  private Node mu;
  private Node muNext;

  /** {@code t} is the new step count (step + 1), as torch increments before it updates. */
  OptimizerUpdate(Graph.Builder b, OptimizerSpec opt, Node lr, Node t) {
    this.b = b;
    this.opt = opt;
    this.lr = lr;
    this.t = t;
  }

  static Node scalarState(Graph.Builder b, String name, Init init) {
    Node n = b.param(name);
    return n != null ? n : b.addTyped(new Param(name, Param.Role.STATE, init), List.of(), TensorType.f32(Shape.SCALAR));
  }

  private Node state(Node p, String suffix, double init) {
    String name = ((Param) p.op()).name() + "." + suffix;
    Init i = init == 0 ? Init.ZEROS : new Init(Init.Kind.CONSTANT, init);
    return b.addTyped(new Param(name, Param.Role.STATE, i), List.of(), TensorType.f32(p.shape()));
  }

  private Node c(double v) {
    return Ops.constant(b, v);
  }

  private Node mul(Node x, Node y) {
    return Ops.mul(b, x, y);
  }

  private Node add(Node x, Node y) {
    return Ops.add(b, x, y);
  }

  private Node sub(Node x, Node y) {
    return Ops.sub(b, x, y);
  }

  private Node div(Node x, Node y) {
    return Ops.div(b, x, y);
  }

  private Node sqrt(Node x) {
    return Ops.unary(b, UnaryFn.SQRT, x);
  }

  /** β^t computed as exp(t·ln β) on the step scalar. */
  private Node pow(double beta, Node exponent) {
    return Ops.unary(b, UnaryFn.EXP, mul(exponent, c(Math.log(beta))));
  }

  /** {@code β·s + (1−β)·x}: the exponential moving average. */
  private Node ema(Node s, double beta, Node x) {
    return add(mul(c(beta), s), mul(c(1 - beta), x));
  }

  /**
   * Adds the updates of {@code p} given its gradient {@code g} to the builder. Scalars (bias
   * corrections) come before the element-wise state updates, so that lowering can fuse all of a
   * weight's updates into one pass over it.
   */
  void update(Node p, Node g) {
    switch (opt.name()) {
      case "sgd" -> {
        double momentum = opt.get("momentum");
        Node step = g;
        if (momentum != 0) {
          Node buf = state(p, "momentum", 0);
          Node bufNew = add(mul(c(momentum), buf), g);
          b.update(buf, bufNew);
          step = opt.get("nesterov") != 0 ? add(g, mul(c(momentum), bufNew)) : bufNew;
        }
        b.update(p, sub(p, mul(lr, step)));
      }
      case "adagrad" -> {
        Node sum = state(p, "sum", opt.get("initial_accumulator"));
        Node sumNew = add(sum, Ops.unary(b, UnaryFn.SQUARE, g));
        b.update(sum, sumNew);
        Node std = add(sqrt(sumNew), c(opt.get("eps")));
        b.update(p, sub(p, mul(lr, div(g, std))));
      }
      case "adadelta" -> {
        double rho = opt.get("rho");
        Node eps = c(opt.get("eps"));
        Node sq = state(p, "square_avg", 0);
        Node acc = state(p, "acc_delta", 0);
        Node sqNew = ema(sq, rho, Ops.unary(b, UnaryFn.SQUARE, g));
        Node delta = mul(div(sqrt(add(acc, eps)), sqrt(add(sqNew, eps))), g);
        b.update(sq, sqNew);
        b.update(acc, ema(acc, rho, Ops.unary(b, UnaryFn.SQUARE, delta)));
        b.update(p, sub(p, mul(lr, delta)));
      }
      case "rmsprop" -> {
        Node sq = state(p, "square_avg", 0);
        Node sqNew = ema(sq, opt.get("alpha"), Ops.unary(b, UnaryFn.SQUARE, g));
        b.update(sq, sqNew);
        Node avg = add(sqrt(sqNew), c(opt.get("eps")));
        double momentum = opt.get("momentum");
        if (momentum != 0) {
          Node buf = state(p, "momentum", 0);
          Node bufNew = add(mul(c(momentum), buf), div(g, avg));
          b.update(buf, bufNew);
          b.update(p, sub(p, mul(lr, bufNew)));
        } else {
          b.update(p, sub(p, mul(lr, div(g, avg))));
        }
      }
      case "adam" -> {
        double b1 = opt.get("beta1");
        double b2 = opt.get("beta2");
        // torch: step_size = lr / (1 − β1ᵗ); denom = √v / √(1 − β2ᵗ) + ε
        Node stepSize = div(lr, sub(c(1), pow(b1, t)));
        Node bc2Sqrt = sqrt(sub(c(1), pow(b2, t)));
        Node m = state(p, "m", 0);
        Node v = state(p, "v", 0);
        Node mNew = ema(m, b1, g);
        Node vNew = ema(v, b2, Ops.unary(b, UnaryFn.SQUARE, g));
        b.update(m, mNew);
        b.update(v, vNew);
        Node denom = add(div(sqrt(vNew), bc2Sqrt), c(opt.get("eps")));
        b.update(p, sub(p, mul(stepSize, div(mNew, denom))));
      }
      case "adamax" -> {
        double b1 = opt.get("beta1");
        Node clr = div(lr, sub(c(1), pow(b1, t)));
        Node m = state(p, "m", 0);
        Node u = state(p, "u", 0);
        Node mNew = ema(m, b1, g);
        // u = max(β2·u, |g| + ε)
        Node uNew = b.add(new Binary(BinaryFn.MAX), mul(c(opt.get("beta2")), u),
            add(Ops.unary(b, UnaryFn.ABS, g), c(opt.get("eps"))));
        b.update(m, mNew);
        b.update(u, uNew);
        b.update(p, sub(p, mul(clr, div(mNew, uNew))));
      }
      case "nadam" -> {
        double b1 = opt.get("beta1");
        double b2 = opt.get("beta2");
        double psi = opt.get("momentum_decay");
        if (muProduct == null) {
          // μ_t = β1(1 − ½·0.96^(tψ)), μ_{t+1} likewise; the product of all μ is shared state.
          muProduct = scalarState(b, "nadam.mu_product", new Init(Init.Kind.CONSTANT, 1));
          mu = mul(c(b1), sub(c(1), mul(c(0.5), pow(0.96, mul(t, c(psi))))));
          muNext = mul(c(b1), sub(c(1), mul(c(0.5), pow(0.96, mul(add(t, c(1)), c(psi))))));
          muProductNew = mul(muProduct, mu);
          b.update(muProduct, muProductNew);
        }
        Node bc2 = sub(c(1), pow(b2, t));
        Node gradCoef = div(mul(lr, sub(c(1), mu)), sub(c(1), muProductNew));
        Node mCoef = div(mul(lr, muNext), sub(c(1), mul(muProductNew, muNext)));
        Node m = state(p, "m", 0);
        Node v = state(p, "v", 0);
        Node mNew = ema(m, b1, g);
        Node vNew = ema(v, b2, Ops.unary(b, UnaryFn.SQUARE, g));
        b.update(m, mNew);
        b.update(v, vNew);
        Node denom = add(sqrt(div(vNew, bc2)), c(opt.get("eps")));
        Node stepv = add(mul(gradCoef, div(g, denom)), mul(mCoef, div(mNew, denom)));
        b.update(p, sub(p, stepv));
      }
      default -> throw new IllegalArgumentException("unknown optimizer " + opt.name());
    }
  }
}
