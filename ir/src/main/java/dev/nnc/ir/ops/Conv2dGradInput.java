package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * The gradient of an ungrouped {@link Conv2d} with respect to its input (PyTorch's
 * {@code conv_transpose2d} with the convolution's geometry): {@code dy[N, O, OH, OW]} and
 * {@code w[O, C, KH, KW]} give {@code dx[N, C, h, w]}, each output element spread back over the
 * window it was computed from,
 * {@code dx[n, c, oh·s + kh·d − pt, ow·s + kw·d − pl] += dy[n, o, oh, ow]·w[o, c, kh, kw]}.
 * It is an op of its own, not its im2col form, so that {@code lower-conv} chooses its lowering
 * as it does the forward convolution's: {@code patches_grad(dy·W)} (col2im), or for a 3×3
 * stride-1 convolution Winograd, since it then is a convolution of {@code dy} with the flipped
 * filters:
 *
 * <pre>
 *   %9 = conv2d_grad_input[kernel=[3,3], stride=[1,1], pad=[1,1,1,1], dilation=[1,1], h=32, w=32](%dy, %w) : f32[32,64,32,32]
 * </pre>
 */
public record Conv2dGradInput(Window window, int h, int w) implements Op {
  @Override
  public String mnemonic() {
    return "conv2d_grad_input";
  }

  @Override
  public String attributes() {
    return window.text() + ", h=" + h + ", w=" + w;
  }

  @Override
  public int arity() {
    return 2;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape dy = in.get(0).shape();
    Shape ws = in.get(1).shape();
    if (dy.rank() != 4 || ws.rank() != 4) {
      throw new ShapeException("conv2d_grad_input expects dy [N, O, OH, OW] and w [O, C, KH, KW], got " + dy + " and "
          + ws);
    }
    Shape x = Shape.of(dy.dim(0), ws.dim(1), h, w);
    int[] o = window.out(x, "conv2d_grad_input");
    if (ws.dim(0) != dy.dim(1) || ws.dim(2) != window.kh() || ws.dim(3) != window.kw() || o[0] != dy.dim(2)
        || o[1] != dy.dim(3)) {
      throw new ShapeException("conv2d_grad_input: dy " + dy + " and w " + ws + " do not come from a convolution of "
          + x + " with " + window.text());
    }
    return TensorType.f32(x);
  }

  /**
   * {@code dx} is linear in {@code dy}, with the convolution as its adjoint, and in {@code w},
   * where it is the convolution's weight gradient with the roles of input and output swapped.
   */
  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node g) {
    Node dy = self.input(0);
    Node w = self.input(1);
    Node ddy = b.add(new Conv2d(window, 1), g, w);
    Node dw = b.add(new Conv2dGradWeight(window), g, dy);
    return List.of(ddy, dw);
  }

  /** The col2im form: {@code dcols = dy·W} as GEMM rows, added back onto the windows' positions. */
  public Node lowerCol2im(Graph.Builder b, Node dy, Node weight) {
    Shape ws = weight.shape();
    Shape ys = dy.shape();
    Node dcols = b.add(new MatMul(false, false), Conv2d.rows(b, dy), Conv2d.weightMatrix(b, weight));
    Node dp = Ops.reshape(b, dcols, Shape.of(ys.dim(0), ys.dim(2), ys.dim(3), ws.dim(1), ws.dim(2), ws.dim(3)));
    return b.add(new PatchesGrad(window, true, h, w), dp);
  }

  /** Whether Winograd computes it: a 3×3, stride-1, undilated window padded by at most 2 on each side. */
  public boolean winogradApplies() {
    Window v = window;
    return v.kh() == 3 && v.kw() == 3 && v.sh() == 1 && v.sw() == 1 && v.dh() == 1 && v.dw() == 1 && v.pt() <= 2
        && v.pl() <= 2 && v.pb() <= 2 && v.pr() <= 2;
  }

  /**
   * Winograd F(m×m, 3×3): with stride 1, {@code dx} is the correlation of {@code dy}, padded by
   * {@code 2 − p} on each side, with the filters flipped and transposed,
   * {@code w'[c, o] = flip(w[o, c])}. The flip is G with its columns reversed
   * ({@code G·J·g·J·Gᵀ = G·flip(g)·Gᵀ}), and read as {@code [O, C, 3, 3]} images the filter tiles
   * come out {@code [α², C, O]}, as the products need them:
   *
   * <pre>
   *   V  = winograd_tiles(Bᵀ, stride m, pad 2 − p)(dy)   [α², O, N·TH·TW]   tiles over dx's h×w
   *   U  = winograd_tiles(G reversed)(w)                 [α², C, O]
   *   dx = winograd_untiles(Aᵀ)(U · V)                   [N, C, h, w]
   * </pre>
   */
  public Node lowerWinograd(int m, Graph.Builder b, Node dy, Node weight) {
    if (!winogradApplies()) {
      throw new IllegalArgumentException("Winograd does not compute conv2d_grad_input[" + attributes() + "]");
    }
    int th = (h + m - 1) / m;
    int tw = (w + m - 1) / m;
    Shape ys = dy.shape();
    Node v = b.add(new Winograd(true, Winograd.Matrix.of('B', m), false, m, 2 - window.pt(), 2 - window.pl(), th, tw,
        ys.dim(2), ys.dim(3)), dy);
    Node u = b.add(new Winograd(true, Winograd.Matrix.of('R', m), false, 3, 0, 0, 1, 1, 3, 3), weight);
    Node products = b.add(new MatMul(false, false), u, v);
    return b.add(new Winograd(false, Winograd.Matrix.of('A', m), false, m, 0, 0, th, tw, h, w), products);
  }
}
