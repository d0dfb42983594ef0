package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * The adjoint of {@link Patches} (col2im): adds every window element back onto the input
 * position it was read from, {@code [N, OH, OW, C, KH, KW] → [N, C, H, W]} (or from the
 * channels-first layout); positions in the padding are dropped. Overlapping windows sum.
 */
public record PatchesGrad(Window window, boolean channelsLast, int h, int w) implements Op {
  @Override
  public boolean reduction() {
    return true;
  }

  @Override
  public String mnemonic() {
    return "patches_grad";
  }

  @Override
  public String attributes() {
    return window.text() + ", channelsLast=" + channelsLast + ", h=" + h + ", w=" + w;
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape p = in.get(0).shape();
    if (p.rank() != 6) {
      throw new ShapeException("patches_grad expects a rank-6 tensor of windows, got " + p);
    }
    int c = channelsLast ? p.dim(3) : p.dim(1);
    Shape x = Shape.of(p.dim(0), c, h, w);
    Shape expected = new Patches(window, channelsLast, 0).shape(x);
    if (!expected.equals(p)) {
      throw new ShapeException("patches_grad: windows " + p + " do not come from " + x + " (expected " + expected
          + ")");
    }
    return TensorType.f32(x);
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return List.of(b.add(new Patches(window, channelsLast, 0), dy));
  }
}
