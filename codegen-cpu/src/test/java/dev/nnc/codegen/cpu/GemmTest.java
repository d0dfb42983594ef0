package dev.nnc.codegen.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The generated GEMM against a plain triple loop in double: edge tiles (M, N not multiples of the
 * micro-tile), several K blocks, every transpose combination (A stored transposed and packed in
 * several groups of slivers and parts of K: 200×70×3001), the fused bias + activation
 * epilogue, one and two threads.
 */
class GemmTest {
  @ParameterizedTest
  @CsvSource({"1,1,1", "7,5,3", "6,16,256", "13,33,300", "64,10,784", "100,129,513", "97,40,1100", "6,25,5003",
      "20,70,2101", "200,70,3001"})
  void matchesReference(int m, int n, int k) {
    Random r = new Random(m * 31 + n * 7 + k);
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        Graph.Builder b = Graph.builder("g");
        Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(ta ? Shape.of(k, m) : Shape.of(m, k)));
        Node w = b.addTyped(new Param("w", Param.Role.WEIGHT, Init.ZEROS), List.of(),
            TensorType.f32(tb ? Shape.of(n, k) : Shape.of(k, n)));
        Node bias = b.addTyped(new Param("bias", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(Shape.of(n)));
        Node mm = b.add(new MatMul(ta, tb), a, w);
        b.output("y", b.add(new Unary(UnaryFn.TANH, 0), b.add(new Binary(BinaryFn.ADD), mm, bias)));
        float[] av = rand(r, m * k);
        float[] wv = rand(r, n * k);
        float[] bv = rand(r, n);
        for (int threads : new int[] {1, 2}) {
          try (NativeModel nm = CpuHarness.compile(b.build(), threads)) {
            nm.setInput("p", "a", av);
            nm.setParam("w", wv);
            nm.setParam("bias", bv);
            nm.run("p");
            float[] y = nm.output("p", "y");
            for (int i = 0; i < m; i++) {
              for (int j = 0; j < n; j++) {
                double want = Math.tanh(product(av, wv, m, n, k, ta, tb, i, j) + bv[j]);
                double got = y[i * n + j];
                assertTrue(Math.abs(want - got) <= 1e-4 * Math.sqrt(k),
                    "m=" + m + " n=" + n + " k=" + k + " ta=" + ta + " tb=" + tb + " threads=" + threads + " at (" + i
                        + "," + j + "): " + want + " vs " + got);
              }
            }
          }
        }
      }
    }
  }

  /**
   * A batch of products (Winograd's α² tile products): each one equals the reference, on edge
   * sizes and several K blocks, every transpose combination, one and two threads. The operand A
   * is a slice-free input and B a parameter, as in the Winograd lowering.
   */
  @ParameterizedTest
  @CsvSource({"1,1,1,1", "3,7,5,3", "16,64,49,64", "36,13,33,600", "4,100,129,20"})
  void batchedProductsMatchReference(int batch, int m, int n, int k) {
    Random r = new Random(batch * 131 + m * 31 + n * 7 + k);
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        Graph.Builder b = Graph.builder("g");
        Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(ta ? Shape.of(batch, k, m) : Shape.of(batch, m, k)));
        Node w = b.addTyped(new Param("w", Param.Role.WEIGHT, Init.ZEROS), List.of(),
            TensorType.f32(tb ? Shape.of(batch, n, k) : Shape.of(batch, k, n)));
        // An element-wise user: the batched product cannot take it as an epilogue, so it reads it.
        b.output("y", b.add(new Unary(UnaryFn.TANH, 0), b.add(new MatMul(ta, tb), a, w)));
        float[] av = rand(r, batch * m * k);
        float[] wv = rand(r, batch * n * k);
        for (int threads : new int[] {1, 2}) {
          try (NativeModel nm = CpuHarness.compile(b.build(), threads)) {
            nm.setInput("p", "a", av);
            nm.setParam("w", wv);
            nm.run("p");
            float[] y = nm.output("p", "y");
            for (int q = 0; q < batch; q++) {
              float[] aq = java.util.Arrays.copyOfRange(av, q * m * k, (q + 1) * m * k);
              float[] wq = java.util.Arrays.copyOfRange(wv, q * n * k, (q + 1) * n * k);
              for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                  double want = Math.tanh(product(aq, wq, m, n, k, ta, tb, i, j));
                  double got = y[(q * m + i) * n + j];
                  assertTrue(Math.abs(want - got) <= 1e-4 * Math.sqrt(k), "batch=" + batch + " m=" + m + " n=" + n
                      + " k=" + k + " ta=" + ta + " tb=" + tb + " threads=" + threads + " at (" + q + "," + i + "," + j
                      + "): " + want + " vs " + got);
                }
              }
            }
          }
        }
      }
    }
  }

  /**
   * Products whose operands are both computed (no weight copy packed once): A read where it is
   * stored when the columns fit one panel, B when the rows fit one block and B is stored [K,N]
   * (its last panel masked), each checked to be the path taken: edge rows and columns, a masked
   * panel narrower than one vector and wider, split K, batches, every transpose combination, one
   * and two threads.
   */
  @ParameterizedTest
  @CsvSource({"1,1,1,1", "1,7,5,3", "1,64,64,64", "1,100,129,513", "1,193,40,33", "1,700,16,150", "1,16,150,6400",
      "1,13,33,2101", "3,13,33,70", "2,250,17,40", "1,5,1030,20"})
  void operandsReadInPlaceMatchReference(int batch, int m, int n, int k) {
    Random r = new Random(batch * 977 + m * 31 + n * 7 + k);
    GemmEmitter.Tiling t = GemmEmitter.Tiling.forHost(Llvm.host()).narrowedTo(n);
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        Graph.Builder b = Graph.builder("g");
        Shape as = ta ? Shape.of(k, m) : Shape.of(m, k);
        Shape bs = tb ? Shape.of(n, k) : Shape.of(k, n);
        Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(batch == 1 ? as : Shape.of(batch, as.dim(0), as.dim(1))));
        Node w = b.addTyped(new Input("b"), List.of(), TensorType.f32(batch == 1 ? bs : Shape.of(batch, bs.dim(0), bs.dim(1))));
        b.output("y", b.add(new Unary(UnaryFn.TANH, 0), b.add(new MatMul(ta, tb), a, w)));
        CpuHarness.Built built = CpuHarness.build(b.build(), new CpuBackend());
        List<String> calls = built.compiled().schedules().get("p").stream().map(dev.nnc.passes.backend.NativeCall::symbol)
            .toList();
        String where = "batch=" + batch + " m=" + m + " n=" + n + " k=" + k + " ta=" + ta + " tb=" + tb;
        assertEquals(!GemmEmitter.readsAInPlace(n, t), calls.stream().anyMatch(c -> c.endsWith(GemmEmitter.PACK_A)),
            where + ": " + calls);
        assertEquals(!GemmEmitter.readsBInPlace(m, n, tb, t), calls.stream().anyMatch(c -> c.endsWith(GemmEmitter.PACK_B)),
            where + ": " + calls);
        float[] av = rand(r, batch * m * k);
        float[] bv = rand(r, batch * n * k);
        for (int threads : new int[] {1, 2}) {
          try (NativeModel nm = new NativeModel(built.manifest(), KernelLibrary.ofAddresses(built.compiled().jit()),
              threads)) {
            nm.setInput("p", "a", av);
            nm.setInput("p", "b", bv);
            nm.run("p");
            float[] y = nm.output("p", "y");
            for (int q = 0; q < batch; q++) {
              float[] aq = java.util.Arrays.copyOfRange(av, q * m * k, (q + 1) * m * k);
              float[] bq = java.util.Arrays.copyOfRange(bv, q * n * k, (q + 1) * n * k);
              for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                  double want = Math.tanh(product(aq, bq, m, n, k, ta, tb, i, j));
                  double got = y[(q * m + i) * n + j];
                  assertTrue(Math.abs(want - got) <= 1e-4 * Math.sqrt(k), where + " threads=" + threads + " at (" + q
                      + "," + i + "," + j + "): " + want + " vs " + got);
                }
              }
            }
          }
        }
      }
    }
  }

  /** Element (i, j) of op(A)·op(B) in double: the reference every GEMM test compares with. */
  static double product(float[] a, float[] b, int m, int n, int k, boolean ta, boolean tb, int i, int j) {
    double acc = 0;
    for (int p = 0; p < k; p++) {
      acc += (double) a[ta ? p * m + i : i * k + p] * b[tb ? j * k + p : p * n + j];
    }
    return acc;
  }

  static float[] rand(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian() * 0.3f;
    }
    return v;
  }
}
