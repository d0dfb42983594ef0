package dev.nnc.passes;

import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.UnaryFn;
import dev.nnc.ir.ops.Window;
import java.util.List;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/** libtorch (org.bytedeco:pytorch) as the reference: tensors from and to double arrays, and the ops. */
final class TorchOps {
  /** A libtorch computation on operand tensors. */
  interface Fn {
    Tensor apply(List<Tensor> in);
  }

  private TorchOps() {}

  static Tensor tensor(double[] v, Shape s, boolean requiresGrad) {
    DoublePointer p = new DoublePointer(v);
    Tensor t = torch.from_blob(p, dims(s), new TensorOptions(torch.ScalarType.Double)).clone();
    p.close();
    if (requiresGrad) {
      t.set_requires_grad(true);
    }
    return t;
  }

  static Tensor longs(double[] v) {
    return tensor(v, Shape.of(v.length), false).to(torch.ScalarType.Long);
  }

  static double[] values(Tensor t) {
    Tensor f = t.contiguous().reshape(-1).to(torch.ScalarType.Double);
    int n = (int) f.numel();
    double[] out = new double[n];
    for (int i = 0; i < n; i++) {
      out[i] = f.select(0, i).item_double();
    }
    return out;
  }

  /** {@code x} padded by the window's (possibly asymmetric) padding with {@code fill}. */
  static Tensor pad(Tensor x, Window w, double fill) {
    return torch.constant_pad_nd(x, new long[] {w.pl(), w.pr(), w.pt(), w.pb()}, new Scalar(fill));
  }

  static Tensor conv2d(Tensor x, Tensor w, Window win, int groups) {
    return torch.conv2d(pad(x, win, 0), w, new org.bytedeco.pytorch.TensorOptional(),
        new long[] {win.sh(), win.sw()}, new long[] {0, 0}, new long[] {win.dh(), win.dw()}, groups);
  }

  /** nnc's patches layouts from libtorch's im2col ({@code [N, C·KH·KW, OH·OW]}). */
  static Tensor patches(Tensor x, Window w, boolean channelsLast, double fill) {
    long n = x.size(0);
    long c = x.size(1);
    Tensor cols = torch.im2col(pad(x, w, fill), new long[] {w.kh(), w.kw()}, new long[] {w.dh(), w.dw()},
        new long[] {0, 0}, new long[] {w.sh(), w.sw()});
    long oh = w.outH((int) x.size(2));
    long ow = w.outW((int) x.size(3));
    Tensor six = cols.reshape(n, c, w.kh(), w.kw(), oh, ow);
    return channelsLast ? six.permute(0, 4, 5, 1, 2, 3) : six.permute(0, 1, 4, 5, 2, 3);
  }

  /** The adjoint of {@link #patches}: libtorch's col2im on the padded map, the padding cut off. */
  static Tensor patchesGrad(Tensor p, Window w, boolean channelsLast, int h, int wd) {
    Tensor six = channelsLast ? p.permute(0, 3, 4, 5, 1, 2) : p.permute(0, 1, 4, 5, 2, 3);  // N C KH KW OH OW
    long n = p.size(0);
    long c = six.size(1);
    Tensor cols = six.contiguous().reshape(n, c * w.kh() * w.kw(), six.size(4) * six.size(5));
    long ph = h + w.pt() + w.pb();
    long pw = wd + w.pl() + w.pr();
    Tensor full = torch.col2im(cols, new long[] {ph, pw}, new long[] {w.kh(), w.kw()}, new long[] {w.dh(), w.dw()},
        new long[] {0, 0}, new long[] {w.sh(), w.sw()});
    return full.narrow(2, w.pt(), h).narrow(3, w.pl(), wd);
  }

  /**
   * The input gradient of a convolution: libtorch's {@code conv_transpose2d} over the padded
   * input's coordinates, zeros below and right where the convolution left rows out, the padding cut.
   */
  static Tensor conv2dGradInput(Tensor dy, Tensor w, Window win, int h, int wd) {
    Tensor full = torch.conv_transpose2d(dy, w, new org.bytedeco.pytorch.TensorOptional(), new long[] {win.sh(), win.sw()},
        new long[] {0, 0}, new long[] {0, 0}, 1, new long[] {win.dh(), win.dw()});
    long ph = h + win.pt() + win.pb();
    long pw = wd + win.pl() + win.pr();
    full = torch.constant_pad_nd(full, new long[] {0, pw - full.size(3), 0, ph - full.size(2)}, new Scalar(0));
    return full.narrow(2, win.pt(), h).narrow(3, win.pl(), wd);
  }

