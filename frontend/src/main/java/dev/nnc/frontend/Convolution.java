package dev.nnc.frontend;

import dev.nnc.frontend.Val.ListV;
import dev.nnc.frontend.Val.NumV;
import dev.nnc.frontend.Val.SymV;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.Patches;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.Window;
import java.util.List;

/**
 * Convolution and pooling layers on {@code [C, H, W]} inputs (NCHW, PyTorch's layouts):
 * {@code conv2d}, {@code maxpool}/{@code avgpool} (and their {@code 2d} names),
 * {@code global_avgpool}, {@code global_maxpool}.
 */
final class Convolution {
  private Convolution() {}

  static List<Layer> all() {
    return List.of(new ConvLayer(2), new ConvLayer(1), new ConvTranspose2d(), new Pool("maxpool", ReduceFn.MAX),
        new Pool("maxpool2d", ReduceFn.MAX), new Pool("avgpool", ReduceFn.MEAN), new Pool("avgpool2d", ReduceFn.MEAN),
        new Pool("maxpool1d", ReduceFn.MAX, 1), new Pool("avgpool1d", ReduceFn.MEAN, 1),
        new GlobalPool("global_avgpool", ReduceFn.MEAN), new GlobalPool("global_maxpool", ReduceFn.MAX),
        new Upsample(), new ZeroPad());
  }

  static void requireImage(String layer, Node x) {
    if (x.shape().rank() != 4) {
      throw new LayerException(layer + " expects a [C, H, W] input, got " + Layer.perExample(x),
          x.shape().rank() == 2 ? "reshape it first, e.g. `-> reshape([1, 28, 28])`" : null);
    }
  }

  /** An argument that is one positive number for both dimensions or a pair {@code [h, w]}. */
  static int[] pair(Args a, String name, String layer, int min) {
    return sizes(a, name, layer, min, 2);
  }

  /**
   * A size argument of a {@code dims}-dimensional layer: for 2, {@link #pair}; for 1, a number
   * (or {@code [n]}), returned as {@code [neutral, n]} so that a 1-d layer is the 2-d one on a
   * {@code 1×L} map (the neutral height is 1 for kernel, stride, dilation and scale, 0 for padding).
   */
  static int[] sizes(Args a, String name, String layer, int min, int dims) {
    Val v = a.get(name);
    if (dims == 1) {
      Val one = v instanceof ListV l && l.items().size() == 1 ? l.items().get(0) : v;
      if (!(one instanceof NumV n) || !n.integral() || n.value() < min || n.value() > 1 << 20) {
        throw new LayerException(layer + " " + name + " must be " + (min == 0 ? "a whole number ≥ 0" : "a whole "
            + "number ≥ " + min) + ", got " + show(v));
      }
      return new int[] {min == 0 ? 0 : 1, (int) n.value()};
    }
    List<Val> items = v instanceof ListV l ? l.items() : List.of(v, v);
    if (items.size() != 2) {
      throw new LayerException(layer + " " + name + " must be a number or a pair [h, w], got " + show(v));
    }
    int[] out = new int[2];
    for (int i = 0; i < 2; i++) {
      if (!(items.get(i) instanceof NumV n) || !n.integral() || n.value() < min || n.value() > 1 << 20) {
        throw new LayerException(layer + " " + name + " must be " + (min == 0 ? "a whole number ≥ 0" : "a whole "
            + "number ≥ " + min) + " (or a pair of them), got " + show(v));
      }
      out[i] = (int) ((NumV) items.get(i)).value();
    }
    return out;
  }

  /** A number or a list of numbers as written: {@code 0}, {@code [1, 0]}; anything else described. */
  static String show(Val v) {
    return switch (v) {
      case NumV n -> n.integral() ? String.valueOf((long) n.value()) : String.valueOf(n.value());
      case ListV l -> "[" + String.join(", ", l.items().stream().map(Convolution::show).toList()) + "]";
      default -> Val.describe(v);
    };
  }

