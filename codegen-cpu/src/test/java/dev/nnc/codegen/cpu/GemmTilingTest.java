package dev.nnc.codegen.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Param;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every GEMM blocking the emitter accepts produces correct code, and every other one is refused
 * with a message before code is generated (two JVM crash logs once came from tile settings other
 * than the default). The shapes cover edge tiles in M and N, several K slices and both transposes
 * of B; the scratch bound (tiles of at most 64 rows or columns) is exercised at its limits.
 */
class GemmTilingTest {
  @ParameterizedTest
  @CsvSource({"8,6,2,48,512", "8,1,1,1,1", "8,5,2,45,64", "8,4,3,48,100", "8,3,4,9,7", "8,8,4,64,33",
      "8,16,2,16,1000", "8,32,1,64,256", "8,2,8,6,512", "8,1,8,3,5", "4,6,2,48,512", "4,3,8,6,9",
      "16,12,2,96,256", "16,14,2,28,300", "16,8,3,16,7", "16,6,4,48,512", "16,1,1,1,1", "16,32,1,64,33",
      "16,6,4,192,512", "16,24,1,48,33", "8,12,1,48,512"})
  void acceptedTilingsAreCorrect(int lanes, int mr, int nv, int mc, int kc) {
    GemmEmitter.Tiling t = new GemmEmitter.Tiling(lanes, mr, nv, mc, kc);
    if (lanes > Llvm.host().vectorWidth()) {
      // This host could not run the code: it is refused before any is generated.
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> check(t, 4, 4, 4, false));
      assertTrue(e.getMessage().contains("nnc.gemm.lanes=" + lanes), e.getMessage());
      return;
    }
    // The last two: a long K that packing splits into parts (the last part not a multiple of 8).
    int[][] shapes = {{1, 1, 1}, {67, 71, 130}, {130, 9, 257}, {64, 64, 64}, {37, 100, 24}, {6, 25, 5003},
        {20, 70, 2101}};
    for (int[] s : shapes) {
      for (boolean tb : new boolean[] {false, true}) {
        check(t, s[0], s[1], s[2], tb);
      }
    }
  }

  private static void check(GemmEmitter.Tiling t, int m, int n, int k, boolean tb) {
    Random r = new Random(m * 131 + n * 17 + k);
    Graph.Builder b = Graph.builder("g");
    Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(Shape.of(m, k)));
    Node w = b.addTyped(new Param("w", Param.Role.WEIGHT, Init.ZEROS), List.of(),
        TensorType.f32(tb ? Shape.of(n, k) : Shape.of(k, n)));
    b.output("y", b.add(new MatMul(false, tb), a, w));
    float[] av = GemmTest.rand(r, m * k);
    float[] wv = GemmTest.rand(r, n * k);
    CpuHarness.Built built = CpuHarness.build(b.build(), new CpuBackend(t));
    try (NativeModel nm = new NativeModel(built.manifest(), KernelLibrary.ofAddresses(built.compiled().jit()), 2)) {
      nm.setInput("p", "a", av);
      nm.setParam("w", wv);
      nm.run("p");
      float[] y = nm.output("p", "y");
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          double acc = GemmTest.product(av, wv, m, n, k, false, tb, i, j);
          assertTrue(Math.abs(acc - y[i * n + j]) <= 1e-4 * Math.sqrt(k),
              t + " m=" + m + " n=" + n + " k=" + k + " tb=" + tb + " at (" + i + "," + j + "): " + acc + " vs "
                  + y[i * n + j]);
        }
      }
    }
  }

  @ParameterizedTest
  @CsvSource({"8,0,2,48,512,nnc.gemm.mr", "8,65,1,65,512,nnc.gemm.mr", "8,6,0,48,512,nnc.gemm.nv",
      "8,6,9,48,512,nnc.gemm.nv", "16,6,5,48,512,nnc.gemm.nv", "8,12,3,48,512,accumulators",
      "8,6,2,4,512,nnc.gemm.mc", "8,5,2,48,512,nnc.gemm.mc", "8,6,2,48,0,nnc.gemm.kc", "8,-1,2,48,512,nnc.gemm.mr",
      "32,6,1,48,512,nnc.gemm.lanes", "12,6,2,48,512,nnc.gemm.lanes"})
  void otherTilingsAreRefused(int lanes, int mr, int nv, int mc, int kc, String named) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new GemmEmitter.Tiling(lanes, mr, nv, mc, kc));
    assertTrue(e.getMessage().startsWith("GEMM tiling: ") && e.getMessage().contains(named), e.getMessage());
  }

  @Test
  void systemPropertiesAreParsedAndChecked() {
    Llvm.Host host = Llvm.host();
    System.setProperty("nnc.gemm.kc", "abc");
    try {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> GemmEmitter.Tiling.fromSystemProperties(host));
      assertEquals("GEMM tiling: nnc.gemm.kc must be an integer, got 'abc'", e.getMessage());
      System.setProperty("nnc.gemm.kc", "256");
      GemmEmitter.Tiling d = GemmEmitter.Tiling.forHost(host);
      assertEquals(new GemmEmitter.Tiling(d.lanes(), d.mr(), d.nv(), d.mc(), 256),
          GemmEmitter.Tiling.fromSystemProperties(host));
      // Another width brings its own blocking.
      System.setProperty("nnc.gemm.lanes", "8");
      assertEquals(new GemmEmitter.Tiling(8, 6, 2, 48, 256), GemmEmitter.Tiling.fromSystemProperties(host));
    } finally {
      System.clearProperty("nnc.gemm.kc");
      System.clearProperty("nnc.gemm.lanes");
    }
  }

  /**
   * A GEMM narrower than the micro-tile gets fewer vectors and as many accumulators in more rows
   * (16 columns or fewer under AVX-512: the 8-lane kernel); wide ones keep the blocking.
   */
  @Test
  void narrowGemmsGetNarrowTiles() {
    GemmEmitter.Tiling wide = GemmEmitter.Tiling.AVX512;
    assertEquals(wide, wide.narrowedTo(1000));
    assertEquals(wide, wide.narrowedTo(49));
    assertEquals(new GemmEmitter.Tiling(16, 8, 3, 192, 512), wide.narrowedTo(48));
    assertEquals(new GemmEmitter.Tiling(16, 12, 2, 192, 512), wide.narrowedTo(17));
    assertEquals(GemmEmitter.Tiling.AVX2, wide.narrowedTo(16));
    assertEquals(new GemmEmitter.Tiling(8, 12, 1, 48, 512), wide.narrowedTo(3));
    assertEquals(GemmEmitter.Tiling.AVX2, GemmEmitter.Tiling.AVX2.narrowedTo(9));
    assertEquals(new GemmEmitter.Tiling(8, 12, 1, 48, 512), GemmEmitter.Tiling.AVX2.narrowedTo(8));
  }

  /** The lanes follow the target: zmm where a 512-bit FMA runs at full width, ymm on Zen 4 and AVX2. */
  @Test
  void lanesFollowTheTarget() {
    String v4 = "+avx,+avx2,+fma,+avx512f,+avx512bw";
    assertEquals(16, GemmEmitter.Tiling.lanes(new Llvm.Host("x86_64-pc-linux-gnu", "icelake-server", v4)));
    assertEquals(16, GemmEmitter.Tiling.lanes(new Llvm.Host("x86_64-pc-linux-gnu", "x86-64-v4", v4)));
    assertEquals(8, GemmEmitter.Tiling.lanes(new Llvm.Host("x86_64-pc-linux-gnu", "znver4", v4)));
    assertEquals(8, GemmEmitter.Tiling.lanes(new Llvm.Host("x86_64-pc-linux-gnu", "x86-64-v3", "+avx,+avx2,+fma")));
    assertEquals(4, GemmEmitter.Tiling.lanes(new Llvm.Host("x86_64-pc-linux-gnu", "x86-64", "+sse2")));
    Llvm.Host avx2 = new Llvm.Host("x86_64-pc-linux-gnu", "x86-64-v3", "+avx,+avx2,+fma");
    System.setProperty("nnc.gemm.lanes", "16");
    try {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> GemmEmitter.Tiling.fromSystemProperties(avx2));
      assertTrue(e.getMessage().contains("needs AVX-512"), e.getMessage());
    } finally {
      System.clearProperty("nnc.gemm.lanes");
    }
  }
}
