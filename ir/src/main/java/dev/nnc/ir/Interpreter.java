package dev.nnc.ir;

import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.Broadcast;
import dev.nnc.ir.ops.Concat;
import dev.nnc.ir.ops.Constant;
import dev.nnc.ir.ops.Slice;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.Patches;
import dev.nnc.ir.ops.PatchesGrad;
import dev.nnc.ir.ops.Permute;
import dev.nnc.ir.ops.Window;
import dev.nnc.ir.ops.DropoutMask;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.OneHot;
import dev.nnc.ir.ops.Op;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.ir.ops.SumTo;
import dev.nnc.ir.ops.Unary;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The reference interpreter: evaluates any graph in double precision, slowly and plainly. It is
 * the oracle for gradient checks, for "the optimised graph computes the same" checks after each
 * pass, and for the generated code of every back end.
 */
public final class Interpreter {
  /** Outputs by name, and the new values of updated parameters by name. */
  public record Result(Map<String, Tensor> outputs, Map<String, Tensor> updates, Map<Node, Tensor> values) {}

  private Interpreter() {}

  /**
   * Runs {@code g}. {@code inputs} are by input name, {@code params} by parameter name; a
   * parameter called {@code step} (the step counter) seeds dropout masks.
   */
  public static Result run(Graph g, Map<String, Tensor> inputs, Map<String, Tensor> params) {
    Map<Node, Tensor> v = new HashMap<>();
    for (Node n : g.nodes()) {
      v.put(n, eval(n, v, inputs, params));
    }
    Map<String, Tensor> outs = new LinkedHashMap<>();
    g.outputs().forEach((k, n) -> outs.put(k, v.get(n)));
    Map<String, Tensor> ups = new LinkedHashMap<>();
    g.updates().forEach((p, n) -> ups.put(((Param) p.op()).name(), v.get(n)));
    return new Result(outs, ups, v);
  }

