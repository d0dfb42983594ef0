package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Broadcast;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.ir.ops.SumTo;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;

/**
 * One test case per op and attribute combination, on shapes drawn from a seeded random source:
 * how to build the op on its operands, the operands' shapes and value domains, and the libtorch
 * expression of the same computation (for the parity test).
 */
final class OpCases {
  /** Operand values: anywhere, positive (log, sqrt), or away from kinks (relu at 0). */
  enum Domain {
    ANY,
    POSITIVE,
    AWAY_FROM_ZERO
  }

  record Case(String name, List<Shape> shapes, Domain domain, BiFunction<Graph.Builder, List<Node>, Node> build,
      TorchOps.Fn torch) {
    @Override
    public String toString() {
      return name + shapes;
    }
  }

  private OpCases() {}

  static int d(Random r) {
    return 2 + r.nextInt(5);
  }

  static List<Case> all(long seed) {
    Random r = new Random(seed);
    List<Case> cases = new ArrayList<>();
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        int m = d(r);
        int k = d(r);
        int n = d(r);
        cases.add(new Case("matmul[transA=" + ta + ",transB=" + tb + "]",
            List.of(ta ? Shape.of(k, m) : Shape.of(m, k), tb ? Shape.of(n, k) : Shape.of(k, n)), Domain.ANY,
            (b, in) -> b.add(new MatMul(ta, tb), in.get(0), in.get(1)),
            t -> TorchOps.matmul(t.get(0), t.get(1), ta, tb)));
      }
    }
    for (UnaryFn fn : UnaryFn.values()) {
      if (fn.name().endsWith("_GRAD")) {
        continue;
      }
      Domain dom = switch (fn) {
        case LOG, SQRT -> Domain.POSITIVE;
        case ABS, RELU, LEAKY_RELU, ELU, RECIP, SIGN, STEP -> Domain.AWAY_FROM_ZERO;
        default -> Domain.ANY;
      };
      double alpha = fn.hasAlpha() ? 0.2 + r.nextDouble() : fn.defaultAlpha();
      Shape s = Shape.of(d(r), d(r));
      cases.add(new Case(fn.text(), List.of(s), dom, (b, in) -> b.add(new Unary(fn, alpha), in.get(0)),
          t -> TorchOps.unary(fn, alpha, t.get(0))));
    }
    for (BinaryFn fn : List.of(BinaryFn.ADD, BinaryFn.SUB, BinaryFn.MUL, BinaryFn.DIV, BinaryFn.MAX, BinaryFn.MIN)) {
      int a = d(r);
      int c = d(r);
      // Same shapes, a broadcast row vector, and a broadcast column.
      for (List<Shape> shapes : List.of(List.of(Shape.of(a, c), Shape.of(a, c)), List.of(Shape.of(a, c), Shape.of(c)),
          List.of(Shape.of(a, 1), Shape.of(a, c)))) {
        cases.add(new Case(fn.text(), shapes, fn == BinaryFn.DIV ? Domain.AWAY_FROM_ZERO : Domain.ANY,
            (b, in) -> b.add(new Binary(fn), in.get(0), in.get(1)), t -> TorchOps.binary(fn, t.get(0), t.get(1))));
      }
    }
    for (ReduceFn fn : ReduceFn.values()) {
      Shape s = Shape.of(d(r), d(r), d(r));
      for (List<Integer> axes : List.of(List.of(0), List.of(2), List.of(0, 2), List.of(0, 1, 2))) {
        for (boolean keep : new boolean[] {false, true}) {
          cases.add(new Case(fn.text() + axes + (keep ? "keep" : ""), List.of(s), Domain.ANY,
              (b, in) -> b.add(new Reduce(fn, axes, keep), in.get(0)), t -> TorchOps.reduce(fn, axes, keep, t.get(0))));
        }
      }
    }
    Shape bs = Shape.of(d(r), d(r));
    cases.add(new Case("broadcast", List.of(Shape.of(bs.dim(1))), Domain.ANY, (b, in) -> b.add(new Broadcast(bs), in.get(0)),
        t -> TorchOps.expand(t.get(0), bs)));
    Shape st = Shape.of(d(r), 1);
    Shape sf = Shape.of(d(r), st.dim(0), d(r));
    cases.add(new Case("sum_to", List.of(sf), Domain.ANY, (b, in) -> b.add(new SumTo(st), in.get(0)),
        t -> TorchOps.sumTo(t.get(0), st)));
    Shape rs = Shape.of(d(r), d(r), d(r));
    Shape rt = Shape.of(rs.dim(0), rs.dim(1) * rs.dim(2));
    cases.add(new Case("reshape", List.of(rs), Domain.ANY, (b, in) -> b.add(new Reshape(rt), in.get(0)),
        t -> TorchOps.reshape(t.get(0), rt)));
    Shape sm = Shape.of(d(r), d(r) + 1);
    cases.add(new Case("softmax", List.of(sm), Domain.ANY, (b, in) -> b.add(new Softmax(), in.get(0)),
        t -> TorchOps.softmax(t.get(0), false)));
    cases.add(new Case("log_softmax", List.of(sm), Domain.ANY, (b, in) -> b.add(new LogSoftmax(), in.get(0)),
        t -> TorchOps.softmax(t.get(0), true)));
    return cases;
  }

  static double[] sample(Random r, Shape s, Domain d) {
    double[] v = new double[Math.toIntExact(s.size())];
    for (int i = 0; i < v.length; i++) {
      double x = r.nextGaussian();
      v[i] = switch (d) {
        case ANY -> x;
        case POSITIVE -> 0.2 + Math.abs(x);
        case AWAY_FROM_ZERO -> Math.copySign(0.2 + Math.abs(x), x);
      };
    }
    return v;
  }
}
