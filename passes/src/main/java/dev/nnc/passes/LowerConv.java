package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.Conv2dGradInput;
import dev.nnc.ir.ops.Conv2dGradWeight;
import dev.nnc.ir.ops.Window;

/**
 * {@code lower-conv}: chooses how each convolution is computed ({@link Conv2d.Lowering}) and
 * rewrites it into the ops that compute it. The choice, per layer:
 *
 * <ul>
 *   <li>a 1×1, stride-1, unpadded convolution of one image is {@code W · x}: the input already is
 *       the GEMM's operand, so there is no im2col copy and the output is NCHW
 *       ({@code gemm-1x1});
 *   <li>any other convolution of one image is {@code W · colsᵀ} ({@code im2col-columns}): its
 *       output is NCHW as the GEMM writes it, so the bias and activation after it become the
 *       GEMM's epilogue and no transpose follows;
 *   <li>a batch is {@code cols · Wᵀ} ({@code im2col-rows}), then a transpose to NCHW that the next
 *       element-wise op reads in place;
 *   <li>but an ungrouped convolution with a spatial kernel and at most {@value #DIRECT_TERMS}
 *       products per output ({@code C·KH·KW}, LeNet-5's one-channel 5×5 first layer) is computed
 *       directly ({@code direct}): the {@code conv2d} op stays, on its input with the padding
 *       written out, and lowering gives it a nest whose body is each output's whole sum; so is
 *       its weight gradient;
 *   <li>but an ungrouped 3×3, stride-1, undilated convolution of at least
 *       {@value #WINOGRAD_MIN_CHANNELS} input channels and {@value #WINOGRAD_MIN_TILES} output tiles
 *       is Winograd: F(4×4, 3×3) ({@code winograd-4}, 36 tile products for 16 output pixels) when
 *       it has at least {@value #WINOGRAD4_MIN_CHANNELS} input and output channels and as many
 *       4×4 tiles, else F(2×2, 3×3) ({@code winograd-2}, 16 products for 4 pixels; direct
 *       convolution takes 9 multiplications per pixel and channel pair).
 * </ul>
 *
 * The rule comes from measurements (docs/benchmarks.md, "Convolution lowerings"). The system
 * property {@code nnc.conv} ({@code -Dnnc.conv=im2col-rows}, {@code im2col-columns},
 * {@code gemm-1x1}, {@code winograd-2}, {@code winograd-4}, {@code direct} or {@code auto}, in
 * {@code NNC_JAVA_OPTS}) forces one where it applies, for
 * experiments and benchmarks. For example, with a batch:
 *
 * <pre>
 *   %2 = conv2d[kernel=[5,5], …](%x, %w) : f32[64,6,24,24]
 *     →
 *   %2 = patches[…, channelsLast=true, fill=0.0](%x) : f32[64,24,24,1,5,5]     // im2col
 *   %3 = reshape[shape=[36864,25]](%2)
 *   %4 = reshape[shape=[6,25]](%w)
 *   %5 = matmul[transA=false, transB=true](%3, %4) : f32[36864,6]
 *   %6 = reshape[shape=[64,24,24,6]](%5)
 *   %7 = permute[perm=[0,3,1,2]](%6) : f32[64,6,24,24]                    // NHWC rows → NCHW
 * </pre>
 *
 * The input gradient of a convolution ({@code conv2d_grad_input}) is lowered here too: Winograd
 * for 3×3 stride-1 layers by the same rule (it is a correlation of dy with the flipped filters),
 * else col2im ({@code patches_grad(dy·W)}), and so is the weight gradient
 * ({@code conv2d_grad_weight}): Winograd, whose input tiles CSE then shares with a Winograd
 * forward pass, else {@code dyᵀ·cols}, whose im2col CSE shares with an im2col forward pass.
 */
public final class LowerConv implements Pass {
  /** The system property that forces a lowering. */
  public static final String PROPERTY = "nnc.conv";

  private final Conv2d.Lowering forced;

