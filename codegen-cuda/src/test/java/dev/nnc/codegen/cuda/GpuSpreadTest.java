package dev.nnc.codegen.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.codegen.cpu.CpuBackend;
import dev.nnc.codegen.cpu.CpuHarness;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Winograd;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A Winograd transform's tiles spread over threads ({@link GpuEmitter#spread}): with few images
 * and channels a thread per (channel, image) would run every tile of its image; a thread per
 * tile runs one. Emulated, the spread kernels equal the CPU back end's on images whose tiles
 * fall in regions (edges padded, a ragged last row and column), as do the same kernels with a
 * thread per (channel, image) (-Dnnc.gpu.spread=false); the launch covers a thread per tile, and
 * the PTX passes ptxas.
 */
class GpuSpreadTest {
  @ParameterizedTest
  @CsvSource({"2,3,12,12", "1,5,10,14", "3,2,4,4", "2,4,32,32"})
  void tilesAndUntilesSpreadOneTileAThread(int n, int c, int h, int w) throws Exception {
    int th = (h + 3) / 4;
    int tw = (w + 3) / 4;
    Random r = new Random(n * 131L + c * 31L + h * 7L + w);
    // The input tiles of a 3×3 convolution padded by 1 (6×6 windows, 4 apart), and the output's
    // (6×6 products onto 4×4 pixels).
    Graph tiles = graph(new Winograd(true, Winograd.Matrix.BT4, false, 4, 1, 1, th, tw, h, w), Shape.of(n, c, h, w));
    Graph untiles = graph(new Winograd(false, Winograd.Matrix.AT4, false, 4, 0, 0, th, tw, h, w),
        Shape.of(36, c, n * th * tw));
    for (Graph g : List.of(tiles, untiles)) {
      float[] x = GpuGemmTest.rand(r, g == tiles ? n * c * h * w : 36 * c * n * th * tw);
      float[] want = run(g, new CpuBackend(), x);
      for (boolean spread : new boolean[] {true, false}) {
        if (!spread) {
          System.setProperty("nnc.gpu.spread", "false");
        }
        try {
          float[] got = run(g, new EmulatedCudaBackend(), x);
          String where = g.name() + " n=" + n + " c=" + c + " " + h + "×" + w + (spread ? " spread" : " pairs");
          assertEquals(want.length, got.length, where);
          // Sums of up to 36 terms of up to 100 times an input: rounded differently where the CPU
          // contracts them into other FMAs, so within 1e-4 of the largest magnitude.
          double largest = 1;
          for (float v : want) {
            largest = Math.max(largest, Math.abs(v));
          }
          for (int i = 0; i < want.length; i++) {
            assertTrue(Math.abs(want[i] - got[i]) <= 1e-4 * largest,
                where + " at " + i + ": CPU " + want[i] + ", emulated GPU " + got[i]);
          }
          CpuHarness.Built built = CpuHarness.build(g, new CudaBackend());
          CudaCompiled cc = (CudaCompiled) built.compiled();
          Manifest.Call call = built.manifest().program("p").calls().get(0);
          long threads = call.extent() * cc.threads(call.symbol());
          long items = (long) c * n * (spread ? th * tw : 1);
          assertTrue(threads >= items && threads < items + GpuEmitter.BLOCK,
              where + ": " + threads + " threads for " + items + " items");
          Ptxas.check(cc.text(), "sm_80");
        } finally {
          System.clearProperty("nnc.gpu.spread");
        }
      }
    }
  }

  private static Graph graph(Winograd op, Shape in) {
    Graph.Builder b = Graph.builder(op.toTiles() ? "tiles" : "untiles");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(in));
    b.output("y", b.add(op, x));
    return b.build();
  }

  private static float[] run(Graph g, Backend backend, float[] x) {
    CpuHarness.Built built = CpuHarness.build(g, backend);
    try (NativeModel m = new NativeModel(built.manifest(), KernelLibrary.ofAddresses(built.compiled().jit()), 2)) {
      m.setInput("p", "x", x);
      m.run("p");
      return m.output("p", "y");
    }
  }
}