  /**
   * Padding {@code valid} (none), {@code same} (TensorFlow's rule: output ⌈H / stride⌉, the odd
   * pixel at the bottom and right), a number, or {@code [h, w]}.
   */
  static Window window(Args a, String layer, int[] k, int[] s, int[] d, Shape x, int dims) {
    Val p = a.get("padding");
    int h = x.dim(2);
    int w = x.dim(3);
    if (p instanceof SymV sym && sym.name().equals("valid")) {
      return new Window(k[0], k[1], s[0], s[1], 0, 0, 0, 0, d[0], d[1]);
    }
    if (p instanceof SymV sym && sym.name().equals("same")) {
      int th = Math.max((ceilDiv(h, s[0]) - 1) * s[0] + (k[0] - 1) * d[0] + 1 - h, 0);
      int tw = Math.max((ceilDiv(w, s[1]) - 1) * s[1] + (k[1] - 1) * d[1] + 1 - w, 0);
      return new Window(k[0], k[1], s[0], s[1], th / 2, tw / 2, th - th / 2, tw - tw / 2, d[0], d[1]);
    }
    if (p instanceof SymV || p instanceof Val.StrV) {
      throw new LayerException(layer + " padding must be valid, same, a number or [h, w], got " + Val.describe(p));
    }
    int[] pad = sizes(a, "padding", layer, 0, dims);
    return new Window(k[0], k[1], s[0], s[1], pad[0], pad[1], pad[0], pad[1], d[0], d[1]);
  }

