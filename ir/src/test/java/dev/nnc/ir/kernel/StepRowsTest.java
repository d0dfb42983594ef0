package dev.nnc.ir.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link StepRows} on synthetic loops: a step on its own rows is accepted, and loops whose rows
 * meet are refused, each way they can meet. (That the loops a recurrence lowers to keep to their
 * rows, for every cell, both directions, with and without lengths, RecurrenceJitTest checks.)
 */
class StepRowsTest {
  // A synthetic step: b0 the counter, b1 the state [R, H], b2 the gates [R, G] (the GEMM's C),
  // b3 the weights [G, H], b4 a sequence [R, T, H] the loop only reads.
  static final int R = 16;
  static final int H = 8;
  static final int G = 32;
  static final int T = 5;

  static KExpr.Affine at(long base, long... strides) {
    return new KExpr.Affine(base, strides);
  }

  static KExpr load(int buf, KExpr.Affine index) {
    return new KExpr.Load(buf, index);
  }

  /** {@code state[H·i0 + i1] = tanh(gates[G·i0 + i1] + seq[T·H·i0 + i1 + H·row(counter)] + extra)}. */
  static Kernel.Loops cell(KExpr extra, long rows) {
    KExpr seq = new KExpr.Load(4, at(0, T * H, 1), List.of(), 0,
        new KExpr.Row(new KExpr.Load(0, at(0, 0, 0)), H, T));
    KExpr v = new KExpr.Bin(KExpr.BinOp.ADD, load(2, at(0, G, 1)), seq);
    if (extra != null) {
      v = new KExpr.Bin(KExpr.BinOp.ADD, v, extra);
    }
    KStmt.Store store = new KStmt.Store(1, at(0, H, 1), new KExpr.Un(KExpr.UnOp.TANH, v));
    KStmt.Loop inner = new KStmt.Loop(1, H, List.of(store));
    return new Kernel.Loops("cell", new KStmt.Loop(0, rows, List.of(inner)), 2, 0, true, 10.0 * rows * H);
  }

  static Kernel.Gemm gemm(int b, boolean transA, KExpr epilogue) {
    return new Kernel.Gemm("hh", 1, 0, b, 0, 2, R, G, H, transA, true, epilogue, 1);
  }

  static String why(Kernel... body) {
    return StepRows.why(new Kernel.Steps("loop", 0, T, 0, 1, List.of(body)));
  }

  @Test
  void aStepOnItsOwnRowsIsAccepted() {
    assertNull(why(gemm(3, false, null), cell(null, R)));
    // Buffers only read are read from anywhere: the sequence at every row, the weights.
    assertNull(why(gemm(3, false, load(3, at(0, 0, 1))), cell(load(4, at(3, 0, 0)), R)));
    // The epilogue reads its own row of the state.
    assertNull(why(gemm(3, false, load(1, at(0, H, 0))), cell(null, R)));
    assertEquals(R, StepRows.rows(new Kernel.Steps("loop", 0, T, 0, 1, List.of(gemm(3, false, null), cell(null, R)))));
  }

  @Test
  void rowsThatMeetAreRefused() {
    // The next row of the state.
    assertTrue(why(gemm(3, false, null), cell(load(1, at(H, H, 1)), R)).contains("reaches"));
    // Row 0 of the state from every row.
    assertTrue(why(gemm(3, false, null), cell(load(1, at(0, 0, 1)), R)).contains("same place"));
    // The gates with another row length than the GEMM writes them.
    assertTrue(why(gemm(3, false, null), cell(load(2, at(0, 2 * G, 1)), R)).contains("rows of"));
    // B from a buffer the loop writes.
    assertTrue(why(gemm(1, false, null), cell(null, R)).contains("reads B"));
    // A transposed: row i of the product reads a column of the state.
    assertTrue(why(gemm(3, true, null), cell(null, R)).contains("transposed"));
    // The epilogue reads the counter (the GEMM's code reads memory a fused loop does not write).
    assertTrue(why(gemm(3, false, load(0, at(0, 0, 0))), cell(null, R)).contains("counter"));
    // Kernels over different rows.
    assertNotNull(why(gemm(3, false, null), cell(null, R - 1)));
    assertEquals(0, StepRows.rows(new Kernel.Steps("loop", 0, T, 0, 1, List.of(gemm(3, false, null), cell(null, R - 1)))));
    // A body kernel writing the counter.
    KStmt.Store count = new KStmt.Store(0, at(0, 0), new KExpr.Lit(1));
    Kernel.Loops counting = new Kernel.Loops("count", new KStmt.Loop(0, R, List.of(count)), 1, 0, true, R);
    assertTrue(why(gemm(3, false, null), counting).contains("writes the counter"));
  }
}
