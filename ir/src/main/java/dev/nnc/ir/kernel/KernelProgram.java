package dev.nnc.ir.kernel;

import java.util.List;
import java.util.Map;

/**
 * One entry point of a compiled model (train step, eval, predict): its buffers, its kernels in
 * run order, and where its inputs and outputs live.
 */
public record KernelProgram(String name, List<Buffer> buffers, List<Kernel> kernels, Map<String, Integer> inputs,
    Map<String, View> outputs, Map<String, Integer> params) {

  /** An output: a buffer, read with this shape (reshapes are views). */
  public record View(int buffer, dev.nnc.ir.Shape shape) {}
}
