package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * 2-D convolution (PyTorch's cross-correlation): {@code x[N, C, H, W]} and
 * {@code w[O, C/groups, KH, KW]} (PyTorch's weight layout) give {@code y[N, O, OH, OW]}. Bias is
 * a separate broadcast add. The {@code lower-conv} pass chooses how it is computed; its gradient
 * is written with the ops it lowers to, so the backward pass shares the forward's windows.
 */
public record Conv2d(Window window, int groups) implements Op {
  @Override
  public String mnemonic() {
    return "conv2d";
  }

  @Override
  public String attributes() {
    return window.text() + ", groups=" + groups;
  }

  @Override
  public int arity() {
    return 2;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape x = in.get(0).shape();
    Shape w = in.get(1).shape();
    int[] o = window.out(x, "conv2d");
    if (w.rank() != 4) {
      throw new ShapeException("conv2d weight must be [out, in/groups, kh, kw], got " + w);
    }
    if (groups < 1 || x.dim(1) % groups != 0 || w.dim(0) % groups != 0) {
      throw new ShapeException("conv2d: " + x.dim(1) + " input and " + w.dim(0)
          + " output channels must both be divisible by groups=" + groups);
    }
    if (w.dim(1) * groups != x.dim(1) || w.dim(2) != window.kh() || w.dim(3) != window.kw()) {
      throw new ShapeException("conv2d weight " + w + " does not fit input " + x + " with a " + window.kh() + "×"
          + window.kw() + " kernel and groups=" + groups);
    }
    return TensorType.f32(Shape.of(x.dim(0), w.dim(0), o[0], o[1]));
  }

  /** {@code x}'s windows as GEMM rows: {@code [N·OH·OW, C·KH·KW]}. */
  public static Node columns(Graph.Builder b, Window window, Node x) {
    Node p = b.add(new Patches(window, true, 0), x);
    Shape ps = p.shape();
    return Ops.reshape(b, p, Shape.of(ps.dim(0) * ps.dim(1) * ps.dim(2), ps.dim(3) * ps.dim(4) * ps.dim(5)));
  }

  /**
   * {@code x} with {@code window}'s zero padding written out ({@code [N, C, H + pt + pb, W + pl + pr]}),
   * or {@code x} itself when the window is unpadded: a direct convolution reads every window
   * element without a guard, and its border rows and columns vectorise like the interior.
   */
  public static Node padded(Graph.Builder b, Window window, Node x) {
    if (!window.padded()) {
      return x;
    }
    Shape xs = x.shape();
    Window pad = new Window(1, 1, 1, 1, window.pt(), window.pl(), window.pb(), window.pr(), 1, 1);
    return Ops.reshape(b, b.add(new Patches(pad, false, 0), x), Shape.of(xs.dim(0), xs.dim(1),
        xs.dim(2) + window.pt() + window.pb(), xs.dim(3) + window.pl() + window.pr()));
  }

  /** The weight as a GEMM operand: {@code [O, C·KH·KW]}. */
  public static Node weightMatrix(Graph.Builder b, Node w) {
    Shape s = w.shape();
    return Ops.reshape(b, w, Shape.of(s.dim(0), s.dim(1) * s.dim(2) * s.dim(3)));
  }

  /** {@code y[N, O, OH, OW]} as GEMM rows {@code [N·OH·OW, O]}. */
  public static Node rows(Graph.Builder b, Node y) {
    Shape s = y.shape();
    Node t = b.add(new Permute(List.of(0, 2, 3, 1)), y);
    return Ops.reshape(b, t, Shape.of(s.dim(0) * s.dim(2) * s.dim(3), s.dim(1)));
  }

  /**
   * The operands of group {@code g}: channels {@code [g·C/G, (g+1)·C/G)} of {@code x} and filters
   * {@code [g·O/G, (g+1)·O/G)} of {@code w} (slices, read in place).
   */
  private List<Node> group(Graph.Builder b, Node x, Node w, int g) {
    int cg = x.shape().dim(1) / groups;
    int og = w.shape().dim(0) / groups;
    return List.of(b.add(new Slice(1, g * cg, cg), x), b.add(new Slice(0, g * og, og), w));
  }

  /**
   * The gradient rule: {@code dx} is {@link Conv2dGradInput} and {@code dW}
   * {@link Conv2dGradWeight}, ops that {@code lower-conv} lowers as it does the convolution. A
   * grouped convolution is its groups side by side: each group's gradients are those of an
   * ungrouped convolution of its slices, joined along the channels (dx) and the filters (dW).
   */
  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    if (groups == 1) {
      return ungroupedGradients(b, self.input(0), self.input(1), dy);
    }
    int og = self.input(1).shape().dim(0) / groups;
    List<Node> dxs = new java.util.ArrayList<>();
    List<Node> dws = new java.util.ArrayList<>();
    for (int g = 0; g < groups; g++) {
      List<Node> xw = group(b, self.input(0), self.input(1), g);
      List<Node> d = ungroupedGradients(b, xw.get(0), xw.get(1), b.add(new Slice(1, g * og, og), dy));
      dxs.add(d.get(0));
      dws.add(d.get(1));
    }
    return List.of(b.add(new Concat(1), dxs), b.add(new Concat(0), dws));
  }

  private List<Node> ungroupedGradients(Graph.Builder b, Node x, Node w, Node dy) {
    Shape xs = x.shape();
    Node dx = b.add(new Conv2dGradInput(window, xs.dim(2), xs.dim(3)), dy, w);
    return List.of(dx, b.add(new Conv2dGradWeight(window), x, dy));
  }

  /** How {@code lower-conv} computes a convolution (see {@code passes/LowerConv} for the choice). */
  public enum Lowering {
    /**
     * im2col rows times Wᵀ: {@code [N·OH·OW, O]} pixel-major, then an element-wise transpose to
     * NCHW (which the next element-wise op reads in place).
     */
    IM2COL_ROWS,
    /**
     * W times im2col rows transposed: {@code [O, N·OH·OW]} channel-major, NCHW as it comes for
     * batch 1 (its bias and activation run in the GEMM's epilogue), else one block permute of
     * whole output maps.
     */
    IM2COL_COLUMNS,
    /** A 1×1, stride-1, unpadded convolution of one image: {@code W · x} with no im2col at all. */
    GEMM_1X1,
    /**
     * Winograd F(2×2, 3×3) for a 3×3, stride-1, undilated convolution: 4×4 input tiles, 16 tile
     * products of {@code [O, C]·[C, N·tiles]} (2.25× fewer multiplications than im2col).
     */
    WINOGRAD_2,
    /** Winograd F(4×4, 3×3): 6×6 input tiles, 36 tile products (4× fewer multiplications). */
    WINOGRAD_4,
    /**
     * Direct convolution: a loop nest whose body is each output's whole sum of
     * {@code C·KH·KW} products, vectorised along the output row, with no im2col copy and no
     * packing; for ungrouped layers of at most {@value #DIRECT_MAX_TERMS} products per output.
     */
    DIRECT;

    /** The most products per output ({@code C·KH·KW}) a direct convolution's kernel body holds. */
    public static final int DIRECT_MAX_TERMS = 64;

    public String text() {
      return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    /** Whether this lowering computes {@code c} on input {@code x}. */
    public boolean applies(Conv2d c, Shape x) {
      Window w = c.window();
      return switch (this) {
        case IM2COL_ROWS, IM2COL_COLUMNS -> true;
        case GEMM_1X1 -> x.dim(0) == 1 && w.kh() == 1 && w.kw() == 1 && w.sh() == 1 && w.sw() == 1 && !w.padded();
        case WINOGRAD_2, WINOGRAD_4 -> w.kh() == 3 && w.kw() == 3 && w.sh() == 1 && w.sw() == 1 && w.dh() == 1
            && w.dw() == 1;
        case DIRECT -> c.groups() == 1 && (long) x.dim(1) * w.kh() * w.kw() <= DIRECT_MAX_TERMS;
      };
    }

    /** The output tile side m of a Winograd lowering F(m×m, 3×3). */
    int tile() {
      return this == WINOGRAD_2 ? 2 : 4;
    }
  }

  /**
   * The convolution as {@code how} computes it; a grouped convolution is one such product per
   * group, joined along the channels.
   */
  public Node lower(Lowering how, Graph.Builder b, Node x, Node w, Shape out) {
    if (!how.applies(this, x.shape())) {
      throw new IllegalArgumentException(how.text() + " does not compute " + attributes() + " on " + x.shape());
    }
    if (groups == 1) {
      return ungrouped(how, b, x, w, out);
    }
    int og = out.dim(1) / groups;
    Shape part = Shape.of(out.dim(0), og, out.dim(2), out.dim(3));
    List<Node> ys = new java.util.ArrayList<>();
    for (int g = 0; g < groups; g++) {
      List<Node> xw = group(b, x, w, g);
      ys.add(ungrouped(how, b, xw.get(0), xw.get(1), part));
    }
    return b.add(new Concat(1), ys);
  }

  private Node ungrouped(Lowering how, Graph.Builder b, Node x, Node w, Shape out) {
    return switch (how) {
      case IM2COL_ROWS -> ungroupedIm2col(b, x, w, out);
      case IM2COL_COLUMNS -> {
        int n = out.dim(0);
        int pixels = out.dim(2) * out.dim(3);
        Node y = b.add(new MatMul(false, true), weightMatrix(b, w), columns(b, window, x));   // [O, N·OH·OW]
        if (n == 1) {
          yield Ops.reshape(b, y, out);
        }
        Node blocks = b.add(new Permute(List.of(1, 0, 2)), Ops.reshape(b, y, Shape.of(out.dim(1), n, pixels)));
        yield Ops.reshape(b, blocks, out);
      }
      case GEMM_1X1 -> {
        Shape xs = x.shape();
        Node maps = Ops.reshape(b, x, Shape.of(xs.dim(1), xs.dim(2) * xs.dim(3)));        // [C, H·W]
        yield Ops.reshape(b, b.add(new MatMul(false, false), weightMatrix(b, w), maps), out);
      }
      case WINOGRAD_2, WINOGRAD_4 -> winograd(how.tile(), b, x, w, out);
      case DIRECT -> b.add(new Conv2d(window.unpadded(), 1), padded(b, window, x), w);   // the op stays: lowering emits its nest
    };
  }

  /**
   * F(m×m, 3×3): per output tile {@code Y = Aᵀ[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]A}, where d is the α×α input
   * window (α = m + 2) at {@code (th·m − pt, tw·m − pl)}. The element-wise product summed over
   * channels is, for each of the α² tile positions, one product {@code [O, C]·[C, N·TH·TW]}:
   *
   * <pre>
   *   V = winograd_tiles(Bᵀ, stride m)(x)     [α², C, N·TH·TW]   (input padding read as zeros)
   *   U = winograd_tiles(G, stride 3)(wᵀ)     [α², O, C]          (w [O, C, 3, 3] as [C, O, 3, 3]: C images)
   *   M = U · V, batched over α²               [α², O, N·TH·TW]
   *   y = winograd_untiles(Aᵀ, stride m)(M)   [N, O, OH, OW]      (tiles past the map dropped)
   * </pre>
   */
  private Node winograd(int m, Graph.Builder b, Node x, Node w, Shape out) {
    Shape xs = x.shape();
    int oh = out.dim(2);
    int ow = out.dim(3);
    int th = (oh + m - 1) / m;
    int tw = (ow + m - 1) / m;
    Node v = b.add(new Winograd(true, Winograd.Matrix.of('B', m), false, m, window.pt(), window.pl(), th, tw, xs.dim(2),
        xs.dim(3)), x);
    // The filters as C images of O channels, so that U is [α², O, C]: GEMM rows read contiguously.
    Node wt = b.add(new Permute(List.of(1, 0, 2, 3)), w);
    Node u = b.add(new Winograd(true, Winograd.Matrix.of('G', m), false, 3, 0, 0, 1, 1, 3, 3), wt);
    Node products = b.add(new MatMul(false, false), u, v);
    return b.add(new Winograd(false, Winograd.Matrix.of('A', m), false, m, 0, 0, th, tw, oh, ow), products);
  }

  private Node ungroupedIm2col(Graph.Builder b, Node x, Node w, Shape out) {
    Node y = b.add(new MatMul(false, true), columns(b, window, x), weightMatrix(b, w));   // [N·OH·OW, O]
    Node nhwc = Ops.reshape(b, y, Shape.of(out.dim(0), out.dim(2), out.dim(3), out.dim(1)));
    return b.add(new Permute(List.of(0, 3, 1, 2)), nhwc);
  }
}
