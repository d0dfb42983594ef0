package dev.nnc.ir.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** When a nest's second loop, and the loops inside it, may be spread over threads as well as its first. */
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

  /** {@code base + c·sc + n·sn + r·sr + t·st} over vars (c, n, r, t). */
  static KExpr.Affine idx4(long base, long sc, long sn, long sr, long st) {
    return new KExpr.Affine(base, new long[] {sc, sn, sr, st});
  }

  /** A region of a transform's tiles: {@code for n < 8 { for r < rows { for t < cols { stores } } }}. */
  static KStmt.Loop region(long rows, long cols, KStmt... stores) {
    return new KStmt.Loop(1, 8, List.of(new KStmt.Loop(2, rows, List.of(new KStmt.Loop(3, cols, List.of(stores))))));
  }

  static Kernel.Loops regions(KStmt.Loop... regions) {
    return new Kernel.Loops("k", new KStmt.Loop(0, 4, List.of(regions)), 4, 1, true, 1);
  }

  static final KExpr PIXEL = new KExpr.Load(0, idx4(0, 1024, 64, 8, 1));

  /**
   * A transform's tiles over an image of 4 × 4 tiles, in regions as the lowering makes them (the
   * first row, then the rest; two planes of 16 tiles per image and channel): each tile a lane.
   */
  @Test
  void aTransformsTilesSpreadOneALane() {
    KStmt.Loop top = region(1, 4, store(1, idx4(0, 128, 16, 4, 1), PIXEL), store(1, idx4(4096, 128, 16, 4, 1), PIXEL));
    KStmt.Loop rest = region(3, 4, store(1, idx4(4, 128, 16, 4, 1), PIXEL), store(1, idx4(4100, 128, 16, 4, 1), PIXEL));
    Kernel.Loops k = regions(top, rest);
    assertEquals(8, Independence.secondLoops(k));
    assertEquals(16, Independence.spreadLanes(k, 1 << 16));
    // Too many pairs already: not spread.
    assertEquals(0, Independence.spreadLanes(k, 32));
    // Regions whose tiles meet (the second starting a row too early) write one element from two lanes.
    KStmt.Loop early = region(3, 4, store(1, idx4(3, 128, 16, 4, 1), PIXEL), store(1, idx4(4099, 128, 16, 4, 1), PIXEL));
    assertEquals(0, Independence.spreadLanes(regions(top, early), 1 << 16));
  }

  @Test
  void spreadingNeedsEveryIterationApart() {
    // A tile loop whose stride a store ignores: its iterations, now lanes, write one element.
    KStmt.Loop ignored = region(2, 4, store(1, idx4(0, 64, 8, 0, 1), PIXEL));
    assertTrue(0 != Independence.secondLoops(regions(ignored)));
    assertEquals(0, Independence.spreadLanes(regions(ignored), 1 << 16));
    // A running value across the tiles (a local read before this tile writes it).
    KStmt.Loop carried = region(2, 4, new KStmt.Assign(0, new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Local(0), PIXEL)),
        store(1, idx4(0, 64, 8, 4, 1), new KExpr.Local(0)));
    assertEquals(0, Independence.spreadLanes(regions(carried), 1 << 16));
    // One element stored by two regions: one lane's store would race another's.
    KStmt.Loop a = region(1, 4, store(1, idx4(0, 64, 8, 4, 1), PIXEL));
    assertEquals(0, Independence.spreadLanes(regions(a, region(1, 4, store(1, idx4(0, 64, 8, 4, 1), PIXEL))), 1 << 16));
    // Reading back what another tile stored (the region before's element at the same index).
    KStmt.Loop reads = region(1, 4, store(2, idx4(0, 64, 8, 4, 1), new KExpr.Load(1, idx4(0, 64, 8, 4, 1))));
    assertEquals(0, Independence.spreadLanes(regions(a, reads), 1 << 16));
    // Reading back its own store, in the same tile: apart.
    KStmt.Loop own = region(2, 4, store(1, idx4(0, 64, 8, 4, 1), PIXEL),
        store(2, idx4(0, 64, 8, 4, 1), new KExpr.Load(1, idx4(0, 64, 8, 4, 1))));
    assertEquals(8, Independence.spreadLanes(regions(own), 1 << 16));
    // Not a perfect nest below the second loop: the tiles are the statements' own loops.
    KStmt.Loop twoLoops = new KStmt.Loop(1, 8, List.of(new KStmt.Loop(2, 2, List.of(store(1, idx4(0, 64, 8, 4, 0),
        PIXEL))), new KStmt.Loop(3, 2, List.of(store(1, idx4(5, 64, 8, 0, 1), PIXEL)))));
    assertTrue(0 != Independence.secondLoops(regions(twoLoops)));
    assertEquals(0, Independence.spreadLanes(regions(twoLoops), 1 << 16));
  }

  /**
   * The 16 pixels of an untiled 4 × 4 tile, {@code 32·row + 4·r·32 + 4·t + column} for r, t < 8: the
   * stores' indices differ by multiples of the strides' common divisor, 4, and still never meet.
   */
  @Test
  void interleavedStoresThatNeverMeetAreApart() {
    KStmt[] pixels = new KStmt[16];
    for (int p = 0; p < 16; p++) {
      pixels[p] = store(1, idx4(32 * (p / 4) + p % 4, 65536, 1024, 128, 4), PIXEL);
    }
    Kernel.Loops untiles = regions(region(8, 8, pixels));
    assertEquals(8, Independence.secondLoops(untiles));
    assertEquals(64, Independence.spreadLanes(untiles, 1 << 16));
    // A ragged last column: a store guarded past the image's edge (at the next tile row's first pixel),
    // which never runs, does not count.
    KStmt.Store dead = new KStmt.Store(1, idx4(128, 65536, 1024, 128, 4), PIXEL,
        List.of(new KExpr.Guard(idx4(6, 0, 0, 0, 4), 0, 6)), null);
    assertEquals(8, Independence.spreadLanes(regions(region(8, 1, store(1, idx4(0, 65536, 1024, 128, 4), PIXEL), dead)),
        1 << 16));
    KStmt.Store live = new KStmt.Store(1, idx4(4, 65536, 1024, 128, 4), PIXEL,
        List.of(new KExpr.Guard(idx4(5, 0, 0, 0, 4), 0, 6)), null);
    assertEquals(0, Independence.spreadLanes(regions(region(8, 2, store(1, idx4(0, 65536, 1024, 128, 4), PIXEL), live)),
        1 << 16));
    // One pixel a row too far (32·4 = 128: the next tile row's first): it meets a store of the next tile row.
    pixels[15] = store(1, idx4(128, 65536, 1024, 128, 4), PIXEL);
    assertEquals(0, Independence.secondLoops(regions(region(8, 8, pixels))));
  }

  @Test
  void oneToOneIsMixedRadix() {
    assertTrue(Independence.oneToOne(new long[] {12, 4, 1}, new long[] {5, 3, 4}));
    assertFalse(Independence.oneToOne(new long[] {12, 4, 1}, new long[] {5, 3, 5}));
    assertTrue(Independence.oneToOne(new long[] {-8, 1}, new long[] {4, 8}));
    assertFalse(Independence.oneToOne(new long[] {2, 1}, new long[] {4, 4}));
  }
}