  private static Tensor eval(Node n, Map<Node, Tensor> v, Map<String, Tensor> inputs, Map<String, Tensor> params) {
    Op op = n.op();
    Shape s = n.shape();
    return switch (op) {
      case Input in -> check(n, inputs.get(in.name()), "input " + in.name());
      case Param p -> check(n, params.get(p.name()), "parameter " + p.name());
      case Constant c -> Tensor.scalar(c.value());
      case MatMul mm -> matmul(mm, v.get(n.input(0)), v.get(n.input(1)), s);
      case dev.nnc.ir.ops.Winograd wg -> winograd(wg, v.get(n.input(0)), s);
      case Unary u -> {
        Tensor x = v.get(n.input(0));
        double[] out = new double[x.data().length];
        for (int i = 0; i < out.length; i++) {
          out[i] = u.fn().apply(x.data()[i], u.alpha());
        }
        yield new Tensor(s, out);
      }
      case Binary bin -> {
        Tensor x = v.get(n.input(0));
        Tensor y = v.get(n.input(1));
        int[] ix = Tensor.broadcastIndex(x.shape(), s);
        int[] iy = Tensor.broadcastIndex(y.shape(), s);
        double[] out = new double[ix.length];
        for (int i = 0; i < out.length; i++) {
          out[i] = bin.fn().apply(x.data()[ix[i]], y.data()[iy[i]]);
        }
        yield new Tensor(s, out);
      }
      case Reduce r -> reduce(r, v.get(n.input(0)), s);
      case Broadcast bc -> {
        Tensor x = v.get(n.input(0));
        int[] ix = Tensor.broadcastIndex(x.shape(), s);
        double[] out = new double[ix.length];
        for (int i = 0; i < out.length; i++) {
          out[i] = x.data()[ix[i]];
        }
        yield new Tensor(s, out);
      }
      case SumTo st -> {
        Tensor x = v.get(n.input(0));
        int[] map = Tensor.broadcastIndex(s, x.shape());
        double[] out = new double[Math.toIntExact(s.size())];
        for (int i = 0; i < map.length; i++) {
          out[map[i]] += x.data()[i];
        }
        yield new Tensor(s, out);
      }
      case Reshape rs -> new Tensor(s, v.get(n.input(0)).data());
      case Softmax sm -> softmax(v.get(n.input(0)), false);
      case LogSoftmax ls -> softmax(v.get(n.input(0)), true);
      case OneHot oh -> {
        Tensor labels = v.get(n.input(0));
        double[] out = new double[Math.toIntExact(s.size())];
        for (int i = 0; i < labels.data().length; i++) {
          int c = (int) labels.data()[i];
          if (c >= 0 && c < oh.classes()) {
            out[i * oh.classes() + c] = 1;
          }
        }
        yield new Tensor(s, out);
      }
      case dev.nnc.ir.ops.Embedding e -> {
        Tensor table = v.get(n.input(0));
        Tensor ids = v.get(n.input(1));
        int dim = table.shape().dim(1);
        double[] out = new double[Math.toIntExact(s.size())];
        for (int t = 0; t < ids.data().length; t++) {
          System.arraycopy(table.data(), tokenRow(ids.data()[t], e.vocab()) * dim, out, t * dim, dim);
        }
        yield new Tensor(s, out);
      }
      case dev.nnc.ir.ops.Recurrence r -> {
        boolean lstm = r.cell() == dev.nnc.ir.ops.Recurrence.Cell.LSTM;
        yield Recurrences.forward(r, v.get(n.input(0)), v.get(n.input(1)), v.get(n.input(2)), v.get(n.input(3)),
            lstm ? v.get(n.input(4)) : null, r.masked() ? v.get(n.input(r.lengthsOperand())) : null, s);
      }
      case dev.nnc.ir.ops.RecurrenceGrad r -> Recurrences.backward(r, v.get(n.input(0)), v.get(n.input(1)),
          v.get(n.input(2)), r.masked() ? v.get(n.input(3)) : null, s);
      case dev.nnc.ir.ops.EmbeddingGrad e -> {
        Tensor dy = v.get(n.input(0));
        Tensor ids = v.get(n.input(1));
        int dim = s.dim(1);
        double[] out = new double[Math.toIntExact(s.size())];
        for (int t = 0; t < ids.data().length; t++) {
          int row = tokenRow(ids.data()[t], e.vocab()) * dim;
          for (int d = 0; d < dim; d++) {
            out[row + d] += dy.data()[t * dim + d];
          }
        }
        yield new Tensor(s, out);
      }
      case Conv2d c -> conv2d(c, v.get(n.input(0)), v.get(n.input(1)), s);
      case dev.nnc.ir.ops.Conv2dGradInput g -> conv2dGradInput(g.window(), v.get(n.input(0)), v.get(n.input(1)), s);
      case dev.nnc.ir.ops.Conv2dGradWeight g -> conv2dGradWeight(g.window(), v.get(n.input(0)), v.get(n.input(1)), s);
      case Patches p -> patches(p.window(), p.channelsLast(), p.fill(), v.get(n.input(0)), null, s);
      case PatchesGrad pg -> {
        Tensor dx = Tensor.zeros(s);
        patches(pg.window(), pg.channelsLast(), 0, dx, v.get(n.input(0)), n.input(0).shape());
        yield dx;
      }
      case Concat c -> {
        // Per index before the axis, each operand's block of (its size along the axis × what follows).
        double[] out = new double[Math.toIntExact(s.size())];
        long inner = s.size() / prefix(s, c.axis() + 1);
        long outer = prefix(s, c.axis());
        int at = 0;
        for (long o = 0; o < outer; o++) {
          for (Node x : n.inputs()) {
            int len = (int) (x.shape().dim(c.axis()) * inner);
            System.arraycopy(v.get(x).data(), (int) (o * len), out, at, len);
            at += len;
          }
        }
        yield new Tensor(s, out);
      }
      case Slice sl -> {
        Tensor x = v.get(n.input(0));
        double[] out = new double[Math.toIntExact(s.size())];
        long inner = s.size() / prefix(s, sl.axis() + 1);
        long outer = prefix(s, sl.axis());
        int full = x.shape().dim(sl.axis());
        int len = (int) (sl.size() * inner);
        for (long o = 0; o < outer; o++) {
          System.arraycopy(x.data(), (int) ((o * full + sl.start()) * inner), out, (int) (o * len), len);
        }
        yield new Tensor(s, out);
      }
      case Permute p -> {
        Tensor x = v.get(n.input(0));
        long[] xs = x.shape().strides();
        int r = s.rank();
        double[] out = new double[Math.toIntExact(s.size())];
        int[] idx = new int[r];
        for (int k = 0; k < out.length; k++) {
          long at = 0;
          for (int d = 0; d < r; d++) {
            at += idx[d] * xs[p.perm().get(d)];
          }
          out[k] = x.data()[(int) at];
          for (int d = r - 1; d >= 0 && ++idx[d] == s.dim(d); d--) {
            idx[d] = 0;
          }
        }
        yield new Tensor(s, out);
      }
      case DropoutMask dm -> {
        int step = (int) v.get(n.input(0)).data()[0];
        double[] out = new double[Math.toIntExact(s.size())];
        for (int i = 0; i < out.length; i++) {
          out[i] = dm.maskValue(i, step);
        }
        yield new Tensor(s, out);
      }
    };
  }

