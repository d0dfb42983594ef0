package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Constant;
import dev.nnc.ir.ops.Unary;
import java.util.List;

/**
 * {@code fold-constants}: evaluates ops whose operands are all constants and applies the
 * algebraic identities that hold without changing shapes:
 *
 * <pre>
 *   %2 = mul(%0, const 1)  →  %0         (x·1 = x, when the result has x's shape)
 *   %2 = add(%0, const 0)  →  %0         (x+0 = x)
 *   %2 = sub(%0, const 0)  →  %0
 *   %2 = div(%0, const 1)  →  %0
 *   %3 = mul(const 2, const 3) → const 6
 *   %2 = neg(neg(%0))      →  %0
 *   %2 = reshape[shape=[1]](const 1) → broadcast[shape=[1]](const 1)   (a constant has no buffer to view)
 * </pre>
 */
public final class FoldConstants implements Pass {
  @Override
  public String name() {
    return "fold-constants";
  }

  @Override
  public Graph apply(Graph g) {
    return Rebuilder.rebuild(g, null, FoldConstants::rewrite);
  }

  private static Node rewrite(Graph.Builder b, Node n, List<Node> ins) {
    if (n.op() instanceof dev.nnc.ir.ops.Reshape r && ins.get(0).op() instanceof Constant) {
      return b.add(new dev.nnc.ir.ops.Broadcast(r.target()), ins.get(0));
    }
    if (n.op() instanceof Unary u && ins.get(0).op() instanceof Constant c) {
      return b.add(new Constant(u.fn().apply(c.value(), u.alpha())));
    }
    if (n.op() instanceof Unary u && u.fn() == dev.nnc.ir.ops.UnaryFn.NEG
        && ins.get(0).op() instanceof Unary inner && inner.fn() == dev.nnc.ir.ops.UnaryFn.NEG) {
      return ins.get(0).input(0);
    }
    if (n.op() instanceof Binary bin) {
      Node x = ins.get(0);
      Node y = ins.get(1);
      if (x.op() instanceof Constant cx && y.op() instanceof Constant cy) {
        return b.add(new Constant(bin.fn().apply(cx.value(), cy.value())));
      }
      if (y.op() instanceof Constant cy && x.shape().equals(n.shape()) && identityRight(bin.fn(), cy.value())) {
        return x;
      }
      if (x.op() instanceof Constant cx && y.shape().equals(n.shape()) && identityLeft(bin.fn(), cx.value())) {
        return y;
      }
    }
    return null;
  }

  private static boolean identityRight(BinaryFn fn, double v) {
    return switch (fn) {
      case ADD, SUB -> v == 0;
      case MUL, DIV -> v == 1;
      default -> false;
    };
  }

  private static boolean identityLeft(BinaryFn fn, double v) {
    return switch (fn) {
      case ADD -> v == 0;
      case MUL -> v == 1;
      default -> false;
    };
  }
}
