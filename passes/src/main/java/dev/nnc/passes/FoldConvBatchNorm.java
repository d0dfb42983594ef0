package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Constant;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import java.util.List;
import java.util.Map;

/**
 * {@code fold-conv-bn}: an inference-mode batchnorm right after a convolution is folded into it.
 * With {@code s = γ / √(running_var + eps)} per output channel,
 * {@code bn(conv(x, W) + b) = conv(x, W·s) + (b − running_mean)·s + β}: the convolution's weight
 * and bias are rewritten and the normalisation leaves the activation path (one pass over the
 * activations fewer, and nothing between the convolution and what follows it).
 *
 * <pre>
 *   %5 = add(conv2d(%x, %w), reshape(%b))      %s = div(reshape(%γ), sqrt(add(reshape(%var), eps)))
 *   %11 = sub(%5, reshape(%mean))          →    %y = add(conv2d(%x, mul(%w, reshape(%s))),
 *   … div(…, sqrt(add(reshape(%var), eps)))              add(mul(sub(reshape(%b), reshape(%mean)), %s), reshape(%β)))
 *   %20 = add(mul(…, reshape(%γ)), reshape(%β))
 * </pre>
 *
 * The folded weight is computed from the parameters inside the program (a pass over the weight,
 * not over the activations), so the folded program reads the same weight file. Training graphs
 * normalise with batch statistics and never match; neither does a convolution whose output is
 * also read elsewhere.
 */
public final class FoldConvBatchNorm implements Pass {
  @Override
  public String name() {
    return "fold-conv-bn";
  }

  /** The pieces of {@code bn(conv(x, W) [+ b])}; {@code bias} null when the convolution has none. */
  record Match(Node conv, Node bias, Node mean, Node var, double eps, Node gamma, Node beta) {}

  @Override
  public Graph apply(Graph g) {
    Map<Node, List<Node>> users = g.users();
    // The replaced chain is left without users; dce removes it, so the pass's output reads clearly.
    return new DeadCodeElimination().apply(Rebuilder.rebuildDeep(g, null, (b, n, ins, mapped) -> {
      Match m = match(n, users);
      if (m == null) {
        return null;
      }
      Node conv = m.conv();
      Node x = mapped.get(conv.input(0));
      Node w = mapped.get(conv.input(1));
      int o = w.shape().dim(0);
      Shape per = Shape.of(o, 1, 1);
      Node s = Ops.div(b, Ops.reshape(b, mapped.get(m.gamma()), per),
          Ops.unary(b, UnaryFn.SQRT, Ops.add(b, Ops.reshape(b, mapped.get(m.var()), per), Ops.constant(b, m.eps()))));
      Node w2 = Ops.mul(b, w, Ops.reshape(b, s, Shape.of(o, 1, 1, 1)));
      Node mean = Ops.reshape(b, mapped.get(m.mean()), per);
      Node centred = m.bias() == null ? Ops.neg(b, mean)
          : Ops.sub(b, Ops.reshape(b, mapped.get(m.bias()), per), mean);
      Node shift = Ops.add(b, Ops.mul(b, centred, s), Ops.reshape(b, mapped.get(m.beta()), per));
      return Ops.add(b, b.add(conv.op(), x, w2), shift);
    }));
  }

  /** {@code n} as the last node of an inference batchnorm after a convolution, or null. */
  static Match match(Node n, Map<Node, List<Node>> users) {
    Node mul = binary(n, BinaryFn.ADD, 0);
    Node beta = channelParam(n, 1);
    Node div = binary(mul, BinaryFn.MUL, 0);
    Node gamma = channelParam(mul, 1);
    Node sub = binary(div, BinaryFn.DIV, 0);
    if (sub == null) {
      return null;
    }
    Node sqrt = div.input(1);
    Node pre = binary(sub, BinaryFn.SUB, 0);
    Node mean = channelParam(sub, 1);
    if (beta == null || gamma == null || mean == null || pre == null
        || !(sqrt.op() instanceof Unary u && u.fn() == UnaryFn.SQRT)) {
      return null;
    }
    Node plusEps = sqrt.input(0);
    Node var = binary(plusEps, BinaryFn.ADD, 0) == null ? null : channelParam(plusEps, 0);
    if (var == null || !(plusEps.input(1).op() instanceof Constant eps)) {
      return null;
    }
    Node conv = pre;
    Node bias = null;
    if (pre.op() instanceof Binary bin && bin.fn() == BinaryFn.ADD && pre.input(0).op() instanceof Conv2d) {
      conv = pre.input(0);
      bias = channelParam(pre, 1);
      if (bias == null || !single(users, conv)) {
        return null;
      }
    }
    if (!(conv.op() instanceof Conv2d) || !role(mean, Param.Role.BUFFER) || !role(var, Param.Role.BUFFER)
        || !single(users, pre) || !single(users, sub) || !single(users, div) || !single(users, mul)) {
      return null;
    }
    int o = conv.shape().dim(1);
    for (Node p : new Node[] {beta, gamma, mean, var, bias}) {
      if (p != null && !p.shape().equals(Shape.of(o))) {
        return null;
      }
    }
    return new Match(conv, bias, mean, var, eps.value(), gamma, beta);
  }

  /** {@code n}'s operand {@code i} when {@code n} is {@code fn(·, ·)}; else null. */
  private static Node binary(Node n, BinaryFn fn, int i) {
    return n != null && n.op() instanceof Binary b && b.fn() == fn ? n.input(i) : null;
  }

  /** The per-channel parameter {@code p} when {@code n}'s operand {@code i} is {@code reshape[[C,1,1]](p)}. */
  private static Node channelParam(Node n, int i) {
    if (n == null || n.inputs().size() <= i) {
      return null;
    }
    Node r = n.input(i);
    if (r.op() instanceof Reshape rs && rs.target().rank() == 3 && rs.target().dim(1) == 1 && rs.target().dim(2) == 1
        && r.input(0).op() instanceof Param) {
      return r.input(0);
    }
    return null;
  }

  private static boolean role(Node p, Param.Role role) {
    return ((Param) p.op()).role() == role;
  }

  private static boolean single(Map<Node, List<Node>> users, Node n) {
    return users.getOrDefault(n, List.of()).size() == 1;
  }
}
