package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.ops.Conv2d;

/**
 * {@code lower-conv}: chooses how each convolution is computed and rewrites it into the ops that
 * compute it. Today every convolution becomes im2col + the packed GEMM:
 *
 * <pre>
 *   %2 = conv2d[kernel=[5,5], …](%x, %w) : f32[64,6,24,24]
 *     →
 *   %2 = patches[…, channelsLast=true, fill=0.0](%x) : f32[64,24,24,1,5,5]     // im2col, read in place
 *   %3 = reshape[shape=[36864,25]](%2)
 *   %4 = reshape[shape=[6,25]](%w)
 *   %5 = matmul[transA=false, transB=true](%3, %4) : f32[36864,6]
 *   %6 = reshape[shape=[64,24,24,6]](%5)
 *   %7 = permute[perm=[0,3,1,2]](%6) : f32[64,6,24,24]                    // NHWC rows → NCHW
 * </pre>
 *
 * The gradient of a convolution is already written with these ops, so after this pass CSE shares
 * one im2col between the forward pass and the weight gradient.
 */
public final class LowerConv implements Pass {
  @Override
  public String name() {
    return "lower-conv";
  }

  @Override
  public Graph apply(Graph g) {
    return Rebuilder.rebuild(g, null, (b, n, ins) -> n.op() instanceof Conv2d c
        ? c.lowerIm2col(b, ins.get(0), ins.get(1), n.shape())
        : null);
  }
}
