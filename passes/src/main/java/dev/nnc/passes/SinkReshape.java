package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.Unary;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code sink-reshape}: element-wise ops after a reshaped matrix product are moved before the
 * reshape, onto the product's own shape, so that lowering makes them the GEMM's epilogue. A
 * convolution of one image lowered to {@code W · colsᵀ} is {@code reshape([O, OH·OW] →
 * [1, O, OH, OW])}; its bias and activation then run inside the GEMM:
 *
 * <pre>
 *   %5 = matmul(%w, %cols) : f32[32,144]                 %5 = matmul(%w, %cols) : f32[32,144]
 *   %6 = reshape(%5) : f32[1,32,12,12]          →        %7 = add(%5, reshape(%b) : f32[32,1])
 *   %8 = add(%6, reshape(%b) : f32[32,1,1])              %8 = relu(%7)
 *   %9 = relu(%8)                                        %9 = reshape(%8) : f32[1,32,12,12]
 * </pre>
 *
 * An operand of the moved op is reshaped along: legal when, within each group of output
 * dimensions that one product dimension became, it is either broadcast or complete (a bias per
 * channel, a residual map of the same shape); otherwise the op stays where it is. Only reshapes
 * with a single element-wise user move, so nothing is computed twice.
 */
public final class SinkReshape implements Pass {
  @Override
  public String name() {
    return "sink-reshape";
  }

  @Override
  public Graph apply(Graph g) {
    Map<Node, List<Node>> users = g.users();
    // New nodes that are a product, or element-wise ops already moved onto a product's shape.
    Set<Node> sunk = new HashSet<>();
    return new DeadCodeElimination().apply(Rebuilder.rebuildDeep(g, null, (b, n, ins, mapped) -> {
      if (n.op() instanceof MatMul) {
        Node r = b.add(n.op(), ins);
        sunk.add(r);
        return r;
      }
      if (!(n.op() instanceof Unary || n.op() instanceof Binary)) {
        return null;
      }
      int at = -1;
      for (int i = 0; i < n.inputs().size(); i++) {
        Node in = n.input(i);
        Node now = mapped.get(in);                       // a reshape here, or one this pass made
        if (now.op() instanceof Reshape && users.get(in).size() == 1 && sunk.contains(now.input(0))
            && in.shape().equals(n.shape())) {
          at = i;
          break;
        }
      }
      if (at < 0) {
        return null;
      }
      Node inner = mapped.get(n.input(at)).input(0);
      Shape target = inner.shape();
      List<Node> operands = new ArrayList<>();
      for (int i = 0; i < n.inputs().size(); i++) {
        if (i == at) {
          operands.add(inner);
          continue;
        }
        Shape fitted = fit(n.input(i).shape(), n.shape(), target);
        if (fitted == null) {
          return null;
        }
        Node o = ins.get(i);
        operands.add(fitted.equals(o.shape()) ? o : Ops.reshape(b, o, fitted));
      }
      Node moved = b.add(n.op(), operands);
      sunk.add(moved);
      return Ops.reshape(b, moved, n.shape());
    }));
  }

  /**
   * The shape, in {@code inner}'s dimensions, of an operand {@code s} that broadcasts against
   * {@code outer}, where {@code outer} is {@code inner} reshaped; null when some group of
   * {@code outer}'s dimensions that one {@code inner} dimension became is neither entirely
   * broadcast nor entirely present in the operand.
   */
  static Shape fit(Shape s, Shape outer, Shape inner) {
    int[] padded = new int[outer.rank()];
    int lead = outer.rank() - s.rank();
    if (lead < 0) {
      return null;
    }
    for (int d = 0; d < outer.rank(); d++) {
      padded[d] = d < lead ? 1 : s.dim(d - lead);
    }
    int[] out = new int[inner.rank()];
    int d = 0;
    for (int k = 0; k < inner.rank(); k++) {
      long product = 1;
      boolean allOne = true;
      boolean allFull = true;
      while (d < outer.rank() && (product < inner.dim(k) || product == inner.dim(k) && outer.dim(d) == 1
          && k == inner.rank() - 1)) {
        product *= outer.dim(d);
        if (outer.dim(d) != 1) {
          allOne &= padded[d] == 1;
          allFull &= padded[d] == outer.dim(d);
        }
        d++;
      }
      if (product != inner.dim(k)) {
        return null;                          // not a regrouping of whole dimensions
      }
      if (allFull) {
        out[k] = inner.dim(k);
      } else if (allOne) {
        out[k] = 1;
      } else {
        return null;
      }
    }
    while (d < outer.rank()) {
      if (outer.dim(d++) != 1) {
        return null;
      }
    }
    return Shape.of(out);
  }
}
