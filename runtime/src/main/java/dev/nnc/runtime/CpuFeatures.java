package dev.nnc.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The x86-64 instruction-set extensions a compiled library may use, under LLVM's names, and
 * whether this machine has them (from the kernel's {@code /proc/cpuinfo} flags: the runtime has
 * no LLVM). A library compiled with AVX-512 on one machine dies with an illegal instruction on
 * an AVX2-only one and takes the JVM with it; the manifest records what the code needs and the
 * runtime refuses to load it where a feature is missing.
 *
 * <p>Only the extensions in {@link #CPUINFO} are recorded and checked: the vector, bit and
 * arithmetic extensions LLVM may use for nnc's kernels. The others (the x86-64 baseline, and
 * system or cryptographic ones that tensor code never uses) are not.
 */
public final class CpuFeatures {
  private CpuFeatures() {}

  /** LLVM feature name → Linux {@code /proc/cpuinfo} flag. */
  public static final Map<String, String> CPUINFO = table(
      "sse3", "pni", "ssse3", "ssse3", "sse4.1", "sse4_1", "sse4.2", "sse4_2", "sse4a", "sse4a",
      "popcnt", "popcnt", "cx16", "cx16", "avx", "avx", "avx2", "avx2", "fma", "fma", "fma4", "fma4", "xop", "xop",
      "f16c", "f16c", "bmi", "bmi1", "bmi2", "bmi2", "lzcnt", "abm", "movbe", "movbe", "adx", "adx",
      "avx512f", "avx512f", "avx512bw", "avx512bw", "avx512cd", "avx512cd", "avx512dq", "avx512dq",
      "avx512vl", "avx512vl", "avx512ifma", "avx512ifma", "avx512vbmi", "avx512vbmi", "avx512vbmi2", "avx512_vbmi2",
      "avx512vnni", "avx512_vnni", "avx512bitalg", "avx512_bitalg", "avx512vpopcntdq", "avx512_vpopcntdq",
      "avx512bf16", "avx512_bf16", "avx512fp16", "avx512_fp16", "avxvnni", "avx_vnni", "gfni", "gfni",
      "vpclmulqdq", "vpclmulqdq", "vaes", "vaes", "amx-tile", "amx_tile", "amx-int8", "amx_int8",
      "amx-bf16", "amx_bf16");

  private static Map<String, String> table(String... pairs) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < pairs.length; i += 2) {
      m.put(pairs[i], pairs[i + 1]);
    }
    return java.util.Collections.unmodifiableMap(m);
  }

  /**
   * The checked features enabled in an LLVM feature string ({@code +avx2,-avx512f,…}), in the
   * table's order.
   */
  public static List<String> checked(String llvmFeatures) {
    Set<String> on = new HashSet<>();
    for (String f : llvmFeatures.split(",")) {
      if (f.startsWith("+")) {
        on.add(f.substring(1));
      }
    }
    List<String> out = new ArrayList<>();
    for (String f : CPUINFO.keySet()) {
      if (on.contains(f)) {
        out.add(f);
      }
    }
    return out;
  }

  /** The features of {@code required} that a machine with these cpuinfo flags lacks. */
  public static List<String> missing(List<String> required, Set<String> hostFlags) {
    List<String> out = new ArrayList<>();
    for (String f : required) {
      String flag = CPUINFO.get(f);
      if (flag == null || !hostFlags.contains(flag)) {
        out.add(f);
      }
    }
    return out;
  }

  private static Set<String> host;

  /** This machine's cpuinfo flags; empty where {@code /proc/cpuinfo} cannot be read. */
  public static synchronized Set<String> hostFlags() {
    if (host == null) {
      Set<String> flags = new HashSet<>();
      try {
        for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
          if (line.startsWith("flags")) {
            int colon = line.indexOf(':');
            flags.addAll(Arrays.asList(line.substring(colon + 1).trim().split("\\s+")));
            break;
          }
        }
      } catch (IOException | RuntimeException e) {
        // No /proc (not Linux): nothing is known to be there, so any checked feature is refused.
      }
      host = Set.copyOf(flags);
    }
    return host;
  }
}
