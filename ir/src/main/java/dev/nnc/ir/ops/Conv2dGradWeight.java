package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * The gradient of an ungrouped {@link Conv2d} with respect to its weight: {@code x[N, C, H, W]}
 * and {@code dy[N, O, OH, OW]} give
 * {@code dW[o, c, kh, kw] = Σ_{n,oh,ow} dy[n, o, oh, ow]·x[n, c, oh·s + kh·d − pt, ow·s + kw·d − pl]}
 * (zero outside the image). An op of its own so that {@code lower-conv} chooses its lowering: the
 * im2col product {@code dyᵀ·cols}, or for a 3×3 stride-1 convolution Winograd, which reads the
 * same input tiles as the forward pass's Winograd lowering (CSE then shares them):
 *
 * <pre>
 *   %9 = conv2d_grad_weight[kernel=[3,3], stride=[1,1], pad=[1,1,1,1], dilation=[1,1], filters=64](%x, %dy) : f32[64,64,3,3]
 * </pre>
 */
public record Conv2dGradWeight(Window window) implements Op {
  @Override
  public String mnemonic() {
    return "conv2d_grad_weight";
  }

  @Override
  public String attributes() {
    return window.text();
  }

  @Override
  public int arity() {
    return 2;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape x = in.get(0).shape();
    Shape dy = in.get(1).shape();
    if (x.rank() != 4 || dy.rank() != 4) {
      throw new ShapeException("conv2d_grad_weight expects x [N, C, H, W] and dy [N, O, OH, OW], got " + x + " and " + dy);
    }
    int[] o = window.out(x, "conv2d_grad_weight");
    if (dy.dim(0) != x.dim(0) || o[0] != dy.dim(2) || o[1] != dy.dim(3)) {
      throw new ShapeException("conv2d_grad_weight: dy " + dy + " is not the output of a convolution of " + x + " with "
          + window.text());
    }
    return TensorType.f32(Shape.of(dy.dim(1), x.dim(1), window.kh(), window.kw()));
  }

  /**
   * Bilinear in {@code x} and {@code dy}: against the weight gradient {@code g}, {@code x} gets
   * the input gradient of a convolution with weight g, and {@code dy} the convolution of x with g.
   */
  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node g) {
    Node x = self.input(0);
    Node dy = self.input(1);
    Node dx = b.add(new Conv2dGradInput(window, x.shape().dim(2), x.shape().dim(3)), dy, g);
    Node ddy = b.add(new Conv2d(window, 1), x, g);
    return List.of(dx, ddy);
  }

  /** The im2col form: {@code dW = dyᵀ·cols}, the output gradient as GEMM rows against the windows. */
  public Node lowerIm2col(Graph.Builder b, Node x, Node dy, Shape ws) {
    Node dyRows = Conv2d.rows(b, dy);                            // [N·OH·OW, O]
    Node cols = Conv2d.columns(b, window, x);                    // [N·OH·OW, C·KH·KW]
    return Ops.reshape(b, b.add(new MatMul(true, false), dyRows, cols), ws);
  }

  /** Whether Winograd computes it: a 3×3, stride-1, undilated window. */
  public boolean winogradApplies() {
    Window v = window;
    return v.kh() == 3 && v.kw() == 3 && v.sh() == 1 && v.sw() == 1 && v.dh() == 1 && v.dw() == 1;
  }

  /**
   * Winograd F(m×m, 3×3) backwards. The forward tile is {@code y = Aᵀ[(G·g·Gᵀ) ⊙ V]A}, so against
   * the output gradient {@code dy} of that tile the filter's gradient is
   * {@code Gᵀ[V ⊙ (A·dy·Aᵀ)]G}, summed over tiles and images: per tile position, one product of
   * the transformed output gradients with the input tiles, over all tiles.
   *
   * <pre>
   *   V  = winograd_tiles(Bᵀ, stride m)(x)              [α², C, N·TH·TW]   the forward's input tiles
   *   D  = winograd_tiles(Aᵀ transposed, stride m)(dy)  [α², O, N·TH·TW]   A·dy·Aᵀ per m×m tile
   *   dU = V · Dᵀ, batched over α²                      [α², C, O]
   *   dW = winograd_untiles(G transposed)(dU)           [O, C, 3, 3]       Gᵀ·du·G per filter
   * </pre>
   */
  public Node lowerWinograd(int m, Graph.Builder b, Node x, Node dy) {
    if (!winogradApplies()) {
      throw new IllegalArgumentException("Winograd does not compute conv2d_grad_weight[" + attributes() + "]");
    }
    Shape ys = dy.shape();
    Shape xs = x.shape();
    int th = (ys.dim(2) + m - 1) / m;
    int tw = (ys.dim(3) + m - 1) / m;
    Node v = b.add(new Winograd(true, Winograd.Matrix.of('B', m), false, m, window.pt(), window.pl(), th, tw, xs.dim(2),
        xs.dim(3)), x);
    Node d = b.add(new Winograd(true, Winograd.Matrix.of('A', m), true, m, 0, 0, th, tw, ys.dim(2), ys.dim(3)), dy);
    Node du = b.add(new MatMul(false, true), v, d);
    return b.add(new Winograd(false, Winograd.Matrix.of('G', m), true, 3, 0, 0, 1, 1, 3, 3), du);
  }
}
