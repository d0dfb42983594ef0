package dev.nnc.passes.backend;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** A back end's output for one model: per program, the calls to make; and the code itself. */
public interface Compiled extends AutoCloseable {
  Map<String, List<NativeCall>> schedules();

  /**
   * What the code was compiled for: target triple, CPU name (the host's real name for
   * {@code native}) and the instruction-set extensions it may use, by the back end's names.
   */
  record Target(String triple, String cpu, List<String> features) {}

  Target target();

  /** One line on how the code was built (time, cache use), for progress output; empty if nothing to say. */
  default String report() {
    return "";
  }

  /** The generated module as text (LLVM IR for the CPU back end). */
  String text();

  /** Loads the code into this process; returns symbol → address. */
  java.util.function.ToLongFunction<String> jit();

  /** Writes the code as a shared library (or the target's equivalent). */
  void writeLibrary(Path file) throws java.io.IOException;

  @Override
  void close();
}
