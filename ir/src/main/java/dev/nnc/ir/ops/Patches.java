package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * The windows of an {@code [N, C, H, W]} tensor as a tensor of their own (im2col): with
 * {@code channelsLast} {@code [N, OH, OW, C, KH, KW]} — rows of a convolution's GEMM — else
 * {@code [N, C, OH, OW, KH, KW]} — what pooling reduces over its last two axes. Positions in the
 * padding read {@code fill} (0 for convolution and average pooling, −∞ for max pooling).
 * A gather: a reduction or element-wise consumer reads it in place, so pooling never builds it.
 */
public record Patches(Window window, boolean channelsLast, double fill) implements Op {
  @Override
  public boolean gather() {
    return true;
  }

  @Override
  public boolean expands() {
    return true;
  }

  @Override
  public String mnemonic() {
    return "patches";
  }

  @Override
  public String attributes() {
    return window.text() + ", channelsLast=" + channelsLast + ", fill=" + fill;
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    return TensorType.f32(shape(in.get(0).shape()));
  }

  public Shape shape(Shape x) {
    int[] o = window.out(x, "patches");
    return channelsLast
        ? Shape.of(x.dim(0), o[0], o[1], x.dim(1), window.kh(), window.kw())
        : Shape.of(x.dim(0), x.dim(1), o[0], o[1], window.kh(), window.kw());
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    Shape x = self.input(0).shape();
    return List.of(b.add(new PatchesGrad(window, channelsLast, x.dim(2), x.dim(3)), dy));
  }
}
