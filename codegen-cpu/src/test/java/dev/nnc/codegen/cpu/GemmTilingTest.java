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
  @CsvSource({"6,2,48,512", "1,1,1,1", "5,2,45,64", "4,3,48,100", "3,4,9,7", "8,4,64,33", "16,2,16,1000",
      "32,1,64,256", "2,8,6,512", "1,8,3,5"})
  void acceptedTilingsAreCorrect(int mr, int nv, int mc, int kc) {
    GemmEmitter.Tiling t = new GemmEmitter.Tiling(mr, nv, mc, kc);
    int[][] shapes = {{1, 1, 1}, {67, 71, 130}, {130, 9, 257}, {64, 64, 64}};
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
  @CsvSource({"0,2,48,512,nnc.gemm.mr", "65,1,65,512,nnc.gemm.mr", "6,0,48,512,nnc.gemm.nv",
      "6,9,48,512,nnc.gemm.nv", "12,3,48,512,accumulators", "6,2,4,512,nnc.gemm.mc", "5,2,48,512,nnc.gemm.mc",
      "6,2,48,0,nnc.gemm.kc", "-1,2,48,512,nnc.gemm.mr"})
  void otherTilingsAreRefused(int mr, int nv, int mc, int kc, String named) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new GemmEmitter.Tiling(mr, nv, mc, kc));
    assertTrue(e.getMessage().startsWith("GEMM tiling: ") && e.getMessage().contains(named), e.getMessage());
  }

  @Test
  void systemPropertiesAreParsedAndChecked() {
    System.setProperty("nnc.gemm.kc", "abc");
    try {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          GemmEmitter.Tiling::fromSystemProperties);
      assertEquals("GEMM tiling: nnc.gemm.kc must be an integer, got 'abc'", e.getMessage());
      System.setProperty("nnc.gemm.kc", "256");
      assertEquals(new GemmEmitter.Tiling(6, 2, 48, 256), GemmEmitter.Tiling.fromSystemProperties());
    } finally {
      System.clearProperty("nnc.gemm.kc");
    }
  }
}
