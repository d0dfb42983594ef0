package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Broadcast;
import dev.nnc.ir.ops.Concat;
import dev.nnc.ir.ops.Slice;
import org.bytedeco.pytorch.global.torch;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.Patches;
import dev.nnc.ir.ops.PatchesGrad;
import dev.nnc.ir.ops.Permute;
import dev.nnc.ir.ops.Window;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.Embedding;
import dev.nnc.ir.ops.Recurrence;
import dev.nnc.ir.ops.EmbeddingGrad;
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

  /** An integer input of a case (token ids): its values are fixed, it takes no gradient. */
  record IntInput(String name, Shape shape, double[] values) {}

  /**
   * {@code build} gets the operands (parameters, one per shape, whose gradients are checked) and
   * then the integer inputs {@code ints}, in order; {@code torch} closes over the latter's values.
   */
  record Case(String name, List<Shape> shapes, Domain domain, BiFunction<Graph.Builder, List<Node>, Node> build,
      TorchOps.Fn torch, List<IntInput> ints) {
    Case(String name, List<Shape> shapes, Domain domain, BiFunction<Graph.Builder, List<Node>, Node> build,
        TorchOps.Fn torch) {
      this(name, shapes, domain, build, torch, List.of());
    }

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
        // A batch of products (Winograd's tile products): the flags transpose each one.
        int g = d(r);
        cases.add(new Case("matmul[batch, transA=" + ta + ",transB=" + tb + "]",
            List.of(ta ? Shape.of(g, k, m) : Shape.of(g, m, k), tb ? Shape.of(g, n, k) : Shape.of(g, k, n)), Domain.ANY,
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
    convolutionCases(r, cases);
    embeddingCases(r, cases);
    recurrenceCases(r, cases);
    return cases;
  }

  /**
   * Recurrences of each cell, forwards and reversed, with and without lengths (random, one of
   * them the full length, one shorter): small random batch, time and hidden sizes.
   */
  static void recurrenceCases(Random r, List<Case> cases) {
    for (Recurrence.Cell cell : Recurrence.Cell.values()) {
      for (boolean reverse : new boolean[] {false, true}) {
        for (boolean masked : new boolean[] {false, true}) {
          int b = 2 + r.nextInt(2);
          int t = 2 + r.nextInt(3);
          int h = 2 + r.nextInt(2);
          int g = cell.gates * h;
          Recurrence op = new Recurrence(cell, h, reverse, masked);
          List<Shape> shapes = new ArrayList<>(List.of(Shape.of(b, t, g), Shape.of(g, h), Shape.of(g), Shape.of(b, h)));
          if (cell == Recurrence.Cell.LSTM) {
            shapes.add(Shape.of(b, h));
          }
          double[] len = new double[b];
          for (int i = 0; i < b; i++) {
            len[i] = 1 + r.nextInt(t);
          }
          len[0] = t;
          len[b - 1] = Math.min(len[b - 1], t - 1);
          List<IntInput> ints = masked ? List.of(new IntInput("lengths", Shape.of(b), len)) : List.of();
          // The state slots (h, y, c): the gate slots after them carry no gradient by definition.
          int sw = cell.stateSlots * h;
          cases.add(new Case("recurrence[" + op.attributes() + "]", shapes, Domain.ANY,
              (bb, x) -> bb.add(new dev.nnc.ir.ops.Slice(2, 0, sw), bb.add(op, x)),
              x -> TorchOps.recurrence(op, x, masked ? len : null).narrow(2, 0, sw), ints));
        }
      }
    }
  }

  /**
   * Embedding lookups of random token ids (repeated ids included, so that the gradient adds
   * several tokens onto one row) from ids of rank 1 and 2, and the lookup's gradient op itself
   * (whose gradient is a lookup again).
   */
  static void embeddingCases(Random r, List<Case> cases) {
    int vocab = 2 + r.nextInt(6);
    int dim = d(r);
    for (Shape ids : List.of(Shape.of(3 + r.nextInt(5)), Shape.of(d(r), d(r)))) {
      double[] v = new double[Math.toIntExact(ids.size())];
      for (int i = 0; i < v.length; i++) {
        v[i] = r.nextInt(vocab);
      }
      v[v.length - 1] = v[0];                          // one row gathered twice at least
      List<IntInput> in = List.of(new IntInput("ids", ids, v));
      cases.add(new Case("embedding" + ids, List.of(Shape.of(vocab, dim)), Domain.ANY,
          (b, x) -> b.add(new Embedding(vocab), x.get(0), x.get(1)),
          t -> torch.embedding(t.get(0), TorchOps.longs(v).reshape(TorchOps.dims(ids))), in));
      Shape dy = Shape.of(Math.toIntExact(ids.size()), dim);
      cases.add(new Case("embedding_grad" + ids, List.of(dy), Domain.ANY,
          (b, x) -> b.add(new EmbeddingGrad(vocab), b.add(new Reshape(Embedding.rows(ids, dim)), x.get(0)), x.get(1)),
          t -> torch.embedding_dense_backward(t.get(0).reshape(TorchOps.dims(Embedding.rows(ids, dim))),
              TorchOps.longs(v).reshape(TorchOps.dims(ids)), vocab, -1, false), in));
    }
  }

  /** A random window for an {@code h×w} map: odd and even kernels, stride up to 3, padding on each side, dilation. */
  static Window window(Random r, int h, int w, boolean dilate) {
    while (true) {
      int kh = 1 + r.nextInt(3);
      int kw = 1 + r.nextInt(3);
      Window win = new Window(kh, kw, 1 + r.nextInt(3), 1 + r.nextInt(3), r.nextInt(kh), r.nextInt(kw),
          r.nextInt(kh), r.nextInt(kw), dilate ? 1 + r.nextInt(2) : 1, dilate ? 1 + r.nextInt(2) : 1);
      if (win.outH(h) >= 1 && win.outW(w) >= 1) {
        return win;
      }
    }
  }

  /** Convolution, pooling and the ops they lower to, on odd sizes with stride, padding and dilation. */
  private static void convolutionCases(Random r, List<Case> cases) {
    for (int i = 0; i < 3; i++) {
      int n = 1 + r.nextInt(2);
      int c = 1 + r.nextInt(3);
      int o = 1 + r.nextInt(3);
      int h = 3 + r.nextInt(4);
      int w = 3 + r.nextInt(4);
      Window win = window(r, h, w, true);
      cases.add(new Case("conv2d[" + win.text() + "]",
          List.of(Shape.of(n, c, h, w), Shape.of(o, c, win.kh(), win.kw())), Domain.ANY,
          (b, in) -> b.add(new Conv2d(win, 1), in.get(0), in.get(1)),
          t -> TorchOps.conv2d(t.get(0), t.get(1), win, 1)));
      // Grouped: two groups (AlexNet), and depthwise (a group per channel).
      for (int groups : new int[] {2, 2 * c}) {
        int gc = 2 * c;
        int go = groups == 2 ? 2 * o : gc;
        cases.add(new Case("conv2d[" + win.text() + ", groups=" + groups + "]",
            List.of(Shape.of(n, gc, h, w), Shape.of(go, gc / groups, win.kh(), win.kw())), Domain.ANY,
            (b, in) -> b.add(new Conv2d(win, groups), in.get(0), in.get(1)),
            t -> TorchOps.conv2d(t.get(0), t.get(1), win, groups)));
      }
      // The input gradient, on this window and on Winograd's (3×3, stride 1, each padding up to 2).
      Window wino = new Window(3, 3, 1, 1, r.nextInt(3), r.nextInt(3), r.nextInt(3), r.nextInt(3), 1, 1);
      for (Window gw : List.of(win, wino)) {
        if (gw.outH(h) < 1 || gw.outW(w) < 1) {
          continue;
        }
        Shape dys = Shape.of(n, o, gw.outH(h), gw.outW(w));
        cases.add(new Case("conv2d_grad_input[" + gw.text() + "]", List.of(dys, Shape.of(o, c, gw.kh(), gw.kw())),
            Domain.ANY, (b, in) -> b.add(new dev.nnc.ir.ops.Conv2dGradInput(gw, h, w), in.get(0), in.get(1)),
            t -> TorchOps.conv2dGradInput(t.get(0), t.get(1), gw, h, w)));
        cases.add(new Case("conv2d_grad_weight[" + gw.text() + "]", List.of(Shape.of(n, c, h, w), dys),
            Domain.ANY, (b, in) -> b.add(new dev.nnc.ir.ops.Conv2dGradWeight(gw), in.get(0), in.get(1)),
            t -> TorchOps.conv2dGradWeight(t.get(0), t.get(1), gw)));
      }
      for (boolean last : new boolean[] {false, true}) {
        double fill = last ? 0 : -1.5;
        cases.add(new Case("patches[" + win.text() + ", channelsLast=" + last + "]", List.of(Shape.of(n, c, h, w)),
            Domain.ANY, (b, in) -> b.add(new Patches(win, last, fill), in.get(0)),
            t -> TorchOps.patches(t.get(0), win, last, fill)));
        Shape ps = new Patches(win, last, 0).shape(Shape.of(n, c, h, w));
        cases.add(new Case("patches_grad[" + win.text() + ", channelsLast=" + last + "]", List.of(ps), Domain.ANY,
            (b, in) -> b.add(new PatchesGrad(win, last, h, w), in.get(0)),
            t -> TorchOps.patchesGrad(t.get(0), win, last, h, w)));
      }
      // Pooling as the frontend builds it: a reduction over the windows, which it reads in place.
      Window pool = window(r, h, w, false);
      cases.add(new Case("maxpool[" + pool.text() + "]", List.of(Shape.of(n, c, h, w)), Domain.ANY,
          (b, in) -> b.add(new Reduce(ReduceFn.MAX, List.of(4, 5), false),
              b.add(new Patches(pool, false, Double.NEGATIVE_INFINITY), in.get(0))),
          t -> TorchOps.maxPool(t.get(0), pool)));
      cases.add(new Case("avgpool[" + pool.text() + "]", List.of(Shape.of(n, c, h, w)), Domain.ANY,
          (b, in) -> b.add(new Reduce(ReduceFn.MEAN, List.of(4, 5), false), b.add(new Patches(pool, false, 0), in.get(0))),
          t -> TorchOps.avgPool(t.get(0), pool)));
    }
    for (int axis = 0; axis < 3; axis++) {
      int ax = axis;
      Shape base = Shape.of(d(r), d(r), d(r));
      List<Shape> parts = new ArrayList<>();
      for (int i = 0; i < 2 + axis % 2; i++) {
        int[] dims = base.dims().clone();
        dims[ax] = 1 + r.nextInt(3);
        parts.add(new Shape(dims));
      }
      cases.add(new Case("concat[axis=" + ax + "]", parts, Domain.ANY, (b, in) -> b.add(new Concat(ax), in),
          t -> torch.cat(new org.bytedeco.pytorch.TensorVector(t.toArray(new org.bytedeco.pytorch.Tensor[0])), ax)));
      int start = r.nextInt(base.dim(ax));
      int size = 1 + r.nextInt(base.dim(ax) - start);
      cases.add(new Case("slice[axis=" + ax + ", start=" + start + ", size=" + size + "]", List.of(base), Domain.ANY,
          (b, in) -> b.add(new Slice(ax, start, size), in.get(0)), t -> t.get(0).narrow(ax, start, size)));
    }
    winogradCases(r, cases);
    Shape ps = Shape.of(d(r), d(r), d(r), d(r));
    cases.add(new Case("permute[0,3,1,2]", List.of(ps), Domain.ANY,
        (b, in) -> b.add(new Permute(List.of(0, 3, 1, 2)), in.get(0)), t -> t.get(0).permute(0, 3, 1, 2)));
  }

  /**
   * Both Winograd directions with every matrix, transposed or not, on random tile geometry:
   * strides below, at and above the window (overlapping, exact and gapped tiles), padding, and
   * tiles that reach past the image.
   */
  private static void winogradCases(Random r, List<Case> cases) {
    for (dev.nnc.ir.ops.Winograd.Matrix mat : dev.nnc.ir.ops.Winograd.Matrix.values()) {
      for (boolean toTiles : new boolean[] {true, false}) {
        boolean tr = r.nextBoolean();
        int n = 1 + r.nextInt(2);
        int c = 1 + r.nextInt(2);
        int h = 2 + r.nextInt(6);
        int w = 2 + r.nextInt(6);
        dev.nnc.ir.ops.Winograd wg = new dev.nnc.ir.ops.Winograd(toTiles, mat, tr, 1 + r.nextInt(4), r.nextInt(3),
            r.nextInt(3), 1 + r.nextInt(3), 1 + r.nextInt(3), h, w);
        Shape in = toTiles ? Shape.of(n, c, h, w) : Shape.of(wg.q() * wg.q(), c, n * wg.tiles());
        cases.add(new Case(wg.mnemonic() + "[" + wg.attributes() + "]", List.of(in), Domain.ANY,
            (b, ins) -> b.add(wg, ins.get(0)), t -> TorchOps.winograd(t.get(0), wg)));
      }
    }
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
