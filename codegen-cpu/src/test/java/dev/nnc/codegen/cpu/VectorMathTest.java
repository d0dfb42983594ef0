package dev.nnc.codegen.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Recurrence;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Math calls go through glibc's libmvec where the host has it: the optimised IR calls the AVX2
 * variants (the AVX-512 ones on AVX-512 targets) on whole vectors, the JIT and shared libraries resolve them, and the results match the
 * f64 reference (ElementwiseJitTest's tolerance) over ranges that include the vector loop's tail.
 */
class VectorMathTest {
  @TempDir
  Path tmp;

  /** tanh, gelu (erf), sigmoid (exp), softplus (log1p, exp) and log, on rows of 37 (4 vectors + a tail). */
  static Graph graph() {
    Graph.Builder b = Graph.builder("m");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(ElementwiseJitTest.S));
    Node pos = b.addTyped(new Input("pos"), List.of(), TensorType.f32(ElementwiseJitTest.S));
    for (UnaryFn fn : new UnaryFn[] {UnaryFn.TANH, UnaryFn.GELU, UnaryFn.SIGMOID, UnaryFn.SOFTPLUS}) {
      b.output(fn.text(), b.add(new Unary(fn, fn.defaultAlpha()), x));
    }
    b.output("log", b.add(new Unary(UnaryFn.LOG, 0), pos));
    return b.build();
  }

  static Map<String, float[]> inputs() {
    int n = (int) ElementwiseJitTest.S.size();
    return Map.of("x", ElementwiseJitTest.values(new Random(11), n, UnaryFn.TANH),
        "pos", ElementwiseJitTest.values(new Random(12), n, UnaryFn.LOG));
  }

  static Optional<VectorMath> hostLibrary() {
    return VectorMath.forHost(Llvm.host());
  }

  @Test
  void hostWithGlibcAndAvx2HasAllFunctions() {
    boolean expected = Llvm.host().has("avx2") && Files.isRegularFile(Path.of("/lib/x86_64-linux-gnu/libmvec.so.1"));
    assertEquals(expected, hostLibrary().isPresent());
    hostLibrary().ifPresent(vm -> assertEquals(Set.copyOf(VectorMath.CANDIDATES), vm.functions(),
        "glibc >= 2.35 has every function"));
  }

  @Test
  void optimisedCodeCallsTheVectorVariants() {
    String ir = CpuHarness.build(graph()).compiled().text();
    Optional<VectorMath> vm = hostLibrary();
    if (vm.isPresent()) {
      for (String f : vm.get().functions()) {
        assertTrue(ir.contains("call <" + vm.get().lanes() + " x float> @" + vm.get().vectorName(f) + "("),
            f + " is called on vectors:\n" + ir);
      }
    } else {
      assertFalse(ir.contains("_ZGV"), ir);
    }
  }

  /** AVX2 targets take the 8-lane variants, AVX-512 ones the 16-lane variants (and zmm registers). */
  @Test
  void theTargetChoosesTheWidth() {
    if (hostLibrary().isEmpty()) {
      return;  // no libmvec here: nothing to choose (hostWithGlibcAndAvx2HasAllFunctions checks why)
    }
    for (String cpu : new String[] {"x86-64-v3", "x86-64-v4"}) {
      int lanes = cpu.equals("x86-64-v4") ? 16 : 8;
      assertEquals(lanes, VectorMath.forHost(Llvm.target(cpu)).orElseThrow().lanes(), cpu);
      String ir = CpuHarness.buildFor(graph(), new CpuBackend(), cpu).compiled().text();
      for (String f : VectorMath.CANDIDATES) {
        assertTrue(ir.contains("call <" + lanes + " x float> @" + VectorMath.vectorName(f, lanes) + "("),
            cpu + ": " + f + " on " + lanes + " lanes:\n" + ir);
        assertFalse(ir.contains(VectorMath.vectorName(f, 24 - lanes)), cpu + ": only one width");
      }
    }
    assertEquals("_ZGVeN16v_tanhf", VectorMath.vectorName("tanhf", 16));
    assertEquals("_ZGVdN8v_tanhf", VectorMath.vectorName("tanhf", 8));
  }

  /**
   * A loop over time runs its cell inlined in the fused kernel: that kernel vectorises the cell's
   * exp and tanh at the width of the vector variants too. x86-64-v4 is tuned, as Intel's AVX-512
   * cores are, to prefer 256-bit vectors: without the cell's width carried over, the loop took 8
   * lanes, for which there is no variant, and every exp and tanh became 8 scalar calls (a
   * character LSTM's forward loop 3.4× slower than step by step on an Intel Xeon).
   */
  @Test
  void fusedLoopsOverTimeCallTheVectorVariants() {
    if (hostLibrary().isEmpty()) {
      return;  // no libmvec here: the calls stay scalar everywhere (hostWithGlibcAndAvx2HasAllFunctions)
    }
    for (String cpu : new String[] {"x86-64-v3", "x86-64-v4", "native"}) {
      int lanes = VectorMath.forHost(Llvm.target(cpu)).orElseThrow().lanes();
      for (Recurrence.Cell cell : Recurrence.Cell.values()) {
        Recurrence op = new Recurrence(cell, 128, false, false);
        String ir = CpuHarness.buildFor(RecurrenceJitTest.graph(op, 64, 3), new CpuBackend(), cpu).compiled().text();
        String steps = function(ir, "recurrence_steps");
        for (String f : cell == Recurrence.Cell.TANH ? List.of("tanhf") : List.of("expf", "tanhf")) {
          assertTrue(steps.contains("call <" + lanes + " x float> @" + VectorMath.vectorName(f, lanes) + "("),
              cpu + ", " + cell + ": " + f + " on " + lanes + " lanes in the fused loop:\n" + steps);
        }
        assertFalse(steps.matches("(?s).*@llvm\\.(exp|tanh)\\.v.*"), cpu + ", " + cell + ": no scalarised math:\n" + steps);
      }
    }
  }

  /** The text of the first function whose name contains {@code part}, from its define to its closing brace. */
  static String function(String ir, String part) {
    java.util.regex.Matcher m = java.util.regex.Pattern
        .compile("(?ms)^define [^\\n]*" + java.util.regex.Pattern.quote(part) + ".*?^}$").matcher(ir);
    assertTrue(m.find(), "a function " + part + " in\n" + ir);
    return m.group();
  }

  @Test
  void jitMatchesReference() {
    ElementwiseJitTest.check(CpuHarness.compileJit(graph(), 2), graph(), inputs(), "jit");
  }

  @Test
  void sharedLibraryNeedsLibmvecAndMatchesReference() throws Exception {
    Path so = tmp.resolve("m.so");
    ElementwiseJitTest.check(CpuHarness.compileLibrary(graph(), 2, so), graph(), inputs(), "shared library");
    String bytes = new String(Files.readAllBytes(so), StandardCharsets.ISO_8859_1);
    assertEquals(hostLibrary().isPresent(), bytes.contains("libmvec.so.1"), "DT_NEEDED libmvec.so.1");
  }
}
