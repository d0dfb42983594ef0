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

  /**
   * A Winograd description must fit its buffers as the nest does: a back end emits it instead of
   * the nest, without bounds checks. x holds one 3×4 image; F(2×2) tiles of it need 16 × 1 × 2 floats.
   */
  @Test
  void tileTransformDescriptionsAreChecked() {
    dev.nnc.ir.ops.Winograd op = new dev.nnc.ir.ops.Winograd(true, dev.nnc.ir.ops.Winograd.Matrix.BT2, false, 2, 1, 1,
        1, 2, 3, 4);
    KStmt.Loop root = copy(0, 0).kernels().get(0) instanceof Kernel.Loops l ? l.root() : null;
    KStmt.Loop oneChannel = new KStmt.Loop(0, 1, root.body());
    List<Buffer> bufs = List.of(BUFS.get(0), new Buffer(1, "y", Buffer.Kind.TEMP, 32, Shape.of(16, 1, 2)));
    java.util.function.Function<Kernel.TileTransform, List<String>> check = t -> KernelVerifier.problems(
        new KernelProgram("p", bufs, List.of(new Kernel.Loops("k", oneChannel, 2, 0, false, 12, t)), Map.of("x", 0),
            Map.of(), Map.of()));
    assertEquals(List.of(), check.apply(new Kernel.TileTransform(0, 1, 1, 1, op)));
    assertEquals(List.of("kernel k (winograd_tiles) images: elements 0..23 of buffer x (12 elements)"),
        check.apply(new Kernel.TileTransform(0, 1, 2, 1, op)).subList(0, 1));
    assertEquals(List.of("kernel k (winograd_tiles): 1 images of 3 channels, outermost loop of 1"),
        check.apply(new Kernel.TileTransform(0, 1, 1, 3, op)));
    assertEquals(List.of("kernel k (winograd_tiles) tiles: elements 0..31 of buffer x (12 elements)"),
        check.apply(new Kernel.TileTransform(0, 0, 1, 1, op)));
  }

  /**
   * An access at a data-dependent row counts with every row it can take: a table of 3 rows of 4
   * read at {@code j + 4·row(x[i])} fits in 12 elements; declared with 4 rows it does not. The
   * interpreter clamps the row as back ends do, and the row's own load is checked too.
   */
  @Test
  void dataDependentRowsAreCheckedOverEveryRow() {
    java.util.function.BiFunction<Long, Long, KernelProgram> lookup = (rows, idAt) -> {
      KExpr.Row row = new KExpr.Row(new KExpr.Load(0, new Affine(idAt, new long[] {4, 0})), 4, rows);
      KStmt store = new KStmt.Store(1, new Affine(0, new long[] {4, 1}), new KExpr.Load(0, new Affine(0, new long[] {0, 1}), row));
      KStmt.Loop root = new KStmt.Loop(0, 3, List.of(new KStmt.Loop(1, 4, List.of(store))));
      return new KernelProgram("p", BUFS, List.of(new Kernel.Loops("k", root, 2, 0, true, 0)), Map.of("x", 0),
          Map.of(), Map.of());
    };
    assertEquals(List.of(), KernelVerifier.problems(lookup.apply(3L, 0L)));
    assertEquals(List.of("kernel k load of x: indices 0..15 for 12 elements"),
        KernelVerifier.problems(lookup.apply(4L, 0L)));
    assertEquals(List.of("kernel k load of x: indices 4..12 for 12 elements"),
        KernelVerifier.problems(lookup.apply(3L, 4L)));
    // x[0], x[4], x[8] = 2.7, -5, 9 as ids: rows 2, 0 (clamped) and 2 (clamped) of x, which is
    // [2.7, 1, 2, 3 | -5, 5, 6, 7 | 9, 9, 10, 11].
    float[] arena = new float[24];
    for (int i = 0; i < 12; i++) {
      arena[i] = i;
    }
    arena[0] = 2.7f;
    arena[4] = -5;
    arena[8] = 9;
    new dev.nnc.ir.kernel.KernelInterpreter(arena, new long[] {0, 12}).run(lookup.apply(3L, 0L).kernels().get(0));
    assertEquals(9f, arena[12]);
    assertEquals(11f, arena[15]);
    assertEquals(2.7f, arena[16]);
    assertEquals(9f, arena[20]);
    assertEquals(11f, arena[23]);
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

  /** y[i,j] = x[i, j + shift] where 0 <= j + shift < 4, else 0 (a row shifted with zero padding). */
  static KernelProgram shifted(long shift, List<KExpr.Guard> guards) {
    KStmt store = new KStmt.Store(1, new Affine(0, new long[] {4, 1}),
        new KExpr.Load(0, new Affine(shift, new long[] {4, 1}), guards, 0));
    KStmt.Loop root = new KStmt.Loop(0, 3, List.of(new KStmt.Loop(1, 4, List.of(store))));
    return new KernelProgram("p", BUFS, List.of(new Kernel.Loops("k", root, 2, 0, true, 12)), Map.of("x", 0),
        Map.of(), Map.of());
  }

  @Test
  void guardsBoundThePartOfTheIndexTheyCover() {
    // Shift by -1 (left padding) and by +2: the column guard keeps both inside their rows.
    for (long shift : new long[] {-1, 2}) {
      List<KExpr.Guard> column = List.of(new KExpr.Guard(new Affine(shift, new long[] {0, 1}), 0, 4));
      assertEquals(List.of(), KernelVerifier.problems(shifted(shift, column)), "shift " + shift);
    }
    // Without the guard, or with a guard too wide for the buffer, the access is out of bounds.
    assertEquals(List.of("kernel k load of x: indices -1..10 for 12 elements"),
        KernelVerifier.problems(shifted(-1, List.of())));
    assertEquals(List.of("kernel k load of x: indices 0..13 for 12 elements"),
        KernelVerifier.problems(shifted(2, List.of(new KExpr.Guard(new Affine(2, new long[] {0, 1}), 0, 6)))));
    // A guard on something that is not part of the index proves nothing about it.
    List<KExpr.Guard> rows = List.of(new KExpr.Guard(new Affine(0, new long[] {1, 0}), 0, 3));
    assertEquals(1, KernelVerifier.problems(shifted(-1, rows)).size());
  }

  @Test
  void guardedStoresAreCheckedUnderTheirGuards() {
    Affine at = new Affine(-1, new long[] {4, 1});
    List<KExpr.Guard> g = List.of(new KExpr.Guard(new Affine(-1, new long[] {0, 1}), 0, 4));
    KStmt.Loop root = new KStmt.Loop(0, 3, List.of(new KStmt.Loop(1, 4, List.of(new KStmt.Store(1, at,
        new KExpr.Lit(1), g)))));
    KernelProgram ok = new KernelProgram("p", BUFS, List.of(new Kernel.Loops("k", root, 2, 0, true, 12)),
        Map.of("x", 0), Map.of(), Map.of());
    assertEquals(List.of(), KernelVerifier.problems(ok));
    KStmt.Loop bad = new KStmt.Loop(0, 3, List.of(new KStmt.Loop(1, 4, List.of(new KStmt.Store(1, at,
        new KExpr.Lit(1))))));
    assertEquals(List.of("kernel k store of y: indices -1..10 for 12 elements"), KernelVerifier.problems(
        new KernelProgram("p", BUFS, List.of(new Kernel.Loops("k", bad, 2, 0, true, 12)), Map.of("x", 0), Map.of(),
            Map.of())));
  }

  /**
   * A loop over time steps: its body is checked like any kernel (every row its counter can select
   * counted), a body may not write the counter, loops do not nest, and the counter must exist;
   * the interpreter runs the body once per step with the step's index in the counter.
   */
  @Test
  void stepsAreCheckedAndRun() {
    // y[t, j] = x[t, j] + t for t < 3 (rows of 4), the row given by the counter (buffer 2).
    List<Buffer> bufs = List.of(BUFS.get(0), BUFS.get(1), new Buffer(2, "t", Buffer.Kind.TEMP, 1, Shape.of(1)));
    KExpr t = new KExpr.Load(2, new Affine(0, new long[1]));
    KExpr.Row row = new KExpr.Row(t, 4, 3);
    KStmt store = new KStmt.Store(1, new Affine(0, new long[] {1}),
        new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Load(0, new Affine(0, new long[] {1}), row), t), row);
    Kernel.Loops body = new Kernel.Loops("row", new KStmt.Loop(0, 4, List.of(store)), 1, 0, false, 4);
    Kernel.Steps loop = new Kernel.Steps("time", 2, 3, 2, -1, List.of(body));
    KernelProgram p = new KernelProgram("p", bufs, List.of(loop), Map.of("x", 0), Map.of(), Map.of());
    assertEquals(List.of(), KernelVerifier.problems(p));
    float[] arena = new float[25];
    for (int i = 0; i < 12; i++) {
      arena[i] = i;
    }
    new dev.nnc.ir.kernel.KernelInterpreter(arena, new long[] {0, 12, 24}).run(loop);
    for (int i = 0; i < 12; i++) {
      assertEquals(i + i / 4, arena[12 + i], 0, "y[" + i + "]");
    }
    assertEquals(0, arena[24], 0, "the counter's last value: 2 + 2·(−1)");
    assertTrue(dev.nnc.ir.kernel.KernelPrinter.print(p).contains("steps time: b2[0] = 2 - s for s < 3 {"),
        dev.nnc.ir.kernel.KernelPrinter.print(p));

    KStmt bad = new KStmt.Store(2, new Affine(0, new long[] {0}), new KExpr.Lit(0));
    Kernel.Loops writer = new Kernel.Loops("w", new KStmt.Loop(0, 1, List.of(bad)), 1, 0, false, 1);
    Kernel.Steps nested = new Kernel.Steps("outer", 2, 2, 0, 1, List.of(new Kernel.Steps("inner", 2, 2, 0, 1,
        List.of(body)), writer));
    List<String> problems = KernelVerifier.problems(new KernelProgram("p", bufs, List.of(nested), Map.of(), Map.of(),
        Map.of()));
    assertTrue(problems.contains("steps inner: nested in steps outer (a body holds loop nests and GEMMs only)"),
        problems.toString());
    assertTrue(problems.contains("steps outer: kernel w writes the step counter b2"), problems.toString());
    List<String> noCounter = KernelVerifier.problems(new KernelProgram("p", bufs, List.of(new Kernel.Steps("time", 7,
        3, 0, 1, List.of(body))), Map.of(), Map.of(), Map.of()));
    assertTrue(noCounter.contains("steps time counter: no buffer 7"), noCounter.toString());
  }
}
