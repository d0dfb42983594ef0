package dev.nnc.codegen.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.codegen.cpu.CpuHarness;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Param;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The tensor-core GEMM ({@code --tf32}), emulated: {@code mma.sync}'s registers gathered by the
 * PTX ISA's fragment layout, the inputs rounded to TF32. Its results must equal the products of
 * the TF32-rounded inputs summed exactly (so a fragment in the wrong register, or inputs not
 * rounded, fails), and FP32's within the documented tolerance, 2⁻¹⁰ of Σ|a·b|; its PTX must hold
 * the tensor-core instructions and pass ptxas for sm_80 and sm_90.
 */
class GpuTf32Test {
  @ParameterizedTest
  @CsvSource({"1,64,64,8", "1,64,64,64", "1,100,129,37", "2,64,130,9", "1,128,72,1", "3,96,80,23", "1,65,64,200"})
  void tensorCoreGemmSumsTheRoundedInputs(int batch, int m, int n, int k) throws Exception {
    System.setProperty("nnc.gpu.gemm", "blocked");
    try {
      Random r = new Random(batch * 131 + m * 31 + n * 7 + k);
      for (boolean ta : new boolean[] {false, true}) {
        for (boolean tb : new boolean[] {false, true}) {
          check(r, batch, m, n, k, ta, tb);
        }
      }
    } finally {
      System.clearProperty("nnc.gpu.gemm");
    }
  }

  private void check(Random r, int batch, int m, int n, int k, boolean ta, boolean tb) throws Exception {
    Graph g = gemm(batch, m, n, k, ta, tb);
    float[] av = GpuGemmTest.rand(r, batch * m * k);
    float[] bv = GpuGemmTest.rand(r, batch * n * k);
    float[] bias = GpuGemmTest.rand(r, n);
    float[] got = GpuGemmTest.run(g, new EmulatedCudaBackend(false, true), av, bv, bias, batch);
    assertEquals((long) batch * m * n, got.length);
    String where = "batch=" + batch + " m=" + m + " n=" + n + " k=" + k + " ta=" + ta + " tb=" + tb;
    double furthest = 0;
    for (int q = 0; q < batch; q++) {
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          double rounded = batch == 1 ? bias[j] : 0;
          double exact = rounded;
          double magnitude = 0;
          for (int x = 0; x < k; x++) {
            float a = av[q * m * k + (ta ? x * m + i : i * k + x)];
            float b = bv[q * k * n + (tb ? j * k + x : x * n + j)];
            rounded += (double) tf32(a) * tf32(b);
            exact += (double) a * b;
            magnitude += Math.abs((double) a * b);
          }
          float v = got[(q * m + i) * n + j];
          String at = where + " at (" + q + ", " + i + ", " + j + ")";
          assertTrue(Math.abs(v - rounded) <= 2e-6 * (magnitude + 1), at + ": emulated " + v + ", TF32 inputs summed "
              + rounded);
          assertTrue(Math.abs(v - exact) <= TOLERANCE * magnitude + 1e-6, at + ": emulated " + v + ", FP32 " + exact);
          furthest = Math.max(furthest, Math.abs(exact - rounded) / (magnitude + 1));
        }
      }
    }
    // The inputs were rounded: somewhere TF32's sum is further from FP32's than the first check allows.
    assertTrue(furthest > 2e-6, where + ": TF32 and FP32 agree to " + furthest);
    String ptx = CpuHarness.buildFor(g, new CudaBackend(true), "sm_80").compiled().text();
    assertTrue(ptx.contains("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32") && ptx.contains("cvt.rna.tf32.f32"),
        where + ": the tensor-core GEMM\n" + ptx);
    Ptxas.check(ptx, "sm_80");
  }

  /** TF32 against FP32, relative to Σ|aᵢₖ·bₖⱼ|: each input rounded to 10 bits of mantissa (2⁻¹¹), a product by 2⁻¹⁰. */
  static final double TOLERANCE = 0x1p-10;

  @Test
  void ptxasTakesItForHopperAndTheDefaultKeepsFp32() throws Exception {
    System.setProperty("nnc.gpu.gemm", "blocked");
    try {
      Graph g = gemm(1, 128, 128, 64, false, true);
      Ptxas.check(CpuHarness.buildFor(g, new CudaBackend(true), "sm_90").compiled().text(), "sm_90");
      String fp32 = CpuHarness.buildFor(g, new CudaBackend(), "sm_80").compiled().text();
      assertTrue(!fp32.contains("mma.sync") && !fp32.contains("tf32"), "FP32 unless asked");
    } finally {
      System.clearProperty("nnc.gpu.gemm");
    }
  }

  @Test
  void olderGpusAreRefused() {
    Graph g = gemm(1, 64, 64, 8, false, false);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CpuHarness.buildFor(g, new CudaBackend(true), "sm_75"));
    assertEquals("TF32 tensor cores need sm_80 or newer, not sm_75; leave out --tf32 or choose --gpu sm_80",
        e.getMessage());
  }

  /** {@code cvt.rna.tf32.f32}, written independently of the emitter's: to the nearest multiple of 2¹³ in the bits, ties away from zero. */
  static float tf32(float x) {
    if (Float.isNaN(x) || Float.isInfinite(x)) {
      return x;
    }
    int bits = Float.floatToRawIntBits(x);
    int magnitude = bits & 0x7fffffff;
    int low = magnitude & 0x1fff;
    int kept = magnitude - low + (low >= 0x1000 ? 0x2000 : 0);
    return Float.intBitsToFloat((bits & 0x80000000) | kept);
  }

  private static Graph gemm(int batch, int m, int n, int k, boolean ta, boolean tb) {
    Graph.Builder b = Graph.builder("g");
    Shape as = ta ? Shape.of(k, m) : Shape.of(m, k);
    Shape bs = tb ? Shape.of(n, k) : Shape.of(k, n);
    Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(batch == 1 ? as : Shape.of(batch, as.dim(0), as.dim(1))));
    Node w = b.addTyped(new Input("b"), List.of(), TensorType.f32(batch == 1 ? bs : Shape.of(batch, bs.dim(0), bs.dim(1))));
    Node mm = b.add(new MatMul(ta, tb), a, w);
    if (batch == 1) {
      // The bias becomes the GEMM's epilogue.
      Node bias = b.addTyped(new Param("bias", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(Shape.of(n)));
      mm = b.add(new Binary(BinaryFn.ADD), mm, bias);
    }
    b.output("y", mm);
    return b.build();
  }
}
