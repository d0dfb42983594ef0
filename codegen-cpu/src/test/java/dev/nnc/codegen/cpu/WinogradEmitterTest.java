package dev.nnc.codegen.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Winograd;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Winograd transforms as the CPU back end emits them (vectorised across a row's tiles where
 * {@link WinogradEmitter} takes them, else the nest) against the op's definition in double:
 * input transforms with zero padding on every side, weight-gradient transforms without padding,
 * exact output transforms with a partial last tile, rows of 3 to 20 tiles (4-, 8- and 16-lane
 * code and partial chunks), odd and non-square images, several images and channels, one and two
 * threads, 8 and (where the host has AVX-512) 16 lanes.
 */
class WinogradEmitterTest {
  @ParameterizedTest
  @CsvSource({
      // tiles: matrix, transposed, stride, pad, h, w, images, channels
      "BT2, false, 2, 1, 32, 32, 2, 3", "BT2, false, 2, 1, 13, 13, 1, 2", "BT2, false, 2, 1, 10, 7, 3, 1",
      "BT2, false, 2, 1, 40, 40, 1, 2", "BT2, false, 2, 1, 4, 4, 2, 2", "BT4, false, 4, 1, 16, 16, 2, 3",
      "BT4, false, 4, 1, 28, 28, 1, 2", "BT4, false, 4, 1, 56, 9, 1, 1", "BT4, false, 4, 1, 9, 30, 2, 1",
      "AT2, true, 2, 0, 32, 32, 2, 2", "AT2, true, 2, 0, 15, 15, 1, 3", "AT4, true, 4, 0, 16, 16, 2, 2",
      "AT4, true, 4, 0, 28, 26, 1, 2", "G2, false, 3, 0, 3, 3, 20, 3", "GR2, false, 3, 0, 3, 3, 5, 2",
      "G4, false, 3, 0, 3, 3, 33, 2", "GR4, false, 3, 0, 3, 3, 2, 3"})
  void inputTransformsMatchDefinition(String matrix, boolean transposed, int stride, int pad, int h, int w,
      int images, int channels) {
    Winograd.Matrix m = Winograd.Matrix.valueOf(matrix);
    // Tiles that cover the convolution's output as lower-conv makes them: a 3×3 input transform
    // covers the padded image's h + 2·pad − 2 output rows, a weight-gradient one dy's h rows,
    // a filter transform its one 3×3 window.
    int outH = transposed ? h : h + 2 * pad - 2;
    int outW = transposed ? w : w + 2 * pad - 2;
    int th = stride == 3 ? 1 : (outH + stride - 1) / stride;
    int tw = stride == 3 ? 1 : (outW + stride - 1) / stride;
    Winograd op = new Winograd(true, m, transposed, stride, pad, pad, th, tw, h, w);
    Shape xs = Shape.of(images, channels, h, w);
    float[] x = rand(new Random(h * 31 + w * 7 + images), (int) xs.size());
    double[] want = tilesOf(op, x, images, channels);
    check(op, xs, x, want);
  }

  @ParameterizedTest
  @CsvSource({
      // untiles: matrix, transposed, stride, tiles h, tiles w, h, w, images, channels
      "AT2, false, 2, 16, 16, 32, 32, 2, 3", "AT2, false, 2, 7, 7, 13, 13, 1, 2", "AT2, false, 2, 10, 4, 20, 7, 2, 1",
      "AT2, false, 2, 20, 20, 40, 40, 1, 1", "AT2, false, 2, 2, 2, 4, 4, 2, 2", "AT4, false, 4, 4, 4, 16, 16, 2, 3",
      "AT4, false, 4, 7, 7, 28, 28, 1, 2", "AT4, false, 4, 4, 4, 14, 14, 1, 2", "AT4, false, 4, 3, 14, 10, 55, 1, 1",
      // the weight gradient's way back to 3×3 filters: one tile per image
      "G2, true, 3, 1, 1, 3, 3, 20, 3", "G4, true, 3, 1, 1, 3, 3, 7, 2", "G2, true, 3, 1, 1, 3, 3, 2, 2"})
  void outputTransformsMatchDefinition(String matrix, boolean transposed, int stride, int th, int tw, int h, int w,
      int images, int channels) {
    Winograd op = new Winograd(false, Winograd.Matrix.valueOf(matrix), transposed, stride, 0, 0, th, tw, h, w);
    Shape ms = Shape.of(op.q() * op.q(), channels, images * th * tw);
    float[] mv = rand(new Random(th * 31 + tw * 7 + h + w), (int) ms.size());
    double[] want = imagesOf(op, mv, images, channels);
    check(op, ms, mv, want);
  }

  /** Which transforms the emitter takes, and at how many lanes: the rest keep their nest. */
  @Test
  void takesRowsOfThreeOrMoreTilesAndExactOutputTransforms() {
    Winograd wide = new Winograd(true, Winograd.Matrix.BT2, false, 2, 1, 1, 16, 16, 32, 32);
    assertEquals(16, WinogradEmitter.lanes(transform(wide), 16));
    assertEquals(8, WinogradEmitter.lanes(transform(wide), 8));
    assertEquals(8, WinogradEmitter.lanes(transform(new Winograd(true, Winograd.Matrix.BT2, false, 2, 1, 1, 7, 7, 13, 13)), 16));
    assertEquals(4, WinogradEmitter.lanes(transform(new Winograd(true, Winograd.Matrix.BT4, false, 4, 1, 1, 4, 4, 16, 16)), 16));
    assertEquals(0, WinogradEmitter.lanes(transform(new Winograd(true, Winograd.Matrix.BT4, false, 4, 1, 1, 2, 2, 8, 8)), 16));
    assertEquals(0, WinogradEmitter.lanes(transform(wide), 4), "no AVX: the nest");
    // The adjoint of the overlapping input transform sums windows: the nest.
    assertEquals(0, WinogradEmitter.lanes(transform(wide.adjoint()), 16));
    assertEquals(16, WinogradEmitter.lanes(transform(new Winograd(false, Winograd.Matrix.AT2, false, 2, 0, 0, 16, 16, 32, 32)), 16));
    // Filter transforms run across the filters: 64 of them take 16 lanes, 2 keep the nest.
    Winograd filters = new Winograd(true, Winograd.Matrix.G2, false, 3, 0, 0, 1, 1, 3, 3);
    assertEquals(16, WinogradEmitter.lanes(new Kernel.TileTransform(0, 1, 64, 64, filters), 16));
    assertEquals(0, WinogradEmitter.lanes(new Kernel.TileTransform(0, 1, 2, 64, filters), 16));
  }

