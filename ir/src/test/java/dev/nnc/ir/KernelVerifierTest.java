package dev.nnc.ir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.kernel.Buffer;
import dev.nnc.ir.kernel.KExpr;
import dev.nnc.ir.kernel.KExpr.Affine;
import dev.nnc.ir.kernel.KStmt;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.ir.kernel.KernelVerifier;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The kernel verifier accepts in-bounds programs and names each kind of problem. */
class KernelVerifierTest {
  static final List<Buffer> BUFS = List.of(new Buffer(0, "x", Buffer.Kind.INPUT, 12, Shape.of(3, 4)),
      new Buffer(1, "y", Buffer.Kind.TEMP, 12, Shape.of(3, 4)));

  /** y[i,j] = x[i, j + shift] over i < 3, j < 4. */
  static KernelProgram copy(long shift, int outerVar) {
    KStmt store = new KStmt.Store(1, new Affine(0, new long[] {4, 1}),
        new KExpr.Load(0, new Affine(shift, new long[] {4, 1})));
    KStmt.Loop root = new KStmt.Loop(outerVar, 3, List.of(new KStmt.Loop(1, 4, List.of(store))));
    return new KernelProgram("p", BUFS, List.of(new Kernel.Loops("k", root, 2, 0, true, 12)), Map.of("x", 0),
        Map.of(), Map.of());
  }

  @Test
  void inBoundsProgramVerifies() {
    assertEquals(List.of(), KernelVerifier.problems(copy(0, 0)));
  }

  @Test
  void outOfBoundsLoadIsNamed() {
    List<String> p = KernelVerifier.problems(copy(1, 0));
    assertEquals(List.of("kernel k load of x: indices 1..12 for 12 elements"), p);
  }

  @Test
  void variableOutsideItsLoopIsNamed() {
    // The outer loop binds variable 1 twice; variable 0 is used but never bound.
    List<String> p = KernelVerifier.problems(copy(0, 1));
    assertTrue(p.contains("kernel k: loop variable 1 reused by a nested loop"), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.contains("uses loop variable 0 outside its loop")), p.toString());
  }

  @Test
  void gemmOperandsAndResultAreChecked() {
    List<Buffer> bufs = List.of(new Buffer(0, "a", Buffer.Kind.INPUT, 6, Shape.of(2, 3)),
        new Buffer(1, "b", Buffer.Kind.PARAM, 12, Shape.of(3, 4)),
        new Buffer(2, "c", Buffer.Kind.TEMP, 7, Shape.of(7)));
    Kernel.Gemm g = new Kernel.Gemm("mm", 0, 0, 1, 2, 2, 2, 4, 3, false, false, null);
    List<String> p = KernelVerifier.problems(new KernelProgram("p", bufs, List.of(g), Map.of(), Map.of(), Map.of()));
    assertEquals(List.of("gemm mm operand B: elements 2..13 of buffer b (12 elements)",
        "gemm mm result C: elements 0..7 of buffer c (7 elements)"), p);
  }
}
