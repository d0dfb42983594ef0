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

  /** Compiles the programs of one model into one module. */
  Compiled compile(String model, List<PlannedProgram> programs);

  static Backend find(String name) {
    for (Backend b : ServiceLoader.load(Backend.class)) {
      if (b.name().equals(name)) {
        return b;
      }
    }
    throw new IllegalArgumentException("no back end named '" + name + "' on the class path");
  }
}