  /** The lowering the {@value #PROPERTY} property names, else the cost model's. */
  public LowerConv() {
    this(forcedByProperty());
  }

  /** {@code forced}: this lowering wherever it applies (null: the cost model's choice). */
  public LowerConv(Conv2d.Lowering forced) {
    this.forced = forced;
  }

  static Conv2d.Lowering forcedByProperty() {
    String v = System.getProperty(PROPERTY, "auto").strip();
    if (v.equals("auto")) {
      return null;
    }
    for (Conv2d.Lowering l : Conv2d.Lowering.values()) {
      if (l.text().equals(v)) {
        return l;
      }
    }
    throw new IllegalArgumentException("-D" + PROPERTY + "=" + v + " is not a convolution lowering; use auto, "
        + String.join(", ", java.util.Arrays.stream(Conv2d.Lowering.values()).map(Conv2d.Lowering::text).toList()));
  }

  /** Input channels from which Winograd's transforms pay for themselves (the first RGB layer's do not). */
  public static final int WINOGRAD_MIN_CHANNELS = 16;

  /**
   * Output tiles (images × tile rows × tile columns) from which Winograd pays for its filter
   * transform, which runs every call and costs about as much as the products of this many tiles:
   * below it (a 512-channel 4×4 map of one image has 4) the filters' 16 transformed copies cost
   * more than the multiplications they save.
   */
  public static final int WINOGRAD_MIN_TILES = 64;

  /** The cost model: what computes {@code c} on {@code x} fastest (see the class comment). */
  public static Conv2d.Lowering choose(Conv2d c, Shape x, Shape w) {
    if (Conv2d.Lowering.GEMM_1X1.applies(c, x)) {
      return Conv2d.Lowering.GEMM_1X1;
    }
    if (Conv2d.Lowering.DIRECT.applies(c, x) && direct(x.dim(1), c.window())) {
      return Conv2d.Lowering.DIRECT;
    }
    if (Conv2d.Lowering.WINOGRAD_2.applies(c, x) && c.groups() == 1) {
      Window v = c.window();
      int m = winogradTile(x.dim(1), w.dim(0), x.dim(0), v.outH(x.dim(2)), v.outW(x.dim(3)));
      if (m != 0) {
        return m == 4 ? Conv2d.Lowering.WINOGRAD_4 : Conv2d.Lowering.WINOGRAD_2;
      }
    }
    return x.dim(0) == 1 ? Conv2d.Lowering.IM2COL_COLUMNS : Conv2d.Lowering.IM2COL_ROWS;
  }

  /**
   * Input and output channels from which F(4×4, 3×3) beats F(2×2, 3×3): its input transform costs
   * 2.25× F(2×2)'s per input element, its products 1.78× less. With the transforms vectorised
   * across tiles (codegen-cpu/WinogradEmitter) it wins from 64 channels: 64→64 at 56×56, batch 1,
   * 0.64 ms against F(2×2)'s 0.90; ResNet-18 CIFAR's training step at batch 32 491–543 ms against
   * 571–597 (docs/benchmarks.md). Before that, with the nests, it took 128 (64→64 at 56×56: 1.89
   * against 1.33 ms).
   */
  public static final int WINOGRAD4_MIN_CHANNELS = 64;

  /**
   * The Winograd tile m (4, 2, or 0 for none) the cost model takes for a 3×3 stride-1
   * correlation of {@code in} channels into {@code out} channels whose result is
   * {@code images × oh × ow}: the forward convolution, and the input gradient (a correlation of
   * {@code dy}'s channels into {@code x}'s).
   */
  static int winogradTile(int in, int out, int images, int oh, int ow) {
    if (in < WINOGRAD_MIN_CHANNELS) {
      return 0;
    }
    if (in >= WINOGRAD4_MIN_CHANNELS && out >= WINOGRAD4_MIN_CHANNELS && tiles(images, oh, ow, 4) >= WINOGRAD_MIN_TILES) {
      return 4;
    }
    return tiles(images, oh, ow, 2) >= WINOGRAD_MIN_TILES ? 2 : 0;
  }