  /** The weight gradient of a convolution: {@code dyᵀ·cols} with libtorch's im2col windows. */
  static Tensor conv2dGradWeight(Tensor x, Tensor dy, Window win) {
    long o = dy.size(1);
    Tensor cols = patches(x, win, true, 0);                                  // [N, OH, OW, C, KH, KW]
    Tensor rows = cols.reshape(cols.size(0) * cols.size(1) * cols.size(2), -1);
    Tensor dyRows = dy.permute(0, 2, 3, 1).reshape(-1, o);
    return dyRows.t().matmul(rows).reshape(o, x.size(1), win.kh(), win.kw());
  }

  /** The matrix of {@code wg} ({@code L}, p×q) as a libtorch tensor. */
  private static Tensor matrix(dev.nnc.ir.ops.Winograd wg) {
    double[] v = new double[wg.p() * wg.q()];
    for (int i = 0; i < wg.p(); i++) {
      for (int k = 0; k < wg.q(); k++) {
        v[i * wg.q() + k] = wg.at(i, k);
      }
    }
    return tensor(v, Shape.of(wg.p(), wg.q()), false);
  }

  /**
   * Both Winograd directions from libtorch's own ops: im2col of the padded image and
   * {@code L·d·Lᵀ} per tile, or {@code L·m·Lᵀ} per tile and col2im, the padding cut off.
   */
  static Tensor winograd(Tensor x, dev.nnc.ir.ops.Winograd wg) {
    Tensor l = matrix(wg);
    int s = wg.stride();
    int th = wg.tilesH();
    int tw = wg.tilesW();
    if (wg.toTiles()) {
      int q = wg.q();
      long n = x.size(0);
      long c = x.size(1);
      long ph = Math.max(wg.padTop() + wg.height(), (long) (th - 1) * s + q);
      long pw = Math.max(wg.padLeft() + wg.width(), (long) (tw - 1) * s + q);
      Tensor padded = torch.constant_pad_nd(x, new long[] {wg.padLeft(), pw - wg.padLeft() - wg.width(), wg.padTop(),
          ph - wg.padTop() - wg.height()}, new Scalar(0));
      Tensor cols = torch.im2col(padded, new long[] {q, q}, new long[] {1, 1}, new long[] {0, 0}, new long[] {s, s});
      long oh = (ph - q) / s + 1;
      long ow = (pw - q) / s + 1;
      Tensor d = cols.reshape(n, c, q, q, oh, ow).narrow(4, 0, th).narrow(5, 0, tw).permute(0, 1, 4, 5, 2, 3);
      Tensor v = l.matmul(d).matmul(l.t());                                     // [N, C, TH, TW, p, p]
      int p = wg.p();
      return v.permute(4, 5, 1, 0, 2, 3).contiguous().reshape(p * p, c, n * th * tw);
    }
    int q = wg.q();
    int p = wg.p();
    long c = x.size(1);
    long n = x.size(2) / wg.tiles();
    Tensor m = x.reshape(q, q, c, n, th, tw).permute(3, 2, 4, 5, 0, 1);          // [N, C, TH, TW, q, q]
    Tensor y = l.matmul(m).matmul(l.t());                                       // [N, C, TH, TW, p, p]
    Tensor cols = y.permute(0, 1, 4, 5, 2, 3).contiguous().reshape(n, c * p * p, (long) th * tw);
    long ph = (long) (th - 1) * s + p;               // exactly the tiles' windows, then zeros below and right
    long pw = (long) (tw - 1) * s + p;
    Tensor full = torch.col2im(cols, new long[] {ph, pw}, new long[] {p, p}, new long[] {1, 1}, new long[] {0, 0},
        new long[] {s, s});
    full = torch.constant_pad_nd(full, new long[] {0, Math.max(0, wg.padLeft() + wg.width() - pw), 0,
        Math.max(0, wg.padTop() + wg.height() - ph)}, new Scalar(0));
    return full.narrow(2, wg.padTop(), wg.height()).narrow(3, wg.padLeft(), wg.width());
  }

