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

  /**
   * A channel's sum over images and positions (batchnorm's statistics and gradients): the threads
   * take consecutive positions (the rows of a channel merged into one loop) and, where that leaves
   * threads, images too; on 7 × 7 positions, which no power of two of at least 8 divides, images
   * only. Emulated equal to the CPU; the launch's threads as said; every kernel fits a
   * multiprocessor by ptxas' count of its registers.
   */
  @ParameterizedTest
  @CsvSource({"16,3,8,8,1024", "128,2,4,4,1024", "4,2,16,16,1024", "64,3,7,7,64", "8,5,2,16,256"})
  void aChannelsSumTakesConsecutivePositionsInAWarp(int n, int c, int h, int w, int threads) throws Exception {
    Graph g = channelSum(n, c, h, w);
    String where = "n=" + n + " c=" + c + " " + h + "×" + w;
    emulatedEqualsTheCpu(g, n, c, h, w, where);
    CpuHarness.Built built = CpuHarness.build(g, new CudaBackend());
    CudaCompiled cc = (CudaCompiled) built.compiled();
    assertTrue(cc.text().contains("shfl.sync.bfly"), where + ": a block per channel");
    int most = cc.schedules().get("p").stream().mapToInt(call -> cc.threads(call.symbol())).max().orElseThrow();
    assertEquals(threads, most, where + ": the block per channel's threads");
    java.util.Map<String, Ptxas.Resources> used = Ptxas.resources(Ptxas.check(cc.text(), "sm_80"));
    for (var call : cc.schedules().get("p")) {
      Ptxas.Resources u = used.get(cc.entry(call.symbol()));
      assertTrue(u != null && u.fits(cc.threads(call.symbol())), where + ": " + call.symbol() + " uses " + u);
    }
  }

  /**
   * Few outputs with long sums (a batchnorm's statistics over a few channels): each output's sum
   * split over several blocks, whose parts a second kernel adds in order before the stores; not
   * where the sums are short (8 images of 8 × 8) or would not split into blocks of the same
   * threads (7 × 7 positions, the threads over the images only).
   * Emulated equal to the CPU, split or not ({@code -Dnnc.gpu.parts=false}); the split launches
   * {@code outputs × parts} blocks of the unsplit block's threads and the parts' sum.
   */
  @ParameterizedTest
  @CsvSource({"64,2,32,32,16", "32,9,32,32,16", "128,48,16,16,4", "1024,2,7,7,1", "8,3,8,8,1"})
  void aFewLongSumsSplitOverBlocks(int n, int c, int h, int w, int parts) throws Exception {
    Graph g = channelSum(n, c, h, w);
    for (boolean split : new boolean[] {true, false}) {
      if (!split) {
        System.setProperty("nnc.gpu.parts", "false");
      }
      try {
        String where = "n=" + n + " c=" + c + " " + h + "×" + w + (split ? " split" : " whole");
        emulatedEqualsTheCpu(g, n, c, h, w, where);
        CpuHarness.Built built = CpuHarness.build(g, new CudaBackend());
        CudaCompiled cc = (CudaCompiled) built.compiled();
        var calls = cc.schedules().get("p");
        long sums = calls.stream().filter(call -> call.symbol().endsWith(GpuEmitter.PARTS)).count();
        int expect = split ? parts : 1;
        assertEquals(expect > 1 ? 1 : 0, sums, where + ": the parts' sum in the schedule");
        var reduce = calls.stream().filter(call -> cc.text().contains("shfl.sync.bfly")
            && !call.symbol().endsWith(GpuEmitter.PARTS) && cc.threads(call.symbol()) >= 32).findFirst().orElseThrow();
        assertEquals((long) c * expect, calls.stream().filter(call -> call.symbol().equals(reduce.symbol()))
            .findFirst().orElseThrow().extent(), where + ": blocks of " + reduce.symbol());
        Ptxas.check(cc.text(), "sm_80");
      } finally {
        System.clearProperty("nnc.gpu.parts");
      }
    }
  }

  /** What fits a multiprocessor: registers allocated per warp in 256s, 65,536 a block; 1,024 threads; 48 KB of shared memory; and ptxas' report read per entry. */
  @org.junit.jupiter.api.Test
  void aBlockFitsByItsRegistersThreadsAndSharedMemory() {
    assertTrue(new Ptxas.Resources(64, 0, 0).fits(1024));
    assertTrue(!new Ptxas.Resources(65, 0, 0).fits(1024), "65 registers round up to 72: 73,728 for 1,024 threads");
    assertTrue(new Ptxas.Resources(255, 0, 0).fits(256));
    assertTrue(!new Ptxas.Resources(16, 0, 0).fits(2048));
    assertTrue(new Ptxas.Resources(32, 48 * 1024, 0).fits(256) && !new Ptxas.Resources(32, 48 * 1024 + 4, 0).fits(256));
    java.util.Map<String, Ptxas.Resources> r = Ptxas.resources("ptxas info    : Compiling entry function 'g1_sum' for 'sm_80'\n"
        + "ptxas info    : Function properties for g1_sum\n"
        + "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
        + "ptxas info    : Used 40 registers, used 1 barriers, 128 bytes smem, 372 bytes cmem[0]\n"
        + "ptxas info    : Compiling entry function 'g2_add' for 'sm_80'\n"
        + "ptxas info    : Function properties for g2_add\n"
        + "    8 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads\n"
        + "ptxas info    : Used 12 registers, 360 bytes cmem[0]\n");
    assertEquals(new Ptxas.Resources(40, 128, 0), r.get("g1_sum"));
    assertEquals(new Ptxas.Resources(12, 0, 8), r.get("g2_add"));
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

  /** {@code sum_to(x·y, [c, 1, 1])} of two {@code [n, c, h, w]} inputs: a channel's sum over images and positions. */
  private static Graph channelSum(int n, int c, int h, int w) {
    Graph.Builder b = Graph.builder("r");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(Shape.of(n, c, h, w)));
    Node y = b.addTyped(new Input("y"), List.of(), TensorType.f32(Shape.of(n, c, h, w)));
    b.output("perChannel", b.add(new SumTo(Shape.of(c, 1, 1)), b.add(new Binary(BinaryFn.MUL), x, y)));
    return b.build();
  }

  /** {@link #channelSum}'s output, emulated, equal to the CPU back end's on random inputs (within the sums' rounding). */
  private static void emulatedEqualsTheCpu(Graph g, int n, int c, int h, int w, String where) {
    Random r = new Random(n * 31 + c * 7 + h * w);
    float[] xv = rand(r, n * c * h * w);
    float[] yv = rand(r, n * c * h * w);
    float[] want = run(g, new CpuBackend(), xv, yv, "perChannel");
    float[] got = run(g, new EmulatedCudaBackend(), xv, yv, "perChannel");
    for (int i = 0; i < want.length; i++) {
      assertTrue(Math.abs(want[i] - got[i]) <= 1e-5 * Math.sqrt(n * h * w) * Math.max(1, Math.abs(want[i])),
          where + " at " + i + ": CPU " + want[i] + ", emulated GPU " + got[i]);
    }
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