  private static long tiles(int images, int oh, int ow, int m) {
    return (long) images * ((oh + m - 1) / m) * ((ow + m - 1) / m);
  }

  /**
   * How {@code g} (the input gradient of a convolution) is computed: Winograd where it applies
   * and the forced lowering or the cost model says so, else col2im, {@code patches_grad(dy·W)}.
   */
  public Conv2d.Lowering decide(Conv2dGradInput g, Shape dy, Shape w) {
    return decideGradient(g.winogradApplies(), dy.dim(1), w.dim(1), dy.dim(0), g.h(), g.w());
  }

  /**
   * A gradient's lowering: im2col's form where Winograd does not apply, else the forced lowering,
   * else Winograd's tile for a correlation of {@code in} into {@code out} channels over
   * {@code images × oh × ow} results (im2col's form when it is 0).
   */
  private Conv2d.Lowering decideGradient(boolean winogradApplies, int in, int out, int images, int oh, int ow) {
    if (!winogradApplies) {
      return Conv2d.Lowering.IM2COL_ROWS;
    }
    if (forced != null) {
      return forced;
    }
    int m = winogradTile(in, out, images, oh, ow);
    return m == 4 ? Conv2d.Lowering.WINOGRAD_4 : m == 2 ? Conv2d.Lowering.WINOGRAD_2 : Conv2d.Lowering.IM2COL_ROWS;
  }

  /**
   * How {@code g} (the weight gradient of a convolution of {@code x} whose output gradient is
   * {@code dy}) is computed: Winograd where it applies and the forced lowering or the cost model
   * says so (it then shares the forward pass's input tiles), else {@code dyᵀ·cols}.
   */
  public Conv2d.Lowering decide(Conv2dGradWeight g, Shape x, Shape dy) {
    Window v = g.window();
    long terms = (long) x.dim(1) * v.kh() * v.kw();
    if (terms <= Conv2d.Lowering.DIRECT_MAX_TERMS
        && (forced == Conv2d.Lowering.DIRECT || forced == null && direct(x.dim(1), v))) {
      return Conv2d.Lowering.DIRECT;
    }
    return decideGradient(g.winogradApplies(), x.dim(1), dy.dim(1), dy.dim(0), dy.dim(2), dy.dim(3));
  }

  /**
   * Products per output up to which the cost model takes a direct convolution for a spatial
   * kernel (and for its weight gradient): LeNet-5's first layer, one channel 5×5, whose im2col
   * copy and GEMM packing took 2.1 ms of a 7.8 ms training step against a few hundredths for
   * the products themselves (docs/benchmarks.md). 1×1 kernels keep their GEMM.
   */
  public static final int DIRECT_TERMS = 25;

  /** Whether the cost model computes a convolution of {@code channels} input channels directly. */
  static boolean direct(int channels, Window v) {
    return v.kh() * v.kw() > 1 && (long) channels * v.kh() * v.kw() <= DIRECT_TERMS;
  }

  /** The ops that compute {@code g} the way {@code how} names (im2col lowerings: {@code dyᵀ·cols}). */
  static dev.nnc.ir.Node lower(Conv2dGradWeight g, Conv2d.Lowering how, dev.nnc.ir.Graph.Builder b, dev.nnc.ir.Node x,
      dev.nnc.ir.Node dy, Shape ws) {
    return switch (how) {
      case IM2COL_ROWS, IM2COL_COLUMNS, GEMM_1X1 -> g.lowerIm2col(b, x, dy, ws);
      case WINOGRAD_2 -> g.lowerWinograd(2, b, x, dy);
      case WINOGRAD_4 -> g.lowerWinograd(4, b, x, dy);
      // The op stays, on the input with its padding written out (the forward pass's copy, which
      // CSE shares), so that every kernel offset sums over the same rows and columns.
      case DIRECT -> b.add(new Conv2dGradWeight(g.window().unpadded()), Conv2d.padded(b, g.window(), x), dy);
    };
  }