  static Tensor maxPool(Tensor x, Window w) {
    return torch.max_pool2d(pad(x, w, Double.NEGATIVE_INFINITY), new long[] {w.kh(), w.kw()},
        new long[] {w.sh(), w.sw()}, new long[] {0, 0}, new long[] {w.dh(), w.dw()}, false);
  }

  /** Average pooling counting the padding (PyTorch's default, {@code count_include_pad=True}). */
  static Tensor avgPool(Tensor x, Window w) {
    return torch.avg_pool2d(pad(x, w, 0), new long[] {w.kh(), w.kw()}, new long[] {w.sh(), w.sw()},
        new long[] {0, 0}, false, true, new org.bytedeco.pytorch.LongOptional());
  }

  static Tensor matmul(Tensor a, Tensor b, boolean ta, boolean tb) {
    return (ta ? a.transpose(-2, -1) : a).matmul(tb ? b.transpose(-2, -1) : b);
  }

  static Tensor scalar(double v) {
    return tensor(new double[] {v}, Shape.SCALAR, false);
  }

  static Tensor unary(UnaryFn fn, double alpha, Tensor x) {
    return switch (fn) {
      case NEG -> x.neg();
      case ABS -> x.abs();
      case SIGN -> torch.sign(x);
      // heaviside has no autograd formula; its derivative is 0 almost everywhere, as x·0 says.
      case STEP -> torch.heaviside(x.detach(), scalar(0)).add(x.mul(new Scalar(0.0)));
      case EXP -> torch.exp(x);
      case LOG -> torch.log(x);
      case SQRT -> torch.sqrt(x);
      case SQUARE -> x.mul(x);
      case RECIP -> x.reciprocal();
      case RELU -> torch.relu(x);
      case LEAKY_RELU -> torch.leaky_relu(x, new Scalar(alpha));
      case ELU -> torch.elu(x, new Scalar(alpha), new Scalar(1.0), new Scalar(1.0));
      case SIGMOID -> torch.sigmoid(x);
      case TANH -> torch.tanh(x);
      case SOFTSIGN -> x.div(x.abs().add(new Scalar(1.0)));
      case SOFTPLUS -> torch.softplus(x);
      case GELU -> torch.gelu(x);
      case SWISH -> torch.silu(x);
      default -> throw new IllegalArgumentException(fn.text());
    };
  }

  static Tensor binary(BinaryFn fn, Tensor x, Tensor y) {
    return switch (fn) {
      case ADD -> x.add(y);
      case SUB -> x.sub(y);
      case MUL -> x.mul(y);
      case DIV -> x.div(y);
      case MAX -> torch.maximum(x, y);
      case MIN -> torch.minimum(x, y);
      default -> throw new IllegalArgumentException(fn.text());
    };
  }

  static Tensor reduce(ReduceFn fn, List<Integer> axes, boolean keep, Tensor x) {
    long[] ax = axes.stream().mapToLong(Integer::longValue).toArray();
    return switch (fn) {
      case SUM -> x.sum(ax, keep, new org.bytedeco.pytorch.ScalarTypeOptional());
      case MEAN -> torch.mean(x, ax, keep, new org.bytedeco.pytorch.ScalarTypeOptional());
      case MAX -> torch.amax(x, ax, keep);
    };
  }

  static long[] dims(Shape s) {
    long[] dims = new long[s.rank()];
    for (int i = 0; i < dims.length; i++) {
      dims[i] = s.dim(i);
    }
    return dims;
  }

  static Tensor expand(Tensor x, Shape s) {
    return x.expand(dims(s));
  }

