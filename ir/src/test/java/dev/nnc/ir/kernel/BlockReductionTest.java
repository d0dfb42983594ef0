package dev.nnc.ir.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Sums per output for a GPU: the serial row-sum rewritten per output, and the block-per-output split. */
class BlockReductionTest {
  static KExpr.Affine idx(long base, long... strides) {
    return new KExpr.Affine(base, strides);
  }

  /** {@code for j < c { out[j] = 0 }; for n < rows { for j < c { out[j] = out[j] + x[c·n + j] } }}: buffers 0 (x), 1 (out). */
  static Kernel.Loops rowSum(int rows, int c) {
    KStmt.Loop zero = new KStmt.Loop(2, c, List.of(new KStmt.Store(1, idx(0, 0, 0, 1), new KExpr.Lit(0))));
    KExpr.Load acc = new KExpr.Load(1, idx(0, 0, 0, 1));
    KStmt.Loop sum = new KStmt.Loop(1, rows, List.of(new KStmt.Loop(2, c, List.of(new KStmt.Store(1, idx(0, 0, 0, 1),
        new KExpr.Bin(KExpr.BinOp.ADD, acc, new KExpr.Load(0, idx(0, 0, c, 1))))))));
    return new Kernel.Loops("s", new KStmt.Loop(0, 1, List.of(zero, sum)), 3, 0, false, 2.0 * rows * c);
  }

  @Test
  void aSerialRowSumBecomesASumPerOutputWithTheSameBits() {
    int rows = 96;
    int c = 7;
    Kernel.Loops k = rowSum(rows, c);
    Kernel.Loops p = BlockReduction.perOutput(k);
    assertNotNull(p);
    assertEquals(true, p.parallel());
    assertEquals(c, p.root().extent());
    float[] want = run(k, rows, c);
    float[] got = run(p, rows, c);
    assertArrayEquals(want, got, "the same additions in the same order");
    BlockReduction r = BlockReduction.of(p);
    assertNotNull(r, "and a block per output");
    assertEquals(32, r.threads(), "96 rows: the largest power of two dividing them, at least a warp");
    assertEquals(3, r.partial().extent(), "each thread sums 3 rows");
    assertEquals(3, r.thread());
    assertEquals(List.of(0), r.locals());
  }

  @Test
  void otherNestsAreLeftAsTheyAre() {
    // 40 rows: no power of two of at least 32 divides them.
    assertNull(BlockReduction.of(BlockReduction.perOutput(rowSum(40, 3))));
    // A parallel nest is not a serial row sum.
    Kernel.Loops k = rowSum(8, 3);
    assertNull(BlockReduction.perOutput(new Kernel.Loops("s", k.root(), 3, 0, true, 1)));
    // The summand reading the output.
    KStmt.Loop zero = new KStmt.Loop(2, 3, List.of(new KStmt.Store(1, idx(0, 0, 0, 1), new KExpr.Lit(0))));
    KExpr.Load acc = new KExpr.Load(1, idx(0, 0, 0, 1));
    KStmt.Loop sum = new KStmt.Loop(1, 8, List.of(new KStmt.Loop(2, 3, List.of(new KStmt.Store(1, idx(0, 0, 0, 1),
        new KExpr.Bin(KExpr.BinOp.ADD, acc, new KExpr.Load(1, idx(1, 0, 0, 1))))))));
    assertNull(BlockReduction.perOutput(new Kernel.Loops("s", new KStmt.Loop(0, 1, List.of(zero, sum)), 3, 0, false, 1)));
  }

  private static float[] run(Kernel.Loops k, int rows, int c) {
    float[] arena = new float[rows * c + c];
    Random r = new Random(3);
    for (int i = 0; i < rows * c; i++) {
      arena[i] = (float) r.nextGaussian() * 1000;
    }
    new KernelInterpreter(arena, new long[] {0, rows * c}).run(k);
    return java.util.Arrays.copyOfRange(arena, rows * c, rows * c + c);
  }
}
