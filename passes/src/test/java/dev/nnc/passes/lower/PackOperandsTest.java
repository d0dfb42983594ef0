package dev.nnc.passes.lower;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Shape;
import dev.nnc.ir.kernel.Buffer;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelProgram;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * {@code plan-memory}'s persistent packed copies of GEMM operands: only parameters a program never
 * writes, only outside the excluded programs (train, prepare), one copy per operand and shape
 * shared between programs, placed without overlap from the start given.
 */
class PackOperandsTest {
  private static final Map<String, Long> PARAMS = Map.of("w", 0L, "v", 64L);

  /** y = x·w (w a parameter [8,3]); with {@code writesW}, a first GEMM computes w = x·v. */
  private static KernelProgram program(String name, boolean writesW) {
    List<Buffer> buffers = List.of(new Buffer(0, "x", Buffer.Kind.INPUT, 32, Shape.of(4, 8)),
        new Buffer(1, "w", Buffer.Kind.PARAM, 24, Shape.of(8, 3)),
        new Buffer(2, "y", Buffer.Kind.TEMP, 12, Shape.of(4, 3)),
        new Buffer(3, "v", Buffer.Kind.PARAM, 24, Shape.of(3, 8)));
    Kernel y = new Kernel.Gemm(name + "_y", 0, 0, 1, 0, 2, 4, 3, 8, false, false, null);
    List<Kernel> ks = writesW
        ? List.of(new Kernel.Gemm(name + "_w", 3, 0, 0, 0, 1, 3, 8, 4, true, false, null), y) : List.of(y);
    return new KernelProgram(name, buffers, ks, Map.of("x", 0), Map.of("y", new KernelProgram.View(2, Shape.of(4, 3))),
        Map.of("w", 1, "v", 3));
  }

  private static MemoryPlan plan(KernelProgram p) {
    return MemoryPlan.plan(p, PARAMS, 128);
  }

  @Test
  void weightOperandsOfInferenceProgramsGetOneSharedCopy() {
    List<KernelProgram> ps = List.of(program("train", false), program("eval", false), program("predict", false));
    List<MemoryPlan> plans = ps.stream().map(PackOperandsTest::plan).toList();
    long start = 1024;
    MemoryPlan.Packed packed = MemoryPlan.packOperands(ps, plans, Set.of("train", "prepare"), start,
        (g, a) -> a ? 100L : 37L);
    // train packs per call; eval and predict read one copy of w (B); x is an input, never packed.
    assertEquals(-1, packed.plans().get(0).packedB(0));
    assertEquals(-1, packed.plans().get(0).packedA(0));
    long copy = packed.plans().get(1).packedB(0);
    assertEquals(start, copy);
    assertEquals(copy, packed.plans().get(2).packedB(0));
    assertEquals(-1, packed.plans().get(1).packedA(0));
    assertEquals(-1, packed.plans().get(2).packedA(0));
    assertEquals(start + 48, packed.end(), "37 floats, 16-aligned");
    // The offsets, scratch and region of each plan are unchanged.
    for (int i = 0; i < ps.size(); i++) {
      assertEquals(plans.get(i).regionEnd(), packed.plans().get(i).regionEnd());
      assertTrue(java.util.Arrays.equals(plans.get(i).offsets(), packed.plans().get(i).offsets()));
    }
    assertTrue(packed.plans().get(1).describe(ps.get(1)).contains("packed B of eval_y"),
        packed.plans().get(1).describe(ps.get(1)));
  }

  @Test
  void writtenParametersAndUnsizedOperandsStayPackedPerCall() {
    KernelProgram p = program("predict", true);
    MemoryPlan.Packed packed = MemoryPlan.packOperands(List.of(p), List.of(plan(p)), Set.of(), 1024,
        (g, a) -> 50L);
    MemoryPlan pl = packed.plans().get(0);
    // Kernel 0 computes w from v: v (A, a parameter nobody writes) is packed, x (B) is not.
    assertEquals(1024, pl.packedA(0));
    assertEquals(-1, pl.packedB(0));
    // Kernel 1 reads w, which kernel 0 writes: packed per call.
    assertEquals(-1, pl.packedB(1));
    assertEquals(1024 + 64, packed.end(), "50 floats, 16-aligned");
    // A back end that keeps no copies (size 0) gets none.
    MemoryPlan.Packed none = MemoryPlan.packOperands(List.of(p), List.of(plan(p)), Set.of(), 1000, (g, a) -> 0L);
    assertEquals(-1, none.plans().get(0).packedA(0));
    assertEquals(1008, none.end(), "the start, 16-aligned");
  }
}