  /** Direct convolution, the plain seven-loop definition (groups included). */
  /** One product of a convolution: input, weight and output element indices. */
  private interface ConvTerm {
    void add(int xi, int wi, int yi);
  }

  /**
   * Every product {@code x[n, c, oh·s + kh·d − pt, ow·s + kw·d − pl]·w[o, c/g, kh, kw]} of the
   * convolution {@code y[n, o, oh, ow] = Σ …} with a position inside the image: the one walk
   * behind the convolution and both of its gradients.
   */
  private static void convolution(Window win, int groups, Shape xs, Shape ys, ConvTerm term) {
    int ch = xs.dim(1);
    int h = xs.dim(2);
    int wd = xs.dim(3);
    int o = ys.dim(1);
    int oh = ys.dim(2);
    int ow = ys.dim(3);
    int cg = ch / groups;
    int og = o / groups;
    for (int b = 0; b < ys.dim(0); b++) {
      for (int oc = 0; oc < o; oc++) {
        int g = oc / og;
        for (int i = 0; i < oh; i++) {
          for (int j = 0; j < ow; j++) {
            int yi = ((b * o + oc) * oh + i) * ow + j;
            for (int ic = 0; ic < cg; ic++) {
              for (int ki = 0; ki < win.kh(); ki++) {
                int hi = i * win.sh() + ki * win.dh() - win.pt();
                if (hi < 0 || hi >= h) {
                  continue;
                }
                for (int kj = 0; kj < win.kw(); kj++) {
                  int wj = j * win.sw() + kj * win.dw() - win.pl();
                  if (wj >= 0 && wj < wd) {
                    term.add(((b * ch + g * cg + ic) * h + hi) * wd + wj, ((oc * cg + ic) * win.kh() + ki) * win.kw() + kj,
                        yi);
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  private static Tensor conv2d(Conv2d c, Tensor x, Tensor w, Shape out) {
    double[] y = new double[Math.toIntExact(out.size())];
    convolution(c.window(), c.groups(), x.shape(), out, (xi, wi, yi) -> y[yi] += x.data()[xi] * w.data()[wi]);
    return new Tensor(out, y);
  }

  /** The input gradient: each output gradient element spread back over its window. */
  private static Tensor conv2dGradInput(Window win, Tensor dy, Tensor w, Shape out) {
    double[] dx = new double[Math.toIntExact(out.size())];
    convolution(win, 1, out, dy.shape(), (xi, wi, yi) -> dx[xi] += dy.data()[yi] * w.data()[wi]);
    return new Tensor(out, dx);
  }

  /** The weight gradient: each output gradient element times the window it was computed from. */
  private static Tensor conv2dGradWeight(Window win, Tensor x, Tensor dy, Shape out) {
    double[] dw = new double[Math.toIntExact(out.size())];
    convolution(win, 1, x.shape(), dy.shape(), (xi, wi, yi) -> dw[wi] += dy.data()[yi] * x.data()[xi]);
    return new Tensor(out, dw);
  }


  /**
   * Window extraction, or (with {@code grad}) its adjoint: {@code x} is {@code [N, C, H, W]};
   * gathers its windows into a new tensor of shape {@code ps}, or adds {@code grad}'s elements
   * onto {@code x} where they were read from.
   */
  private static Tensor patches(Window win, boolean channelsLast, double fill, Tensor x, Tensor grad, Shape ps) {
    int n = x.shape().dim(0);
    int ch = x.shape().dim(1);
    int h = x.shape().dim(2);
    int wd = x.shape().dim(3);
    int oh = win.outH(h);
    int ow = win.outW(wd);
    double[] out = grad == null ? new double[Math.toIntExact(ps.size())] : null;
    for (int b = 0; b < n; b++) {
      for (int c = 0; c < ch; c++) {
        for (int i = 0; i < oh; i++) {
          for (int j = 0; j < ow; j++) {
            for (int ki = 0; ki < win.kh(); ki++) {
              for (int kj = 0; kj < win.kw(); kj++) {
                int at = channelsLast
                    ? ((((b * oh + i) * ow + j) * ch + c) * win.kh() + ki) * win.kw() + kj
                    : ((((b * ch + c) * oh + i) * ow + j) * win.kh() + ki) * win.kw() + kj;
                int hi = i * win.sh() + ki * win.dh() - win.pt();
                int wj = j * win.sw() + kj * win.dw() - win.pl();
                boolean inside = hi >= 0 && hi < h && wj >= 0 && wj < wd;
                int xi = ((b * ch + c) * h + hi) * wd + wj;
                if (grad == null) {
                  out[at] = inside ? x.data()[xi] : fill;
                } else if (inside) {
                  x.data()[xi] += grad.data()[at];
                }
              }
            }
          }
        }
      }
    }
    return grad == null ? new Tensor(ps, out) : x;
  }

  /** The product of the first {@code k} dimensions of {@code s}. */
  private static long prefix(Shape s, int k) {
    long p = 1;
    for (int d = 0; d < k; d++) {
      p *= s.dim(d);
    }
    return p;
  }

  private static Tensor check(Node n, Tensor t, String what) {
    if (t == null) {
      throw new IllegalArgumentException("no value given for " + what);
    }
    if (!t.shape().equals(n.shape())) {
      throw new IllegalArgumentException(what + " has shape " + t.shape() + ", the graph expects " + n.shape());
    }
    return t;
  }

  private static Tensor matmul(MatMul mm, Tensor a, Tensor b, Shape out) {
    int o = out.rank() - 2;
    int g = MatMul.batch(out);
    int m = out.dim(o);
    int n = out.dim(o + 1);
    int k = mm.transA() ? a.shape().dim(o) : a.shape().dim(o + 1);
    double[] c = new double[g * m * n];
    for (int q = 0; q < g; q++) {
      int ab = q * m * k;
      int bb = q * k * n;
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          double acc = 0;
          for (int p = 0; p < k; p++) {
            double av = mm.transA() ? a.data()[ab + p * m + i] : a.data()[ab + i * k + p];
            double bv = mm.transB() ? b.data()[bb + j * k + p] : b.data()[bb + p * n + j];
            acc += av * bv;
          }
          c[q * m * n + i * n + j] = acc;
        }
      }
    }
    return new Tensor(out, c);
  }

  /** Both directions of {@link dev.nnc.ir.ops.Winograd}, as its Javadoc defines them. */
  private static Tensor winograd(dev.nnc.ir.ops.Winograd wg, Tensor x, Shape out) {
    int p = wg.p();
    int q = wg.q();
    Shape img = wg.toTiles() ? x.shape() : out;        // [N, C, H, W]
    Shape til = wg.toTiles() ? out : x.shape();        // [positions, C, N·TH·TW]
    int nImg = img.dim(0);
    int ch = img.dim(1);
    int h = img.dim(2);
    int w = img.dim(3);
    int t = til.dim(2);
    double[] y = new double[Math.toIntExact(out.size())];
    double[] xd = x.data();
    int win = wg.toTiles() ? q : p;                    // the side of a tile's window in the image
    int side = wg.toTiles() ? p : q;                   // the side of a transformed tile
    for (int n = 0; n < nImg; n++) {
      for (int c = 0; c < ch; c++) {
        for (int th = 0; th < wg.tilesH(); th++) {
          for (int tw = 0; tw < wg.tilesW(); tw++) {
            int tile = (n * wg.tilesH() + th) * wg.tilesW() + tw;
            for (int a = 0; a < win; a++) {
              int r = th * wg.stride() + a - wg.padTop();
              for (int b = 0; b < win; b++) {
                int cc = tw * wg.stride() + b - wg.padLeft();
                if (r < 0 || r >= h || cc < 0 || cc >= w) {
                  continue;
                }
                int pix = ((n * ch + c) * h + r) * w + cc;
                for (int i = 0; i < side; i++) {
                  for (int j = 0; j < side; j++) {
                    int pos = ((i * side + j) * ch + c) * t + tile;
                    if (wg.toTiles()) {
                      y[pos] += wg.at(i, a) * wg.at(j, b) * xd[pix];
                    } else {
                      y[pix] += wg.at(a, i) * wg.at(b, j) * xd[pos];
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    return new Tensor(out, y);
  }

  private static Tensor reduce(Reduce r, Tensor x, Shape out) {
    Shape keep = r.reducedShape(x.shape(), true);
    int[] map = Tensor.broadcastIndex(keep, x.shape());
    int size = Math.toIntExact(out.size());
    double[] acc = new double[size];
    if (r.fn() == dev.nnc.ir.ops.ReduceFn.MAX) {
      java.util.Arrays.fill(acc, Double.NEGATIVE_INFINITY);
    }
    for (int i = 0; i < map.length; i++) {
      double xv = x.data()[i];
      acc[map[i]] = switch (r.fn()) {
        case SUM, MEAN -> acc[map[i]] + xv;
        case MAX -> Math.max(acc[map[i]], xv);
      };
    }
    if (r.fn() == dev.nnc.ir.ops.ReduceFn.MEAN) {
      double cnt = r.count(x.shape());
      for (int i = 0; i < size; i++) {
        acc[i] /= cnt;
      }
    }
    return new Tensor(out, acc);
  }

  private static Tensor softmax(Tensor x, boolean log) {
    int cols = x.shape().dim(-1);
    double[] out = new double[x.data().length];
    for (int row = 0; row < out.length / cols; row++) {
      int o = row * cols;
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < cols; j++) {
        max = Math.max(max, x.data()[o + j]);
      }
      double sum = 0;
      for (int j = 0; j < cols; j++) {
        sum += Math.exp(x.data()[o + j] - max);
      }
      for (int j = 0; j < cols; j++) {
        double z = x.data()[o + j] - max;
        out[o + j] = log ? z - Math.log(sum) : Math.exp(z) / sum;
      }
    }
    return new Tensor(x.shape(), out);
  }

  /** The table row of token id {@code id}: an integer in {@code [0, vocab)}, else an error naming both. */
  static int tokenRow(double id, int vocab) {
    if (!(id >= 0 && id < vocab) || id != Math.rint(id)) {
      throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocab + ")");
    }
    return (int) id;
  }
}
