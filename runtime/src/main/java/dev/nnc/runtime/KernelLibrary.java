package dev.nnc.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.ToLongFunction;

/** Where the native kernels come from: a JIT in this process, or a shared library on disk. */
public interface KernelLibrary {
  /** The exported i64 holding the arena size (floats) the code was compiled for. */
  String ARENA_SYMBOL = "nnc_arena_floats";

  MemorySegment symbol(String name);

  static KernelLibrary ofAddresses(ToLongFunction<String> addresses) {
    return name -> MemorySegment.ofAddress(addresses.applyAsLong(name));
  }

  /** Opens a shared library written by {@code nnc compile}. */
  static KernelLibrary open(Path library) throws java.io.IOException {
    if (!Files.isRegularFile(library)) {
      throw new java.io.IOException(library + ": no such library; run `nnc compile` first");
    }
    SymbolLookup lookup;
    try {
      lookup = SymbolLookup.libraryLookup(library, Arena.global());
    } catch (IllegalArgumentException e) {
      throw new java.io.IOException(library + ": cannot be loaded as a shared library (" + e.getMessage() + ")");
    }
    return name -> lookup.find(name)
        .orElseThrow(() -> new IllegalStateException(library + " has no kernel " + name + "; recompile the model"));
  }
}
