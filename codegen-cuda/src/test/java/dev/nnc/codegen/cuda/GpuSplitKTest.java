package dev.nnc.codegen.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.codegen.cpu.CpuBackend;
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
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import dev.nnc.runtime.Manifest;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GEMMs split along K on the GPU ({@link GpuEmitter#splitK}): a weight gradient's {@code Aᵀ·B}
 * with few tiles of C and a long K runs as a batch of partial products into the kernel's scratch
 * and a kernel that adds them and applies the epilogue. Emulated, its results equal the CPU back
 * end's, with and without the split; the split happens exactly where {@code splitK} says (the
 * schedule's {@code _sum} call), and its PTX passes ptxas.
 */
class GpuSplitKTest {
  @ParameterizedTest
  @CsvSource({
    // m, n, k, parts: a 64 × 27 weight gradient (16² tiles: 8 of them) over a long batch;
    // 64-square tiles with a part of K at the least; edges in M and N, and a K of 5 parts;
    // one 16² tile; a K with no divisor that leaves parts of 512.
    "64,27,8192,16", "128,96,4096,8", "100,129,3000,5", "16,16,1024,2", "64,64,1031,1"})
  void splitProductsEqualTheCpuBackEnd(int m, int n, int k, int parts) throws Exception {
    Graph g = weightGradient(m, n, k, true);
    assertEquals(parts, GpuEmitter.splitK(gemmOf(g)), "parts for " + m + "×" + n + "×" + k);
    Random r = new Random(m * 31L + n * 7L + k);
    float[] av = GpuGemmTest.rand(r, m * k);
    // Sums of about unit size, where tanh does not saturate and hide an error.
    for (int i = 0; i < av.length; i++) {
      av[i] /= (float) Math.sqrt(k);
    }
    float[] bv = GpuGemmTest.rand(r, k * n);
    float[] bias = GpuGemmTest.rand(r, n);
    float[] want = GpuGemmTest.run(g, new CpuBackend(), av, bv, bias, 1);
    for (boolean split : new boolean[] {true, false}) {
      if (!split) {
        System.setProperty("nnc.gpu.splitk", "false");
      }
      try {
        float[] got = GpuGemmTest.run(g, new EmulatedCudaBackend(), av, bv, bias, 1);
        String where = m + "×" + n + "×" + k + (split ? " split" : " whole");
        for (int i = 0; i < want.length; i++) {
          assertTrue(Math.abs(want[i] - got[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])),
              where + " at " + i + ": CPU " + want[i] + ", emulated GPU " + got[i]);
        }
        CpuHarness.Built built = CpuHarness.build(g, new CudaBackend());
        long sums = built.manifest().program("p").calls().stream().map(Manifest.Call::symbol)
            .filter(s -> s.endsWith(GpuEmitter.SUM)).count();
        assertEquals(split && parts > 1 ? 1 : 0, sums, where + ": the partial products' sum in the schedule");
        Ptxas.check(built.compiled().text(), "sm_80");
      } finally {
        System.clearProperty("nnc.gpu.splitk");
      }
    }
  }

  @ParameterizedTest
  @CsvSource({"64,27,8192", "128,96,4096"})
  void onlyTheWeightGradientsFormIsSplit(int m, int n, int k) {
    // A stored [M,K] (or B [N,K]): a part's operand is not a contiguous block of it.
    assertEquals(1, GpuEmitter.splitK(gemmOf(weightGradient(m, n, k, false))));
  }

  /** The Gemm kernel {@code g} lowers to. */
  private static dev.nnc.ir.kernel.Kernel.Gemm gemmOf(Graph g) {
    return dev.nnc.passes.lower.LowerToKernels.lower(g, "p").leaves().stream()
        .filter(k -> k instanceof dev.nnc.ir.kernel.Kernel.Gemm).map(k -> (dev.nnc.ir.kernel.Kernel.Gemm) k)
        .findFirst().orElseThrow();
  }

  /** {@code tanh(Aᵀ·B + bias)} with A stored [K, M] ({@code transA}) or [M, K], B stored [K, N]. */
  private static Graph weightGradient(int m, int n, int k, boolean transA) {
    Graph.Builder b = Graph.builder("g");
    Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(transA ? Shape.of(k, m) : Shape.of(m, k)));
    Node w = b.addTyped(new Input("b"), List.of(), TensorType.f32(Shape.of(k, n)));
    Node bias = b.addTyped(new Param("bias", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(Shape.of(n)));
    Node mm = b.add(new MatMul(transA, false), a, w);
    b.output("y", b.add(new Unary(UnaryFn.TANH, 0), b.add(new Binary(BinaryFn.ADD), mm, bias)));
    return b.build();
  }
}
