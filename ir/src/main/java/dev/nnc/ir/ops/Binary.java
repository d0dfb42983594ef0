package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * {@code z = fn(x, y)} element-wise with numpy broadcasting ({@code [64,10] + [10]}). Gradients of
 * a broadcast operand are summed back to its shape.
 */
public record Binary(BinaryFn fn) implements Op {
  @Override
  public boolean elementwise() {
    return true;
  }

  @Override
  public String mnemonic() {
    return fn.text();
  }

  @Override
  public int arity() {
    return 2;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape a = in.get(0).shape();
    Shape b = in.get(1).shape();
    Shape out = Shape.broadcast(a, b);
    if (out == null) {
      throw new ShapeException(fn.text() + " needs shapes that broadcast, got " + a + " and " + b);
    }
    return TensorType.f32(out);
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    Node x = self.input(0);
    Node y = self.input(1);
    Node gx;
    Node gy;
    switch (fn) {
      case ADD -> {
        gx = dy;
        gy = dy;
      }
      case SUB -> {
        gx = dy;
        gy = Ops.neg(b, dy);
      }
      case MUL -> {
        gx = Ops.mul(b, dy, y);
        gy = Ops.mul(b, dy, x);
      }
      case DIV -> {
        // d(x/y)/dx = 1/y ; d(x/y)/dy = -x/y² = -z/y
        gx = Ops.div(b, dy, y);
        gy = Ops.neg(b, Ops.div(b, Ops.mul(b, dy, self), y));
      }
      case MAX, MIN -> {
        // The winner takes the gradient; x wins ties for max (x ≥ y) and loses them for min.
        Node xWins = fn == BinaryFn.MAX
            ? b.add(new Binary(BinaryFn.GE), x, y)
            : Ops.sub(b, Ops.constant(b, 1), b.add(new Binary(BinaryFn.GE), x, y));
        gx = Ops.mul(b, dy, xWins);
        gy = Ops.mul(b, dy, Ops.sub(b, Ops.constant(b, 1), xWins));
      }
      case GE, EQ -> {
        return Ops.grads(null, null);
      }
      default -> throw new AssertionError(fn);
    }
    return Ops.grads(Ops.sumTo(b, gx, x.shape()), Ops.sumTo(b, gy, y.shape()));
  }
}
