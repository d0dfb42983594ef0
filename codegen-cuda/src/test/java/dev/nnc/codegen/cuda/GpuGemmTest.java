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
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The GPU GEMMs — register-blocked and double-buffered where C holds a 64-square or a 128-square
 * tile, tiled 16 × 16 through shared memory down to 16, a thread per element where C is thinner —
 * emulated against the CPU back end's: edge tiles (M, N, K not multiples of the tiles; K of one step or one element),
 * every transpose combination, batches of products, the fused bias + tanh epilogue; and their PTX
 * (with its barriers and shared memory, the register-blocked kernels' vector reads of it) accepted
 * by ptxas without spills.
 */
class GpuGemmTest {
  @ParameterizedTest
  @CsvSource({"1,16,16,16", "1,1,7,5", "1,5,40,3", "1,17,33,19", "1,64,64,64", "1,100,129,513", "1,31,16,1",
      "3,20,18,37", "4,16,33,15", "1,65,70,9", "2,64,130,8", "1,128,64,1", "3,96,80,23", "2,512,520,17",
      "1,128,128,8", "1,130,257,33", "2,200,136,9", "1,256,128,1"})
  void emulatedGemmEqualsTheCpuBackEnd(int batch, int m, int n, int k) throws Exception {
    // Every shape that holds a 64-square tile through the register-blocked kernel, whatever its
    // number of tiles, the others through the 16 × 16 one; then those that hold a 128-square tile
    // through the wide kernel; then the default choice.
    for (String choice : new String[] {"blocked", "wide", "auto"}) {
      System.setProperty("nnc.gpu.gemm", choice);
      try {
        check(batch, m, n, k, choice);
      } finally {
        System.clearProperty("nnc.gpu.gemm");
      }
    }
  }

  private void check(int batch, int m, int n, int k, String choice) throws Exception {
    Random r = new Random(batch * 131 + m * 31 + n * 7 + k);
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        Graph.Builder b = Graph.builder("g");
        Shape as = ta ? Shape.of(k, m) : Shape.of(m, k);
        Shape bs = tb ? Shape.of(n, k) : Shape.of(k, n);
        Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(batch == 1 ? as : Shape.of(batch, as.dim(0), as.dim(1))));
        Node w = b.addTyped(new Input("b"), List.of(), TensorType.f32(batch == 1 ? bs : Shape.of(batch, bs.dim(0), bs.dim(1))));
        Node mm = b.add(new MatMul(ta, tb), a, w);
        if (batch == 1) {
          // The bias and tanh become the GEMM's epilogue.
          Node bias = b.addTyped(new Param("bias", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(Shape.of(n)));
          mm = b.add(new Unary(UnaryFn.TANH, 0), b.add(new Binary(BinaryFn.ADD), mm, bias));
        }
        b.output("y", mm);
        Graph g = b.build();
        float[] av = rand(r, batch * m * k);
        float[] bv = rand(r, batch * n * k);
        float[] bias = rand(r, n);
        float[] want = run(g, new CpuBackend(), av, bv, bias, batch);
        float[] got = run(g, new EmulatedCudaBackend(), av, bv, bias, batch);
        assertEquals(want.length, got.length);
        String where = "batch=" + batch + " m=" + m + " n=" + n + " k=" + k + " ta=" + ta + " tb=" + tb + " " + choice;
        for (int i = 0; i < want.length; i++) {
          assertTrue(Math.abs(want[i] - got[i]) <= 1e-5 * Math.sqrt(k) * Math.max(1, Math.abs(want[i])),
              where + " at " + i + ": CPU " + want[i] + ", emulated GPU " + got[i]);
        }
        String ptx = CpuHarness.build(g, new CudaBackend()).compiled().text();
        if (GpuEmitter.TILE <= m && GpuEmitter.TILE <= n) {
          assertTrue(ptx.contains("bar.sync") && ptx.contains(".shared"), where + ": the tiled GEMM\n" + ptx);
        }
        int side = "wide".equals(choice) && m >= GpuEmitter.WIDE_TILE && n >= GpuEmitter.WIDE_TILE ? GpuEmitter.WIDE_TILE
            : m >= GpuEmitter.BLOCKED_TILE && n >= GpuEmitter.BLOCKED_TILE && !"auto".equals(choice) ? GpuEmitter.BLOCKED_TILE
            : 0;
        if (side > 0) {
          // The register-blocked kernels read their runs of A and B as vectors: two a step of K in
          // the 64-square tile, four in the 128-square one, each step unrolled eight times.
          assertEquals(2 * GpuEmitter.BLOCKED_K * side / GpuEmitter.BLOCKED_TILE, count(ptx, "ld.shared.v4.f32"),
              where + ": vector reads of shared memory\n" + ptx);
        }
        String report = Ptxas.check(ptx, "sm_80");
        java.util.Map<String, Ptxas.Resources> used = Ptxas.resources(report);
        assertTrue(!used.isEmpty(), where + ": ptxas reports no kernel\n" + report);
        for (var u : used.entrySet()) {
          assertEquals(0, u.getValue().spillStores(), where + ": ptxas spills registers of " + u.getKey() + "\n" + report);
        }
      }
    }
  }

  static float[] run(Graph g, Backend backend, float[] a, float[] b, float[] bias, int batch) {
    CpuHarness.Built built = CpuHarness.build(g, backend);
    try (NativeModel m = new NativeModel(built.manifest(), KernelLibrary.ofAddresses(built.compiled().jit()), 2)) {
      m.setInput("p", "a", a);
      m.setInput("p", "b", b);
      if (batch == 1) {
        m.setParam("bias", bias);
      }
      m.run("p");
      return m.output("p", "y");
    }
  }

  private static int count(String text, String what) {
    int n = 0;
    for (int at = text.indexOf(what); at >= 0; at = text.indexOf(what, at + 1)) {
      n++;
    }
    return n;
  }

  static float[] rand(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }
}
