package dev.nnc.passes.backend;

import java.util.List;
import java.util.ServiceLoader;

/**
 * A code generator behind one small interface, found by {@link ServiceLoader} (never by
 * {@code if (target == ...)}). It turns planned kernel programs into native code.
 */
public interface Backend {
  /** The target's name on the command line ({@code cpu}, {@code cuda}). */
  String name();

  /** Compiles the programs of one model into one module for the machine this runs on. */
  default Compiled compile(String model, List<PlannedProgram> programs) {
    return compile(model, programs, NATIVE);
  }

  /**
   * Compiles the programs of one model into one module for {@code cpu}: {@link #NATIVE} (this
   * machine), or a target the back end documents (the CPU back end: {@code x86-64},
   * {@code x86-64-v2}, {@code x86-64-v3}, {@code x86-64-v4}). An unknown name is an
   * {@link IllegalArgumentException} whose message lists the known ones.
   */
  Compiled compile(String model, List<PlannedProgram> programs, String cpu);

  String NATIVE = "native";

  /**
   * Scratch memory (floats) the back end's code for {@code k} needs while it runs — the CPU GEMM's
   * packed operands, for instance; 0 for none. Memory planning reserves it per kernel, so the
   * shared kernel IR carries no target's layout.
   */
  long scratchFloats(dev.nnc.ir.kernel.Kernel k);

  /**
   * Floats of a persistent packed copy of GEMM {@code g}'s operand A ({@code a}) or B, for an
   * operand that only changes with the weights: memory planning then reserves it after all
   * programs, the back end's {@code prepare} schedule fills it whenever the weights change, and
   * the GEMM reads it instead of packing that operand on every call. 0: the back end packs per
   * call (the default). {@code cpu} as in {@link #compile(String, List, String)}: the packed layout
   * may depend on the target.
   */
  default long packedFloats(dev.nnc.ir.kernel.Kernel.Gemm g, boolean a, String cpu) {
    return 0;
  }

  /**
   * Whether GEMM {@code later} can read, instead of packing its A, the packed copy of the same A
   * that GEMM {@code earlier} leaves in its scratch (memory planning has checked that the views
   * are equal and that nothing writes A between them, and then keeps that scratch live until
   * {@code later}: {@code MemoryPlan#packedAFrom}). {@code cpu} as in
   * {@link #packedFloats}. The default: never.
   */
  default boolean sharesPackedA(dev.nnc.ir.kernel.Kernel.Gemm earlier, dev.nnc.ir.kernel.Kernel.Gemm later,
      String cpu) {
    return false;
  }

  static Backend find(String name) {
    for (Backend b : ServiceLoader.load(Backend.class)) {
      if (b.name().equals(name)) {
        return b;
      }
    }
    throw new IllegalArgumentException("no back end named '" + name + "' on the class path");
  }
}