  private static Kernel.TileTransform transform(Winograd op) {
    return new Kernel.TileTransform(0, 1, 1, 1, op);
  }

  /** Compiles {@code y = op(x)} at 8 lanes and, where the host has AVX-512, at 16, and compares on one and two threads. */
  private static void check(Winograd op, Shape xs, float[] x, double[] want) {
    Graph.Builder b = Graph.builder("g");
    Node in = b.addTyped(new Input("x"), List.of(), TensorType.f32(xs));
    b.output("y", b.add(op, in));
    Graph g = b.build();
    List<GemmEmitter.Tiling> tilings = Llvm.host().has("avx512f")
        ? List.of(GemmEmitter.Tiling.AVX2, GemmEmitter.Tiling.AVX512) : List.of(GemmEmitter.Tiling.AVX2);
    for (GemmEmitter.Tiling t : tilings) {
      if (!Llvm.host().has("avx")) {
        continue;
      }
      CpuHarness.Built built = CpuHarness.build(g, new CpuBackend(t));
      for (int threads : new int[] {1, 2}) {
        try (NativeModel nm = new NativeModel(built.manifest(), KernelLibrary.ofAddresses(built.compiled().jit()), threads)) {
          nm.setInput("p", "x", x);
          nm.run("p");
          float[] y = nm.output("p", "y");
          assertEquals(want.length, y.length);
          for (int i = 0; i < want.length; i++) {
            assertTrue(Math.abs(want[i] - y[i]) <= 1e-5 * (1 + Math.abs(want[i])), op + " lanes=" + t.lanes()
                + " threads=" + threads + " at " + i + ": want " + want[i] + ", got " + y[i]);
          }
        }
      }
    }
  }

  /** {@code V[i·p+j, c, t] = Σ_{a,b} L[i][a]·L[j][b]·x[n, c, th·s+a−pt, tw·s+b−pl]}, zero outside. */
  private static double[] tilesOf(Winograd op, float[] x, int images, int channels) {
    int p = op.p();
    int q = op.q();
    int h = op.height();
    int w = op.width();
    long tiles = (long) images * op.tiles();
    double[] v = new double[(int) (p * p * channels * tiles)];
    for (int c = 0; c < channels; c++) {
      for (int n = 0; n < images; n++) {
        for (int th = 0; th < op.tilesH(); th++) {
          for (int tw = 0; tw < op.tilesW(); tw++) {
            long t = (long) n * op.tiles() + (long) th * op.tilesW() + tw;
            for (int i = 0; i < p; i++) {
              for (int j = 0; j < p; j++) {
                double sum = 0;
                for (int a = 0; a < q; a++) {
                  for (int bb = 0; bb < q; bb++) {
                    int r = th * op.stride() + a - op.padTop();
                    int col = tw * op.stride() + bb - op.padLeft();
                    if (r >= 0 && r < h && col >= 0 && col < w) {
                      sum += op.at(i, a) * op.at(j, bb) * x[((n * channels + c) * h + r) * w + col];
                    }
                  }
                }
                v[(int) (((long) (i * p + j) * channels + c) * tiles + t)] = sum;
              }
            }
          }
        }
      }
    }
    return v;
  }

  /** {@code y[n, c, th·s+i, tw·s+j] = Σ_{a,b} L[i][a]·L[j][b]·M[a·q+b, c, t]} for windows inside the image. */
  private static double[] imagesOf(Winograd op, float[] m, int images, int channels) {
    int p = op.p();
    int q = op.q();
    int h = op.height();
    int w = op.width();
    long tiles = (long) images * op.tiles();
    double[] y = new double[images * channels * h * w];
    for (int c = 0; c < channels; c++) {
      for (int n = 0; n < images; n++) {
        for (int th = 0; th < op.tilesH(); th++) {
          for (int tw = 0; tw < op.tilesW(); tw++) {
            long t = (long) n * op.tiles() + (long) th * op.tilesW() + tw;
            for (int i = 0; i < p; i++) {
              for (int j = 0; j < p; j++) {
                int r = th * op.stride() + i;
                int col = tw * op.stride() + j;
                if (r >= h || col >= w) {
                  continue;
                }
                double sum = 0;
                for (int a = 0; a < q; a++) {
                  for (int bb = 0; bb < q; bb++) {
                    sum += op.at(i, a) * op.at(j, bb) * m[(int) (((long) (a * q + bb) * channels + c) * tiles + t)];
                  }
                }
                y[((n * channels + c) * h + r) * w + col] += sum;
              }
            }
          }
        }
      }
    }
    return y;
  }

  private static float[] rand(Random r, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) (r.nextGaussian());
    }
    return a;
  }
}
