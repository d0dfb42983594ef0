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
    return List.of(new Conv2dLayer(), new Pool("maxpool", ReduceFn.MAX), new Pool("maxpool2d", ReduceFn.MAX),
        new Pool("avgpool", ReduceFn.MEAN), new Pool("avgpool2d", ReduceFn.MEAN),
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
    Val v = a.get(name);
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
  static Window window(Args a, String layer, int[] k, int[] s, int[] d, Shape x) {
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
    int[] pad = pair(a, "padding", layer, 0);
    return new Window(k[0], k[1], s[0], s[1], pad[0], pad[1], pad[0], pad[1], d[0], d[1]);
  }

  static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }

  /** The window's output size, or a located error naming the sizes and the fix. */
  static int[] checkFits(String layer, Window win, Shape x) {
    int oh = win.outH(x.dim(2));
    int ow = win.outW(x.dim(3));
    if (oh < 1 || ow < 1) {
      int eh = win.dh() * (win.kh() - 1) + 1;
      int ew = win.dw() * (win.kw() - 1) + 1;
      throw new LayerException(layer + ": the " + eh + "×" + ew + " window is larger than the " + (x.dim(2) + win.pt()
          + win.pb()) + "×" + (x.dim(3) + win.pl() + win.pr()) + " (padded) input " + x.dropFirst(),
          "use a smaller kernel, add padding (padding=same), or remove a pooling layer before it");
    }
    return new int[] {oh, ow};
  }

  /**
   * {@code conv2d(filters, kernel, stride=1, padding=valid, dilation=1, groups=1, bias=true,
   * init=glorot_uniform, bias_init=zeros)}: weight {@code [filters, C/groups, kh, kw]} and bias
   * {@code [filters]}, named and laid out as PyTorch's Conv2d.
   */
  static final class Conv2dLayer implements Layer {
    @Override
    public String name() {
      return "conv2d";
    }

    @Override
    public List<Args.Spec> specs() {
      return List.of(Args.Spec.required("filters"), Args.Spec.required("kernel"), Args.Spec.of("stride", 1),
          Args.Spec.sym("padding", "valid"), Args.Spec.of("dilation", 1), Args.Spec.of("groups", 1),
          Args.Spec.sym("bias", "true"), Args.Spec.sym("init", "glorot_uniform"), Args.Spec.sym("bias_init", "zeros"));
    }

    @Override
    public Node apply(LayerContext ctx, List<Node> in, Args a) {
      Node x = in.get(0);
      requireImage(name(), x);
      int filters = a.positiveInt("filters");
      int groups = a.positiveInt("groups");
      int[] k = pair(a, "kernel", name(), 1);
      int[] s = pair(a, "stride", name(), 1);
      int[] d = pair(a, "dilation", name(), 1);
      int c = x.shape().dim(1);
      if (c % groups != 0 || filters % groups != 0) {
        throw new LayerException("conv2d: " + c + " input channels and " + filters
            + " filters must both be divisible by groups=" + groups, "choose groups that divides both");
      }
      Window win = window(a, name(), k, s, d, x.shape());
      checkFits(name(), win, x.shape());
      Node w = ctx.param("weight", Shape.of(filters, c / groups, k[0], k[1]),
          Inits.parse(a.get("init"), "conv2d weights"));
      Node y = ctx.graph().add(new Conv2d(win, groups), x, w);
      if (a.bool("bias")) {
        Node bias = ctx.param("bias", Shape.of(filters), Inits.parse(a.get("bias_init"), "conv2d bias"));
        Node b3 = dev.nnc.ir.ops.Ops.reshape(ctx.graph(), bias, Shape.of(filters, 1, 1));
        y = ctx.graph().add(new Binary(BinaryFn.ADD), y, b3);
      }
      return y;
    }
  }

  /**
   * {@code maxpool(kernel, stride=kernel, padding=0, ceil_mode=false)} and {@code avgpool(…)}:
   * a reduction over each window, which reads the input in place (the windows are never stored).
   * Average pooling counts the padding, as PyTorch does by default.
   */
  static final class Pool implements Layer {
    private final String name;
    private final ReduceFn fn;

    Pool(String name, ReduceFn fn) {
      this.name = name;
      this.fn = fn;
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
      Node x = in.get(0);
      requireImage(name, x);
      int[] k = pair(a, "kernel", name, 1);
      int[] s = a.get("stride") instanceof SymV sym && sym.name().equals("kernel") ? k : pair(a, "stride", name, 1);
      int[] p = pair(a, "padding", name, 0);
      if (2 * p[0] > k[0] || 2 * p[1] > k[1]) {
        throw new LayerException(name + " padding " + p[0] + "," + p[1] + " is more than half the " + k[0] + "×" + k[1]
            + " kernel", "use padding ≤ kernel / 2 (a window entirely in the padding has nothing to pool)");
      }
      int[] extra = {0, 0};
      if (a.bool("ceil_mode")) {
        if (fn == ReduceFn.MEAN) {
          throw new LayerException(name + " with ceil_mode=true is not supported yet", "use ceil_mode=false");
        }
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
      checkFits(name, win, x.shape());
      double fill = fn == ReduceFn.MAX ? Double.NEGATIVE_INFINITY : 0;
      Node windows = ctx.graph().add(new Patches(win, false, fill), x);
      return ctx.graph().add(new Reduce(fn, List.of(4, 5), false), windows);
    }
  }

  /** {@code global_avgpool}, {@code global_maxpool}: {@code [C, H, W] → [C]}. */
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
      requireImage(name, x);
      return ctx.graph().add(new Reduce(fn, List.of(2, 3), false), x);
    }
  }

  /**
   * {@code upsample(scale=2)}: nearest-neighbour upsampling, {@code [C, H, W] → [C, s·H, s·W]}
   * (PyTorch's {@code Upsample(mode="nearest")} with an integer factor): each pixel broadcast to
   * an s×s block, which the ops already have — a reshape, a broadcast and a reshape; its
   * gradient sums each block.
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
      if (!(a.get("mode") instanceof SymV m && m.name().equals("nearest"))) {
        throw new LayerException("upsample mode " + show(a.get("mode")) + " is not supported yet",
            "use mode=nearest (bilinear comes later)");
      }
      Shape xs = x.shape();
      long size = xs.size() * s[0] * s[1];
      if (size > Integer.MAX_VALUE) {
        throw new LayerException("upsample by " + s[0] + "×" + s[1] + " makes a tensor of " + size + " elements");
      }
      dev.nnc.ir.Graph.Builder b = ctx.graph();
      int n = xs.dim(0);
      int c = xs.dim(1);
      int h = xs.dim(2);
      int w = xs.dim(3);
      Node six = dev.nnc.ir.ops.Ops.reshape(b, x, Shape.of(n, c, h, 1, w, 1));
      Node blocks = dev.nnc.ir.ops.Ops.broadcastTo(b, six, Shape.of(n, c, h, s[0], w, s[1]));
      return dev.nnc.ir.ops.Ops.reshape(b, blocks, Shape.of(n, c, h * s[0], w * s[1]));
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
