package dev.nnc.codegen.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * glibc's vector math library (libmvec): SIMD versions of {@code expf}, {@code logf},
 * {@code tanhf}, {@code erff} and {@code log1pf}. The kernel emitter tags each scalar math call
 * with its AVX2 variant ({@code _ZGVdN8v_tanhf}: 8 lanes, unmasked), so LLVM's loop vectoriser
 * turns a loop of scalar calls into calls on whole vectors; the JIT resolves them in libmvec and
 * shared libraries record libmvec as a dependency. Without libmvec (not glibc, or glibc < 2.35 for
 * the newer functions) or without AVX2 the calls stay scalar: same results within libm's accuracy,
 * slower. {@code -Dnnc.vecmath=false} turns it off.
 */
record VectorMath(Path library, Set<String> functions) {
  /** The scalar functions nnc calls, by their C names. */
  static final List<String> CANDIDATES = List.of("expf", "logf", "tanhf", "erff", "log1pf");
  static final int LANES = 8;

  private static final List<Path> PLACES = List.of(Path.of("/lib/x86_64-linux-gnu/libmvec.so.1"),
      Path.of("/usr/lib/x86_64-linux-gnu/libmvec.so.1"), Path.of("/lib64/libmvec.so.1"),
      Path.of("/usr/lib64/libmvec.so.1"));

  private static Optional<VectorMath> found;

  /** libmvec for this host, if it has one and the host runs AVX2. */
  static synchronized Optional<VectorMath> forHost(Llvm.Host host) {
    if (found == null) {
      found = Boolean.parseBoolean(System.getProperty("nnc.vecmath", "true"))
          && host.triple().startsWith("x86_64") && host.triple().contains("linux") && host.has("avx2")
          ? locate() : Optional.empty();
    }
    return found;
  }

  private static Optional<VectorMath> locate() {
    for (Path p : PLACES) {
      if (!Files.isRegularFile(p)) {
        continue;
      }
      // Loaded for the life of the process: the JIT's code calls into it.
      SymbolLookup lib = SymbolLookup.libraryLookup(p, Arena.global());
      Set<String> have = new LinkedHashSet<>();
      for (String f : CANDIDATES) {
        if (lib.find(vectorName(f)).isPresent()) {
          have.add(f);
        }
      }
      return have.isEmpty() ? Optional.empty() : Optional.of(new VectorMath(p, Set.copyOf(have)));
    }
    return Optional.empty();
  }

  boolean has(String function) {
    return functions.contains(function);
  }

  /** The AVX2 variant's symbol, in the x86-64 vector function ABI's mangling. */
  static String vectorName(String function) {
    return "_ZGVdN" + LANES + "v_" + function;
  }

  /** The call-site attribute value that tells LLVM's vectoriser about the variant. */
  static String abiVariant(String function) {
    return "_ZGV_LLVM_N" + LANES + "v_" + function + "(" + vectorName(function) + ")";
  }
}
