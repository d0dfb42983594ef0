package dev.nnc.codegen.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * glibc's vector math library (libmvec): SIMD versions of {@code expf}, {@code logf},
 * {@code tanhf}, {@code erff} and {@code log1pf}. The kernel emitter tags each scalar math call
 * with its vector variant for the target ({@code _ZGVdN8v_tanhf}: AVX2, 8 lanes, unmasked; on
 * AVX-512 targets {@code _ZGVeN16v_tanhf}, 16 lanes, and the function may then use zmm
 * registers), so LLVM's loop vectoriser turns a loop of scalar calls into calls on whole vectors;
 * the JIT resolves them in libmvec and shared libraries record libmvec as a dependency. The
 * 16-lane variants are the faster ones per element where the core has AVX-512 (on a Zen 5:
 * {@code tanhf} 0.30 ns an element against 0.82, {@code expf} 0.29 against 0.40; docs/benchmarks.md).
 * Without libmvec (not glibc, or glibc < 2.35 for the
 * newer functions) or without AVX2 the calls stay scalar: same results within libm's accuracy,
 * slower. {@code -Dnnc.vecmath=false} turns it off; {@code -Dnnc.vecmath.lanes=8} keeps the AVX2
 * variants on AVX-512 targets (comparisons).
 */
record VectorMath(Path library, Set<String> functions, int lanes) {
  /** The scalar functions nnc calls, by their C names. */
  static final List<String> CANDIDATES = List.of("expf", "logf", "tanhf", "erff", "log1pf");
  /** The variants' widths: AVX2's and AVX-512's. */
  static final List<Integer> WIDTHS = List.of(8, 16);

  private static final List<Path> PLACES = List.of(Path.of("/lib/x86_64-linux-gnu/libmvec.so.1"),
      Path.of("/usr/lib/x86_64-linux-gnu/libmvec.so.1"), Path.of("/lib64/libmvec.so.1"),
      Path.of("/usr/lib64/libmvec.so.1"));

  /** The library found and, per width, the functions it has at that width. */
  private record Found(Path library, Map<Integer, Set<String>> functions) {}

  private static Optional<Found> found;

  /**
   * libmvec for code for {@code target}, if this machine has the library and the target runs
   * AVX2: its 16-lane variants where the target has AVX-512 and the library has them all.
   */
  static Optional<VectorMath> forHost(Llvm.Host target) {
    if (!Boolean.parseBoolean(System.getProperty("nnc.vecmath", "true")) || !target.triple().startsWith("x86_64")
        || !target.triple().contains("linux") || !target.has("avx2")) {
      return Optional.empty();
    }
    return located().flatMap(f -> {
      boolean wide = target.has("avx512f") && !"8".equals(System.getProperty("nnc.vecmath.lanes"))
          && f.functions().get(16).equals(f.functions().get(8));
      int lanes = wide ? 16 : 8;
      Set<String> have = f.functions().get(lanes);
      return have.isEmpty() ? Optional.empty() : Optional.of(new VectorMath(f.library(), have, lanes));
    });
  }

  private static synchronized Optional<Found> located() {
    if (found == null) {
      found = locate();
    }
    return found;
  }

  private static Optional<Found> locate() {
    for (Path p : PLACES) {
      if (!Files.isRegularFile(p)) {
        continue;
      }
      // Loaded for the life of the process: the JIT's code calls into it.
      SymbolLookup lib = SymbolLookup.libraryLookup(p, Arena.global());
      Map<Integer, Set<String>> have = new LinkedHashMap<>();
      for (int lanes : WIDTHS) {
        Set<String> at = new LinkedHashSet<>();
        for (String f : CANDIDATES) {
          if (lib.find(vectorName(f, lanes)).isPresent()) {
            at.add(f);
          }
        }
        have.put(lanes, Set.copyOf(at));
      }
      return Optional.of(new Found(p, Map.copyOf(have)));
    }
    return Optional.empty();
  }

  boolean has(String function) {
    return functions.contains(function);
  }

  /** This width's variant of {@code function}. */
  String vectorName(String function) {
    return vectorName(function, lanes);
  }

  /** The variant's symbol in the x86-64 vector function ABI's mangling: ISA d (AVX2) or e (AVX-512), lanes, one vector argument. */
  static String vectorName(String function, int lanes) {
    return "_ZGV" + (lanes == 16 ? "e" : "d") + "N" + lanes + "v_" + function;
  }

  /** The call-site attribute value that tells LLVM's vectoriser about the variant. */
  String abiVariant(String function) {
    return "_ZGV_LLVM_N" + lanes + "v_" + function + "(" + vectorName(function) + ")";
  }
}