  static Tensor sumTo(Tensor x, Shape target) {
    // Sum the leading extra dimensions, then the stretched ones, keeping them.
    int extra = (int) x.dim() - target.rank();
    Tensor t = x;
    for (int i = 0; i < extra; i++) {
      t = t.sum(new long[] {0}, false, new org.bytedeco.pytorch.ScalarTypeOptional());
    }
    for (int i = 0; i < target.rank(); i++) {
      if (target.dim(i) == 1 && t.size(i) != 1) {
        t = t.sum(new long[] {i}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
      }
    }
    return t;
  }

  static Tensor reshape(Tensor x, Shape s) {
    return x.reshape(dims(s));
  }

  static Tensor softmax(Tensor x, boolean log) {
    return log ? torch.log_softmax(x, -1) : torch.softmax(x, -1);
  }

  /**
   * A {@link dev.nnc.ir.ops.Recurrence}'s trace computed step by step with libtorch's ops (its
   * autograd then differentiates through time); {@code lengths} when masked. The cells' own
   * results (h, c) are compared with libtorch's fused LSTM, GRU and RNN modules in
   * {@code LayerParityTest}.
   */
  static Tensor recurrence(dev.nnc.ir.ops.Recurrence r, List<Tensor> in, double[] lengths) {
    boolean lstm = r.cell() == dev.nnc.ir.ops.Recurrence.Cell.LSTM;
    Tensor xw = in.get(0);
    Tensor whhT = in.get(1).t();
    Tensor bhh = in.get(2);
    Tensor h = in.get(3);
    Tensor c = lstm ? in.get(4) : null;
    Tensor len = lengths == null ? null : tensor(lengths, Shape.of(lengths.length, 1), false);
    int steps = (int) xw.size(1);
    int hid = r.hidden();
    Tensor zero = torch.zeros_like(h);
    Tensor[] rows = new Tensor[steps + 1];
    Tensor[] first = new Tensor[r.cell().slots];
    java.util.Arrays.fill(first, zero);
    first[0] = h;
    if (lstm) {
      first[2] = c;
    }
    rows[r.initialRow(steps)] = torch.cat(new org.bytedeco.pytorch.TensorVector(first), 1);
    for (int s = 0; s < steps; s++) {
      int t = r.reverse() ? steps - 1 - s : s;
      Tensor x = xw.select(1, t);
      Tensor g = torch.addmm(bhh, h, whhT);
      java.util.function.IntFunction<Tensor> gx = k -> x.narrow(1, (long) k * hid, hid);
      java.util.function.IntFunction<Tensor> gh = k -> g.narrow(1, (long) k * hid, hid);
      Tensor hPrev = h;
      Tensor cPrev = c;
      Tensor[] slots = switch (r.cell()) {
        case TANH -> {
          Tensor hn = torch.tanh(gx.apply(0).add(gh.apply(0)));
          yield new Tensor[] {hn, hn};
        }
        case LSTM -> {
          Tensor i = torch.sigmoid(gx.apply(0).add(gh.apply(0)));
          Tensor f = torch.sigmoid(gx.apply(1).add(gh.apply(1)));
          Tensor gg = torch.tanh(gx.apply(2).add(gh.apply(2)));
          Tensor o = torch.sigmoid(gx.apply(3).add(gh.apply(3)));
          Tensor cn = f.mul(cPrev).add(i.mul(gg));
          Tensor hn = o.mul(torch.tanh(cn));
          yield new Tensor[] {hn, hn, cn, i, f, gg, o};
        }
        case GRU -> {
          Tensor rr = torch.sigmoid(gx.apply(0).add(gh.apply(0)));
          Tensor z = torch.sigmoid(gx.apply(1).add(gh.apply(1)));
          Tensor nn = torch.tanh(gx.apply(2).add(rr.mul(gh.apply(2))));
          Tensor hn = torch.ones_like(z).sub(z).mul(nn).add(z.mul(hPrev));
          yield new Tensor[] {hn, hn, rr, z, nn, gh.apply(2)};
        }
      };
      if (len != null) {
        Tensor m = len.gt(new Scalar(t)).to(torch.ScalarType.Double);
        Tensor keep = torch.ones_like(m).sub(m);
        for (int k = 0; k < slots.length; k++) {
          Tensor carried = k == 0 ? hPrev : lstm && k == 2 ? cPrev : zero;
          slots[k] = slots[k].mul(m).add(carried.mul(keep));
        }
      }
      rows[r.row(t)] = torch.cat(new org.bytedeco.pytorch.TensorVector(slots), 1);
      h = slots[0];
      c = lstm ? slots[2] : null;
    }
    return torch.stack(new org.bytedeco.pytorch.TensorVector(rows), 1);
  }
}
