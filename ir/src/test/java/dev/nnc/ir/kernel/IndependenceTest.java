package dev.nnc.ir.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** When a nest's second loop may be spread over threads as well as its first. */
class IndependenceTest {
  /** {@code b·c + s·n + base} over vars (c, n, j). */
  static KExpr.Affine idx(long base, long c, long n, long j) {
    return new KExpr.Affine(base, new long[] {c, n, j});
  }

  static Kernel.Loops nest(boolean parallel, KStmt... inSecond) {
    KStmt.Loop second = new KStmt.Loop(1, 8, List.of(inSecond));
    return new Kernel.Loops("k", new KStmt.Loop(0, 4, List.of(second)), 3, 1, parallel, 1);
  }

  static KStmt.Store store(int buf, KExpr.Affine at, KExpr value) {
    return new KStmt.Store(buf, at, value);
  }

  static final KExpr IN = new KExpr.Load(0, idx(0, 1, 4, 0));

  @Test
  void aTransposeIsIndependent() {
    assertTrue(0 != Independence.secondLoops(nest(true, store(1, idx(0, 8, 1, 0), IN))));
    // An inner loop whose stride the store ignores repeats a write within one item: still independent.
    KStmt.Loop inner = new KStmt.Loop(2, 3, List.of(store(1, idx(0, 8, 1, 0), IN)));
    assertTrue(0 != Independence.secondLoops(nest(true, inner)));
    // Stores into one buffer at ranges apart.
    assertTrue(0 != Independence.secondLoops(nest(true, store(1, idx(0, 8, 1, 0), IN),
        store(1, idx(32, 8, 1, 0), IN))));
  }

  @Test
  void writesThatMeetOrDependAreNot() {
    // Two (c, n) pairs write one element.
    assertFalse(0 != Independence.secondLoops(nest(true, store(1, idx(0, 1, 1, 0), IN))));
    // The second loop's stride ignored: every n writes the same element.
    assertFalse(0 != Independence.secondLoops(nest(true, store(1, idx(0, 1, 0, 0), IN))));
    // Overlapping stores into one buffer.
    assertFalse(0 != Independence.secondLoops(nest(true, store(1, idx(0, 8, 1, 0), IN),
        store(1, idx(1, 8, 1, 0), IN))));
    // Reading what the nest writes (before this iteration wrote it, or another element).
    assertFalse(0 != Independence.secondLoops(nest(true, store(1, idx(0, 8, 1, 0),
        new KExpr.Load(1, idx(0, 8, 1, 0))))));
    assertFalse(0 != Independence.secondLoops(nest(true, store(1, idx(0, 8, 1, 0), IN),
        store(2, idx(0, 8, 1, 0), new KExpr.Load(1, idx(1, 8, 1, 0))))));
    // A local read before it is written in an iteration: a running value from the one before.
    assertFalse(0 != Independence.secondLoops(nest(true,
        store(1, idx(0, 8, 1, 0), new KExpr.Local(0)), new KStmt.Assign(0, IN))));
    assertFalse(0 != Independence.secondLoops(nest(true,
        new KStmt.Assign(0, new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Local(0), IN)), store(1, idx(0, 8, 1, 0),
            new KExpr.Local(0)))));
    // Not a parallel nest, or more than the one loop in the outer one.
    assertFalse(0 != Independence.secondLoops(nest(false, store(1, idx(0, 8, 1, 0), IN))));
    Kernel.Loops two = new Kernel.Loops("k", new KStmt.Loop(0, 4, List.of(new KStmt.Loop(1, 8,
        List.of(store(1, idx(0, 8, 1, 0), IN))), store(2, idx(0, 1, 0, 0), IN))), 3, 1, true, 1);
    assertFalse(0 != Independence.secondLoops(two));
    // Loops of different extents in the outer one.
    Kernel.Loops uneven = new Kernel.Loops("k", new KStmt.Loop(0, 4, List.of(
        new KStmt.Loop(1, 8, List.of(store(1, idx(0, 16, 1, 0), IN))),
        new KStmt.Loop(2, 4, List.of(store(1, idx(8, 16, 0, 1), IN))))), 3, 1, true, 1);
    assertEquals(0, Independence.secondLoops(uneven));
  }

  /** Several loops of one extent in the outer one (a Winograd transform's regions), writing apart. */
  @Test
  void loopsOfOneExtentCountTogether() {
    Kernel.Loops regions = new Kernel.Loops("k", new KStmt.Loop(0, 4, List.of(
        new KStmt.Loop(1, 8, List.of(store(1, idx(0, 16, 1, 0), IN))),
        new KStmt.Loop(2, 8, List.of(store(1, idx(8, 16, 0, 1), IN))))), 3, 1, true, 1);
    assertEquals(8, Independence.secondLoops(regions));
    Kernel.Loops meeting = new Kernel.Loops("k", new KStmt.Loop(0, 4, List.of(
        new KStmt.Loop(1, 8, List.of(store(1, idx(0, 16, 1, 0), IN))),
        new KStmt.Loop(2, 8, List.of(store(1, idx(4, 16, 0, 1), IN))))), 3, 1, true, 1);
    assertEquals(0, Independence.secondLoops(meeting));
  }

  /** An element-wise chain fused into the nest: each iteration reads back only what it stored. */
  @Test
  void readingBackTheIterationsOwnStoreIsIndependent() {
    assertTrue(0 != Independence.secondLoops(nest(true, store(1, idx(0, 8, 1, 0), IN),
        store(2, idx(0, 8, 1, 0), new KExpr.Load(1, idx(0, 8, 1, 0))))));
  }

  /** A sum per iteration, started afresh in each (a direct convolution's output element): independent. */
  @Test
  void aSumStartedInEachIterationIsPrivateToIt() {
    KStmt.Loop taps = new KStmt.Loop(2, 3, List.of(new KStmt.Assign(0, new KExpr.Bin(KExpr.BinOp.ADD,
        new KExpr.Local(0), new KExpr.Load(0, idx(0, 1, 4, 1))))));
    assertTrue(0 != Independence.secondLoops(nest(true, new KStmt.Assign(0, new KExpr.Lit(0)), taps,
        store(1, idx(0, 8, 1, 0), new KExpr.Local(0)))));
    // Started once outside the second loop's iteration: carried.
    assertFalse(0 != Independence.secondLoops(nest(true, taps, store(1, idx(0, 8, 1, 0), new KExpr.Local(0)))));
  }

  @Test
  void oneToOneIsMixedRadix() {
    assertTrue(Independence.oneToOne(new long[] {12, 4, 1}, new long[] {5, 3, 4}));
    assertFalse(Independence.oneToOne(new long[] {12, 4, 1}, new long[] {5, 3, 5}));
    assertTrue(Independence.oneToOne(new long[] {-8, 1}, new long[] {4, 8}));
    assertFalse(Independence.oneToOne(new long[] {2, 1}, new long[] {4, 4}));
  }
}
