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

  /**
   * A channel's sum over 16 images of 8 × 8 positions, {@code x[64·c + 192·n + 8·h + w]}: the rows
   * merge into one loop of 64 consecutive floats, which 64 threads take in turn, and the 16 images
   * the 16 groups of them; a warp reads consecutive floats.
   */
  @Test
  void aChannelsSumSplitsItsPositionsAcrossAWarp() {
    KStmt.Loop w = new KStmt.Loop(3, 8, List.of(new KStmt.Assign(0, new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Local(0),
        new KExpr.Load(0, idx(0, 64, 192, 8, 1))))));
    KStmt.Loop sum = new KStmt.Loop(1, 16, List.of(new KStmt.Loop(2, 8, List.of(w))));
    Kernel.Loops k = new Kernel.Loops("s", new KStmt.Loop(0, 3, List.of(new KStmt.Assign(0, new KExpr.Lit(0)), sum,
        new KStmt.Store(1, idx(0, 1), new KExpr.Local(0)))), 4, 1, true, 1);
    BlockReduction r = BlockReduction.of(k);
    assertNotNull(r);
    assertEquals(1024, r.threads());
    assertEquals(64, r.along());
    assertEquals(4, r.thread());
    assertEquals(5, r.across());
    // The partial sum: each group of threads its image, each thread its position, once.
    KStmt.Loop images = r.partial();
    assertEquals(1, images.extent());
    KStmt.Loop positions = (KStmt.Loop) images.body().get(0);
    assertEquals(3, positions.var());
    assertEquals(1, positions.extent());
    KExpr.Load ld = (KExpr.Load) ((KExpr.Bin) ((KStmt.Assign) positions.body().get(0)).value()).y();
    assertArrayEquals(new long[] {64, 16 * 192, 0, 64, 1, 192}, ld.index().strides());
    // Rows not contiguous (a stride of 9 for 8 positions): the innermost loop alone, 8 threads along it.
    KStmt.Loop gapped = new KStmt.Loop(1, 16, List.of(new KStmt.Loop(2, 8, List.of(new KStmt.Loop(3, 8, List.of(
        new KStmt.Assign(0, new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Local(0), new KExpr.Load(0, idx(0, 64, 192, 9, 1))))))))));
    BlockReduction g = BlockReduction.of(new Kernel.Loops("s", new KStmt.Loop(0, 3, List.of(new KStmt.Assign(0,
        new KExpr.Lit(0)), gapped, new KStmt.Store(1, idx(0, 1), new KExpr.Local(0)))), 4, 1, true, 1));
    assertEquals(8, g.along());
    assertEquals(128, g.threads());
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