  /** The ops that compute {@code g} the way {@code how} names (im2col lowerings: col2im). */
  static dev.nnc.ir.Node lower(Conv2dGradInput g, Conv2d.Lowering how, dev.nnc.ir.Graph.Builder b, dev.nnc.ir.Node dy,
      dev.nnc.ir.Node w) {
    return switch (how) {
      case IM2COL_ROWS, IM2COL_COLUMNS, GEMM_1X1, DIRECT -> g.lowerCol2im(b, dy, w);
      case WINOGRAD_2 -> g.lowerWinograd(2, b, dy, w);
      case WINOGRAD_4 -> g.lowerWinograd(4, b, dy, w);
    };
  }

  /**
   * What this pass does with {@code c} on input {@code x} and weight {@code w}: the forced
   * lowering where it applies, else the cost model's.
   */
  public Conv2d.Lowering decide(Conv2d c, Shape x, Shape w) {
    return forced != null && forced.applies(c, x) ? forced : choose(c, x, w);
  }

  /**
   * One comment line per convolution of {@code before} (the graph this pass receives) naming the
   * lowering it gets, for {@code nnc emit --ir --after lower-conv}.
   */
  public String explain(Graph before) {
    StringBuilder sb = new StringBuilder();
    for (dev.nnc.ir.Node n : before.nodes()) {
      if (n.op() instanceof Conv2d c) {
        Shape x = n.input(0).shape();
        sb.append("// lower-conv: %").append(n.id()).append(" conv2d ").append(x).append(" → ").append(n.shape())
            .append(" (").append(c.window().kh()).append('×').append(c.window().kw()).append(", stride ")
            .append(c.window().sh()).append(c.groups() > 1 ? ", groups " + c.groups() : "").append("): ")
            .append(decide(c, x, n.input(1).shape()).text()).append(forced != null && forced.applies(c, x) ? " (forced)" : "")
            .append('\n');
      } else if (n.op() instanceof Conv2dGradWeight g) {
        Conv2d.Lowering how = decide(g, n.input(0).shape(), n.input(1).shape());
        sb.append("// lower-conv: %").append(n.id()).append(" conv2d_grad_weight ").append(n.input(1).shape())
            .append(" → ").append(n.shape()).append(": ")
            .append(how.text().startsWith("winograd") || how == Conv2d.Lowering.DIRECT ? how.text() : "im2col")
            .append(forced != null && g.winogradApplies() ? " (forced)" : "").append('\n');
      } else if (n.op() instanceof Conv2dGradInput g) {
        Conv2d.Lowering how = decide(g, n.input(0).shape(), n.input(1).shape());
        sb.append("// lower-conv: %").append(n.id()).append(" conv2d_grad_input ").append(n.input(0).shape()).append(" → ")
            .append(n.shape()).append(": ").append(how.text().startsWith("winograd") ? how.text() : "col2im")
            .append(forced != null && g.winogradApplies() ? " (forced)" : "").append('\n');
      }
    }
    return sb.toString();
  }

  @Override
  public String name() {
    return "lower-conv";
  }

  @Override
  public Graph apply(Graph g) {
    return Rebuilder.rebuild(g, null, (b, n, ins) -> {
      if (n.op() instanceof Conv2d c) {
        return c.lower(decide(c, ins.get(0).shape(), ins.get(1).shape()), b, ins.get(0), ins.get(1), n.shape());
      }
      if (n.op() instanceof Conv2dGradInput gi) {
        return lower(gi, decide(gi, ins.get(0).shape(), ins.get(1).shape()), b, ins.get(0), ins.get(1));
      }
      if (n.op() instanceof Conv2dGradWeight gw) {
        return lower(gw, decide(gw, ins.get(0).shape(), ins.get(1).shape()), b, ins.get(0), ins.get(1), n.shape());
      }
      return null;                                   // every other op stays as it is
    });
  }
}
