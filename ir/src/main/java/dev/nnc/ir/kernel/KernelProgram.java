package dev.nnc.ir.kernel;

import java.util.List;
import java.util.Map;

/**
 * One entry point of a compiled model (train step, eval, predict): its buffers, its kernels in
 * run order, and where its inputs and outputs live.
 */
public record KernelProgram(String name, List<Buffer> buffers, List<Kernel> kernels, Map<String, Integer> inputs,
    Map<String, View> outputs, Map<String, Integer> params) {

  /**
   * The kernels that run code, in order, with the bodies of {@link Kernel.Steps} in place of the
   * loops: memory planning and back ends number kernels (scratch, packed operands) this way.
   */
  public List<Kernel> leaves() {
    return leaves(kernels);
  }

  /** {@code kernels} with the bodies of {@link Kernel.Steps} in place of the loops. */
  public static List<Kernel> leaves(List<Kernel> kernels) {
    List<Kernel> out = new java.util.ArrayList<>();
    for (Kernel k : kernels) {
      switch (k) {
        case Kernel.Steps s -> out.addAll(leaves(s.body()));
        case Kernel.Loops l -> out.add(l);
        case Kernel.Gemm g -> out.add(g);
      }
    }
    return out;
  }

  /** An output: a buffer, read with this shape (reshapes are views). */
  public record View(int buffer, dev.nnc.ir.Shape shape) {}
}