  static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }

  /**
   * The window's output size, or a located error naming the sizes and the fix; {@code x} is the
   * 4-d view of a 1-d input when {@code dims} is 1.
   */
  static int[] checkFits(String layer, Window win, Shape x, int dims) {
    int oh = win.outH(x.dim(2));
    int ow = win.outW(x.dim(3));
    if (oh < 1 || ow < 1) {
      int eh = win.dh() * (win.kh() - 1) + 1;
      int ew = win.dw() * (win.kw() - 1) + 1;
      String padded = dims == 1 ? String.valueOf(x.dim(3) + win.pl() + win.pr())
          : (x.dim(2) + win.pt() + win.pb()) + "×" + (x.dim(3) + win.pl() + win.pr());
      String input = dims == 1 ? Shape.of(x.dim(1), x.dim(3)).toString() : x.dropFirst().toString();
      throw new LayerException(layer + ": the " + (dims == 1 ? ew + "-wide" : eh + "×" + ew) + " window is larger "
          + "than the " + padded + " (padded) input " + input,
          "use a smaller kernel, add padding (padding=same), or remove a pooling layer before it");
    }
    return new int[] {oh, ow};
  }

  /** {@code [N, C, L]} as {@code [N, C, 1, L]}, so that 1-d layers are 2-d ones on a 1×L map. */
  static Node asImage(LayerContext ctx, String layer, Node x, int dims) {
    if (dims == 2) {
      requireImage(layer, x);
      return x;
    }
    if (x.shape().rank() != 3) {
      throw new LayerException(layer + " expects a [C, L] input (channels, length), got " + Layer.perExample(x),
          x.shape().rank() == 2 ? "reshape it first, e.g. `-> reshape([1, " + x.shape().dim(1) + "])`" : null);
    }
    Shape s = x.shape();
    return dev.nnc.ir.ops.Ops.reshape(ctx.graph(), x, Shape.of(s.dim(0), s.dim(1), 1, s.dim(2)));
  }

  /** The inverse of {@link #asImage}: {@code [N, C, 1, L] → [N, C, L]}. */
  static Node fromImage(LayerContext ctx, Node y, int dims) {
    if (dims == 2) {
      return y;
    }
    Shape s = y.shape();
    return dev.nnc.ir.ops.Ops.reshape(ctx.graph(), y, Shape.of(s.dim(0), s.dim(1), s.dim(3)));
  }

  /**
   * {@code conv2d(filters, kernel, stride=1, padding=valid, dilation=1, groups=1, bias=true,
   * init=glorot_uniform, bias_init=zeros)}: weight {@code [filters, C/groups, kh, kw]} and bias
   * {@code [filters]}, named and laid out as PyTorch's Conv2d. {@code conv1d(…)} takes the same
   * arguments as single numbers on {@code [C, L]} inputs, with PyTorch's Conv1d weight
   * {@code [filters, C/groups, k]}; it is the 2-d convolution of a 1×L map.
   */
  static final class ConvLayer implements Layer {
    private final int dims;

    ConvLayer(int dims) {
      this.dims = dims;
    }

    @Override
    public String name() {
      return "conv" + dims + "d";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.required("filters"), Args.Spec.required("kernel"), Args.Spec.of("stride", 1),
          Args.Spec.sym("padding", "valid"), Args.Spec.of("dilation", 1), Args.Spec.of("groups", 1),
          Args.Spec.sym("bias", "true"), Args.Spec.sym("init", "glorot_uniform"), Args.Spec.sym("bias_init", "zeros"));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = asImage(ctx, name(), in.get(0), dims);
      int filters = a.positiveInt("filters");
      int groups = a.positiveInt("groups");
      int[] k = sizes(a, "kernel", name(), 1, dims);
      int[] s = sizes(a, "stride", name(), 1, dims);
      int[] d = sizes(a, "dilation", name(), 1, dims);
      int c = x.shape().dim(1);
      if (c % groups != 0 || filters % groups != 0) {
        throw new LayerException(name() + ": " + c + " input channels and " + filters
            + " filters must both be divisible by groups=" + groups, "choose groups that divides both");
      }
      Window win = window(a, name(), k, s, d, x.shape(), dims);
      checkFits(name(), win, x.shape(), dims);
      Shape wshape = dims == 2 ? Shape.of(filters, c / groups, k[0], k[1]) : Shape.of(filters, c / groups, k[1]);
      Node w = ctx.param("weight", wshape, Inits.parse(a.get("init"), name() + " weights"));
      if (dims == 1) {
        w = dev.nnc.ir.ops.Ops.reshape(ctx.graph(), w, Shape.of(filters, c / groups, 1, k[1]));
      }
      Node y = ctx.graph().add(new Conv2d(win, groups), x, w);
      if (a.bool("bias")) {
        Node bias = ctx.param("bias", Shape.of(filters), Inits.parse(a.get("bias_init"), name() + " bias"));
        Node b3 = dev.nnc.ir.ops.Ops.reshape(ctx.graph(), bias, Shape.of(filters, 1, 1));
        y = ctx.graph().add(new Binary(BinaryFn.ADD), y, b3);
      }
      return fromImage(ctx, y, dims);
    }
  }

  /**
   * {@code conv_transpose2d(filters, kernel, stride=1, padding=0, output_padding=0, dilation=1,
   * groups=1, bias=true, …)}: the adjoint of a convolution ("deconvolution", U-Net's up-sampling
   * step), PyTorch's ConvTranspose2d with weight {@code [C, filters/groups, kh, kw]}. Output
   * {@code (H − 1)·stride − 2·padding + dilation·(kernel − 1) + output_padding + 1}. Each input
   * pixel's GEMM row {@code x·W} is a window of the output, added in place (col2im).
   */
  static final class ConvTranspose2d implements Layer {
    @Override
    public String name() {
      return "conv_transpose2d";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.required("filters"), Args.Spec.required("kernel"), Args.Spec.of("stride", 1),
          Args.Spec.of("padding", 0), Args.Spec.of("output_padding", 0), Args.Spec.of("dilation", 1),
          Args.Spec.of("groups", 1), Args.Spec.sym("bias", "true"), Args.Spec.sym("init", "glorot_uniform"),
          Args.Spec.sym("bias_init", "zeros"));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      requireImage(name(), x);
      dev.nnc.ir.Graph.Builder b = ctx.graph();
      int filters = a.positiveInt("filters");
      int groups = a.positiveInt("groups");
      int[] k = pair(a, "kernel", name(), 1);
      int[] s = pair(a, "stride", name(), 1);
      int[] d = pair(a, "dilation", name(), 1);
      int[] p = pair(a, "padding", name(), 0);
      int[] op = pair(a, "output_padding", name(), 0);
      Shape xs = x.shape();
      int c = xs.dim(1);
      if (c % groups != 0 || filters % groups != 0) {
        throw new LayerException(name() + ": " + c + " input channels and " + filters
            + " filters must both be divisible by groups=" + groups, "choose groups that divides both");
      }
      int[] out = new int[2];
      for (int i = 0; i < 2; i++) {
        if (op[i] >= s[i]) {
          throw new LayerException(name() + " output_padding " + op[i] + " must be smaller than the stride " + s[i],
              "output_padding only chooses among the output sizes a stride-" + s[i] + " convolution maps to the input");
        }
        long size = (long) (xs.dim(2 + i) - 1) * s[i] - 2L * p[i] + (long) d[i] * (k[i] - 1) + op[i] + 1;
        if (size < 1 || size > 1 << 20) {
          throw new LayerException(name() + ": padding " + p[i] + " leaves an output of size " + size + " from "
              + Layer.perExample(x), "use less padding");
        }
        out[i] = (int) size;
      }
      Window win = new Window(k[0], k[1], s[0], s[1], p[0], p[1], p[0], p[1], d[0], d[1]);
      Node w = ctx.param("weight", Shape.of(c, filters / groups, k[0], k[1]),
          Inits.parse(a.get("init"), name() + " weights"));
      List<Node> parts = new java.util.ArrayList<>();
      int cg = c / groups;
      for (int g = 0; g < groups; g++) {
        Node xg = groups == 1 ? x : b.add(new dev.nnc.ir.ops.Slice(1, g * cg, cg), x);
        Node wg = groups == 1 ? w : b.add(new dev.nnc.ir.ops.Slice(0, g * cg, cg), w);
        Node rows = Conv2d.rows(b, xg);                                                    // [N·H·W, C/g]
        Node wm = dev.nnc.ir.ops.Ops.reshape(b, wg, Shape.of(cg, filters / groups * k[0] * k[1]));
        Node cols = b.add(new dev.nnc.ir.ops.MatMul(false, false), rows, wm);            // [N·H·W, F/g·kh·kw]
        Node windows = dev.nnc.ir.ops.Ops.reshape(b, cols,
            Shape.of(xs.dim(0), xs.dim(2), xs.dim(3), filters / groups, k[0], k[1]));
        parts.add(b.add(new dev.nnc.ir.ops.PatchesGrad(win, true, out[0], out[1]), windows));
      }
      Node y = parts.size() == 1 ? parts.get(0) : b.add(new dev.nnc.ir.ops.Concat(1), parts);
      if (a.bool("bias")) {
        Node bias = ctx.param("bias", Shape.of(filters), Inits.parse(a.get("bias_init"), name() + " bias"));
        y = b.add(new Binary(BinaryFn.ADD), y, dev.nnc.ir.ops.Ops.reshape(b, bias, Shape.of(filters, 1, 1)));
      }
      return y;
    }
  }

  /**
   * {@code maxpool(kernel, stride=kernel, padding=0, ceil_mode=false)} and {@code avgpool(…)}:
   * a reduction over each window, which reads the input in place (the windows are never stored).
   * Average pooling counts the padding, as PyTorch does by default; with {@code ceil_mode} the
   * windows that run past the padded input divide by the part inside it, as PyTorch does.
   * {@code maxpool1d}/{@code avgpool1d} take single numbers on {@code [C, L]} inputs.
   */
  static final class Pool implements Layer {
    private final String name;
    private final ReduceFn fn;
    private final int dims;

    Pool(String name, ReduceFn fn) {
      this(name, fn, 2);
    }

    Pool(String name, ReduceFn fn, int dims) {
      this.name = name;
      this.fn = fn;
      this.dims = dims;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.required("kernel"), Args.Spec.sym("stride", "kernel"), Args.Spec.of("padding", 0),
          Args.Spec.sym("ceil_mode", "false"));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = asImage(ctx, name, in.get(0), dims);
      int[] k = sizes(a, "kernel", name, 1, dims);
      int[] s = a.get("stride") instanceof SymV sym && sym.name().equals("kernel") ? k
          : sizes(a, "stride", name, 1, dims);
      int[] p = sizes(a, "padding", name, 0, dims);
      if (2 * p[0] > k[0] || 2 * p[1] > k[1]) {
        throw new LayerException(name + " padding " + (dims == 1 ? p[1] : p[0] + "," + p[1]) + " is more than half "
            + "the " + (dims == 1 ? k[1] + "-wide" : k[0] + "×" + k[1]) + " kernel",
            "use padding ≤ kernel / 2 (a window entirely in the padding has nothing to pool)");
      }
      int[] extra = {0, 0};
      if (a.bool("ceil_mode")) {
        for (int i = 0; i < 2; i++) {
          int size = x.shape().dim(2 + i) + 2 * p[i];
          int out = ceilDiv(size - k[i], s[i]) + 1;
          // PyTorch: the last window must start inside the input or its left padding.
          if ((out - 1) * s[i] >= x.shape().dim(2 + i) + p[i]) {
            out--;
          }
          extra[i] = Math.max(0, (out - 1) * s[i] + k[i] - size);
        }
      }
      Window win = new Window(k[0], k[1], s[0], s[1], p[0], p[1], p[0] + extra[0], p[1] + extra[1], 1, 1);
      checkFits(name, win, x.shape(), dims);
      dev.nnc.ir.Graph.Builder b = ctx.graph();
      double fill = fn == ReduceFn.MAX ? Double.NEGATIVE_INFINITY : 0;
      Node windows = b.add(new Patches(win, false, fill), x);
      if (fn == ReduceFn.MEAN && (extra[0] > 0 || extra[1] > 0)) {
        return fromImage(ctx, ceilAverage(b, windows, win, x.shape(), p, extra), dims);
      }
      return fromImage(ctx, b.add(new Reduce(fn, List.of(4, 5), false), windows), dims);
    }

    /**
     * Average pooling whose last windows overhang the padded input: the window sums divided by
     * how many of each window's positions lie in the input or its padding — the sums of the same
     * windows over ones, a constant the compiler folds.
     */
    private static Node ceilAverage(dev.nnc.ir.Graph.Builder b, Node windows, Window win, Shape x, int[] p,
        int[] extra) {
      Node sums = b.add(new Reduce(ReduceFn.SUM, List.of(4, 5), false), windows);
      Shape padded = Shape.of(1, 1, x.dim(2) + 2 * p[0], x.dim(3) + 2 * p[1]);
      Node ones = dev.nnc.ir.ops.Ops.broadcastTo(b, dev.nnc.ir.ops.Ops.constant(b, 1), padded);
      Window over = new Window(win.kh(), win.kw(), win.sh(), win.sw(), 0, 0, extra[0], extra[1], 1, 1);
      Node counts = b.add(new Reduce(ReduceFn.SUM, List.of(4, 5), false), b.add(new Patches(over, false, 0), ones));
      return b.add(new Binary(BinaryFn.DIV), sums, counts);
    }
  }

  /** {@code global_avgpool}, {@code global_maxpool}: {@code [C, H, W] → [C]} (and {@code [C, L] → [C]}). */
  static final class GlobalPool implements Layer {
    private final String name;
    private final ReduceFn fn;

    GlobalPool(String name, ReduceFn fn) {
      this.name = name;
      this.fn = fn;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of();
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      if (x.shape().rank() == 3) {
        return ctx.graph().add(new Reduce(fn, List.of(2), false), x);
      }
      requireImage(name, x);
      return ctx.graph().add(new Reduce(fn, List.of(2, 3), false), x);
    }
  }

  /**
   * {@code upsample(scale=2, mode=nearest|bilinear)}: {@code [C, H, W] → [C, s·H, s·W]} with an
   * integer factor, as PyTorch's {@code Upsample}. Nearest: each pixel broadcast to an s×s block
   * (a reshape, a broadcast and a reshape; its gradient sums each block). Bilinear
   * ({@code align_corners=False}, PyTorch's default): along each axis, output {@code s·i + j} mixes
   * pixel {@code i} with its neighbour on the side of {@code t = (j + ½)/s − ½} by {@code |t|}, the
   * edge pixel repeated past the border — shifted slices scaled and added, interleaved by a concat.
   */
  static final class Upsample implements Layer {
    @Override
    public String name() {
      return "upsample";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.of("scale", 2), Args.Spec.sym("mode", "nearest"));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      requireImage(name(), x);
      int[] s = pair(a, "scale", name(), 1);
      boolean bilinear = a.get("mode") instanceof SymV m && m.name().equals("bilinear");
      if (!bilinear && !(a.get("mode") instanceof SymV m && m.name().equals("nearest"))) {
        throw new LayerException("upsample mode " + show(a.get("mode")) + " is not supported",
            "use mode=nearest or mode=bilinear");
      }
      Shape xs = x.shape();
      long size = xs.size() * s[0] * s[1];
      if (size > Integer.MAX_VALUE) {
        throw new LayerException("upsample by " + s[0] + "×" + s[1] + " makes a tensor of " + size + " elements");
      }
      dev.nnc.ir.Graph.Builder b = ctx.graph();
      if (bilinear) {
        return linearAxis(b, linearAxis(b, x, 2, s[0]), 3, s[1]);
      }
      int n = xs.dim(0);
      int c = xs.dim(1);
      int h = xs.dim(2);
      int w = xs.dim(3);
      Node six = dev.nnc.ir.ops.Ops.reshape(b, x, Shape.of(n, c, h, 1, w, 1));
      Node blocks = dev.nnc.ir.ops.Ops.broadcastTo(b, six, Shape.of(n, c, h, s[0], w, s[1]));
      return dev.nnc.ir.ops.Ops.reshape(b, blocks, Shape.of(n, c, h * s[0], w * s[1]));
    }

    /** Linear interpolation by {@code scale} along {@code axis} (half-pixel centres, edges repeated). */
    static Node linearAxis(dev.nnc.ir.Graph.Builder b, Node x, int axis, int scale) {
      if (scale == 1) {
        return x;
      }
      Shape xs = x.shape();
      int n = xs.dim(axis);
      Node prev = x;
      Node next = x;
      if (n > 1) {
        prev = b.add(new dev.nnc.ir.ops.Concat(axis), List.of(b.add(new dev.nnc.ir.ops.Slice(axis, 0, 1), x),
            b.add(new dev.nnc.ir.ops.Slice(axis, 0, n - 1), x)));
        next = b.add(new dev.nnc.ir.ops.Concat(axis), List.of(b.add(new dev.nnc.ir.ops.Slice(axis, 1, n - 1), x),
            b.add(new dev.nnc.ir.ops.Slice(axis, n - 1, 1), x)));
      }
      int[] unit = new int[xs.rank() + 1];
      for (int i = 0, j = 0; i < unit.length; i++) {
        unit[i] = i == axis + 1 ? 1 : xs.dim(j++);
      }
      List<Node> parts = new java.util.ArrayList<>();
      for (int j = 0; j < scale; j++) {
        double t = (j + 0.5) / scale - 0.5;
        Node part = t == 0 ? x : t < 0
            ? dev.nnc.ir.ops.Ops.add(b, dev.nnc.ir.ops.Ops.scale(b, prev, -t), dev.nnc.ir.ops.Ops.scale(b, x, 1 + t))
            : dev.nnc.ir.ops.Ops.add(b, dev.nnc.ir.ops.Ops.scale(b, x, 1 - t), dev.nnc.ir.ops.Ops.scale(b, next, t));
        parts.add(dev.nnc.ir.ops.Ops.reshape(b, part, Shape.of(unit)));
      }
      Node joined = b.add(new dev.nnc.ir.ops.Concat(axis + 1), parts);
      int[] out = xs.dims().clone();
      out[axis] = n * scale;
      return dev.nnc.ir.ops.Ops.reshape(b, joined, Shape.of(out));
    }
  }

  /**
   * {@code zeropad(padding)}: zeros around an image, a number for every side or
   * {@code [top, left, bottom, right]} ({@code nn.ZeroPad2d}'s order is left, right, top, bottom).
   * The 1×1 windows of a padded input: predicated reads of the zeros, and its gradient drops them.
   */
  static final class ZeroPad implements Layer {
    @Override
    public String name() {
      return "zeropad";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.required("padding"));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      requireImage(name(), x);
      Val p = a.get("padding");
      int[] pad;
      if (p instanceof ListV l && l.items().size() == 4) {
        pad = new int[4];
        for (int i = 0; i < 4; i++) {
          if (!(l.items().get(i) instanceof NumV nv) || !nv.integral() || nv.value() < 0 || nv.value() > 1 << 20) {
            throw new LayerException("zeropad padding must be whole numbers ≥ 0, got " + show(p));
          }
          pad[i] = (int) ((NumV) l.items().get(i)).value();
        }
      } else {
        int[] hw = pair(a, "padding", name(), 0);
        pad = new int[] {hw[0], hw[1], hw[0], hw[1]};
      }
      Window win = new Window(1, 1, 1, 1, pad[0], pad[1], pad[2], pad[3], 1, 1);
      Shape xs = x.shape();
      Node windows = ctx.graph().add(new Patches(win, false, 0), x);
      return dev.nnc.ir.ops.Ops.reshape(ctx.graph(), windows,
          Shape.of(xs.dim(0), xs.dim(1), xs.dim(2) + pad[0] + pad[2], xs.dim(3) + pad[1] + pad[3]));
    }
  }
}
