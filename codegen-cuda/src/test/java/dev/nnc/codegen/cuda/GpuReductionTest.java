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
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.SumTo;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Sums per output over the batch — a bias's gradient, {@code sum_to} of {@code [n, c, s]} to
 * {@code [c, s]} or {@code [c, 1]} (batchnorm's) — as a block per output with warp shuffles:
 * emulated equal to the CPU back end, and the PTX (its {@code shfl.sync.bfly}) accepted by ptxas.
 */
class GpuReductionTest {
  @ParameterizedTest
  @CsvSource({"256,20,1,true", "64,8,16,true", "96,3,5,true", "40,7,1,false", "512,1,1,true"})
  void sumsOverTheBatchAsABlockPerOutput(int n, int c, int s, boolean block) throws Exception {
    Graph.Builder b = Graph.builder("r");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(Shape.of(n, c, s)));
    Node y = b.addTyped(new Input("y"), List.of(), TensorType.f32(Shape.of(n, c, s)));
    // x·y summed over the batch (a weight gradient's shape), and over the batch and positions.
    Node prod = b.add(new Binary(BinaryFn.MUL), x, y);
    b.output("perPosition", b.add(new SumTo(Shape.of(c, s)), prod));
    b.output("perChannel", b.add(new SumTo(Shape.of(c, 1)), prod));
    Graph g = b.build();
    Random r = new Random(n * 31 + c * 7 + s);
    float[] xv = rand(r, n * c * s);
    float[] yv = rand(r, n * c * s);
    for (String out : new String[] {"perPosition", "perChannel"}) {
      float[] want = run(g, new CpuBackend(), xv, yv, out);
      float[] got = run(g, new EmulatedCudaBackend(), xv, yv, out);
      assertEquals(want.length, got.length);
      for (int i = 0; i < want.length; i++) {
        assertTrue(Math.abs(want[i] - got[i]) <= 1e-5 * Math.sqrt(n * s) * Math.max(1, Math.abs(want[i])),
            out + " n=" + n + " c=" + c + " s=" + s + " at " + i + ": CPU " + want[i] + ", emulated GPU " + got[i]);
      }
    }
    String ptx = CpuHarness.build(g, new CudaBackend()).compiled().text();
    assertEquals(block, ptx.contains("shfl.sync.bfly"), "a block per output where the batch is a multiple of 32\n");
    Ptxas.check(ptx, "sm_80");
  }

  /** A direct convolution's weight gradient: a sum per tap (several locals at once) over the batch, a block per filter. */
  @ParameterizedTest
  @CsvSource({"64,2,3,10,10,3", "32,1,4,8,8,5"})
  void aDirectWeightGradientSumsEveryTapInABlock(int n, int c, int o, int h, int w, int k) throws Exception {
    dev.nnc.ir.ops.Window win = dev.nnc.ir.ops.Window.of(k, 1, 0);
    Graph.Builder b = Graph.builder("r");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(Shape.of(n, c, h, w)));
    Node y = b.addTyped(new Input("y"), List.of(), TensorType.f32(Shape.of(n, o, h - k + 1, w - k + 1)));
    b.output("perPosition", b.add(new dev.nnc.ir.ops.Conv2dGradWeight(win), x, y));
    Graph g = b.build();
    Random r = new Random(n + c + o + h + k);
    float[] xv = rand(r, n * c * h * w);
    float[] yv = rand(r, n * o * (h - k + 1) * (w - k + 1));
    float[] want = run(g, new CpuBackend(), xv, yv, "perPosition");
    float[] got = run(g, new EmulatedCudaBackend(), xv, yv, "perPosition");
    for (int i = 0; i < want.length; i++) {
      assertTrue(Math.abs(want[i] - got[i]) <= 1e-5 * Math.sqrt(n * h * w) * Math.max(1, Math.abs(want[i])),
          "n=" + n + " at " + i + ": CPU " + want[i] + ", emulated GPU " + got[i]);
    }
    String ptx = CpuHarness.build(g, new CudaBackend()).compiled().text();
    assertTrue(ptx.contains("shfl.sync.bfly"), "a block per filter");
    Ptxas.check(ptx, "sm_80");
  }

  private static float[] run(Graph g, Backend backend, float[] x, float[] y, String out) {
    CpuHarness.Built built = CpuHarness.build(g, backend);
    try (NativeModel m = new NativeModel(built.manifest(), KernelLibrary.ofAddresses(built.compiled().jit()), 2)) {
      m.setInput("p", "x", x);
      m.setInput("p", "y", y);
      m.run("p");
      return m.output("p", out);
    }
  }

  static float[] rand(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }
}
