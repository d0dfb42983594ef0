package dev.nnc.passes.lower;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Shape;
import dev.nnc.ir.kernel.Buffer;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelProgram;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code plan-memory}'s shared packed A: a GEMM reads the packed copy an earlier GEMM left in its
 * scratch only for the same view of A with nothing writing A between them, with the back end's
 * consent, passed along a chain; and that scratch then stays clear of everything live until the
 * later GEMM (without sharing, the planner gives the two the same bytes).
 */
class SharedPackedATest {
  private static final Map<String, Long> PARAMS = Map.of("w", 0L);
  /** Scratch per GEMM: large enough to be placed first. */
  private static final long SCRATCH = 1000;

  /**
   * 0: y1 = dgᵀ·h; 1: z = x·w (reads neither); 2: y2 = dgᵀ·x (shares with 0); 3: y3 = dgᵀ·h again
   * (shares with 0, through 2); 4: y5 = dg[as 2×8]ᵀ·h (another view: packs its own); 5: dg = x·w
   * (writes A; its own A, x, as kernel 1 packed it); 6: y4 = dgᵀ·x (A written at 5: packs its own).
   */
  private static KernelProgram program() {
    List<Buffer> buffers = List.of(
        new Buffer(0, "dg", Buffer.Kind.INPUT, 64, Shape.of(8, 8)),
        new Buffer(1, "h", Buffer.Kind.INPUT, 32, Shape.of(8, 4)),
        new Buffer(2, "x", Buffer.Kind.INPUT, 32, Shape.of(8, 4)),
        new Buffer(3, "w", Buffer.Kind.PARAM, 16, Shape.of(4, 4)),
        new Buffer(4, "y1", Buffer.Kind.TEMP, 32, Shape.of(8, 4)),
        new Buffer(5, "z", Buffer.Kind.TEMP, 32, Shape.of(8, 4)),
        new Buffer(6, "y2", Buffer.Kind.TEMP, 32, Shape.of(8, 4)),
        new Buffer(7, "y3", Buffer.Kind.TEMP, 32, Shape.of(8, 4)),
        new Buffer(8, "y4", Buffer.Kind.TEMP, 32, Shape.of(8, 4)),
        new Buffer(9, "y5", Buffer.Kind.TEMP, 32, Shape.of(8, 4)));
    List<Kernel> ks = List.of(
        new Kernel.Gemm("k0", 0, 0, 1, 0, 4, 8, 4, 8, true, false, null),
        new Kernel.Gemm("k1", 2, 0, 3, 0, 5, 8, 4, 4, false, false, null),
        new Kernel.Gemm("k2", 0, 0, 2, 0, 6, 8, 4, 8, true, false, null),
        new Kernel.Gemm("k3", 0, 0, 1, 0, 7, 8, 4, 8, true, false, null),
        new Kernel.Gemm("k4", 0, 0, 1, 0, 9, 8, 4, 2, true, false, null),
        new Kernel.Gemm("k5", 2, 0, 3, 0, 0, 8, 4, 4, false, false, null),
        new Kernel.Gemm("k6", 0, 0, 2, 0, 8, 8, 4, 8, true, false, null));
    Map<String, KernelProgram.View> outs = new java.util.LinkedHashMap<>();
    for (int b = 4; b <= 9; b++) {
      outs.put(buffers.get(b).name(), new KernelProgram.View(b, buffers.get(b).shape()));
    }
    return new KernelProgram("train", buffers, ks, Map.of("dg", 0, "h", 1, "x", 2), outs, Map.of("w", 3));
  }

  private static boolean overlap(long a, long b, long size) {
    return a < b + size && b < a + size;
  }

  @Test
  void laterGemmsReadAnEarlierPackedAWhileItIsUnwritten() {
    KernelProgram p = program();
    MemoryPlan plan = MemoryPlan.plan(p, PARAMS, 64, k -> k instanceof Kernel.Gemm ? SCRATCH : 0, (a, b) -> true);
    assertEquals(-1, plan.packedAFrom(0));
    assertEquals(-1, plan.packedAFrom(1), "another A");
    assertEquals(0, plan.packedAFrom(2));
    assertEquals(0, plan.packedAFrom(3), "the copy in kernel 0's scratch, passed on by kernel 2");
    assertEquals(-1, plan.packedAFrom(4), "another view of dg (K = 2)");
    assertEquals(1, plan.packedAFrom(5), "x as kernel 1 packed it");
    assertEquals(-1, plan.packedAFrom(6), "kernel 5 wrote dg");
    // Kernel 0's scratch lives through kernel 3: no other scratch of kernels 1–3 shares its bytes.
    for (int k = 1; k <= 3; k++) {
      assertTrue(!overlap(plan.scratch(0), plan.scratch(k), SCRATCH), "scratch of 0 and " + k + ": " + plan.describe(p));
    }
    assertTrue(plan.describe(p).contains("packed A of k2") && plan.describe(p).contains("from k0"), plan.describe(p));
    // From kernel 4 on it is free again.
    assertEquals(plan.scratch(0), plan.scratch(4), plan.describe(p));
  }

  @Test
  void withoutTheBackEndsConsentEachGemmPacksItsOwn() {
    KernelProgram p = program();
    MemoryPlan plan = MemoryPlan.plan(p, PARAMS, 64, k -> k instanceof Kernel.Gemm ? SCRATCH : 0, (a, b) -> false);
    for (int k = 0; k < p.leaves().size(); k++) {
      assertEquals(-1, plan.packedAFrom(k));
    }
    // Each scratch lives for its kernel only: all take the same bytes.
    assertEquals(plan.scratch(0), plan.scratch(2), plan.describe(p));
    // A back end that needs no scratch shares nothing either.
    MemoryPlan none = MemoryPlan.plan(p, PARAMS, 64, k -> 0, (a, b) -> true);
    assertEquals(-1, none.packedAFrom(2));
  }
}
