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
 * micro-tile), several K blocks (each over all of a call's items, then the epilogue: 100×129×513),
 * every transpose combination (A stored transposed and packed in parts of K: 200×70×3001; in two
 * groups of slivers, the last short: 800×20×300), the fused bias + activation epilogue, one and
 * two threads.
 */
class GemmTest {
  @ParameterizedTest
  @CsvSource({"1,1,1", "7,5,3", "6,16,256", "13,33,300", "64,10,784", "100,129,513", "97,40,1100", "6,25,5003",
      "20,70,2101", "200,70,3001", "800,20,300"})
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
      "1,13,33,2101", "3,13,33,70", "2,250,17,40", "1,5,1030,20", "1,64,512,128", "1,64,128,512", "1,20,100,33",
      "1,128,257,300", "1,15,200,64", "1,129,200,64", "1,64,300,513"})
  void operandsReadInPlaceMatchReference(int batch, int m, int n, int k) {
    Random r = new Random(batch * 977 + m * 31 + n * 7 + k);
    CpuBackend backend = new CpuBackend();
    GemmEmitter.Blocking blocking = backend.blocking(Llvm.host());
    GemmEmitter.Tiling t = GemmEmitter.Tiling.forHost(Llvm.host()).narrowedTo(n);
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        Graph.Builder b = Graph.builder("g");
        Shape as = ta ? Shape.of(k, m) : Shape.of(m, k);
        Shape bs = tb ? Shape.of(n, k) : Shape.of(k, n);
        Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(batch == 1 ? as : Shape.of(batch, as.dim(0), as.dim(1))));
        Node w = b.addTyped(new Input("b"), List.of(), TensorType.f32(batch == 1 ? bs : Shape.of(batch, bs.dim(0), bs.dim(1))));
        b.output("y", b.add(new Unary(UnaryFn.TANH, 0), b.add(new MatMul(ta, tb), a, w)));
        CpuHarness.Built built = CpuHarness.build(b.build(), backend);
        List<String> calls = built.compiled().schedules().get("p").stream().map(dev.nnc.passes.backend.NativeCall::symbol)
            .toList();
        String where = "batch=" + batch + " m=" + m + " n=" + n + " k=" + k + " ta=" + ta + " tb=" + tb;
        assertEquals(!GemmEmitter.readsAInPlace(blocking, m, n, k, ta, batch),
            calls.stream().anyMatch(c -> c.endsWith(GemmEmitter.PACK_A)), where + ": " + calls);
        GemmEmitter.Tiling used = blocking.rows(m, n, k, ta, batch) ? blocking.rowTiling() : t;
        assertEquals(!GemmEmitter.readsBInPlace(m, n, tb, used),
            calls.stream().anyMatch(c -> c.endsWith(GemmEmitter.PACK_B)), where + ": " + calls);
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

  /**
   * Products split by rows (a recurrence's per-step shapes and edges around them: M not a
   * multiple of the row block, N not a multiple of the panel, K up to one block), with the
   * micro-tile for 16 and for 32 vector registers, a bias + tanh epilogue, B a weight packed once
   * and B computed: A read in place (no packing call), each equal to the reference on one to
   * three threads. A transposed A, a batch, a single row or a long K keep the column split.
   */
  @ParameterizedTest
  @CsvSource({"16,64,512,128", "16,64,128,512", "16,20,100,33", "16,37,250,7", "16,128,200,64", "32,64,512,128",
      "32,64,128,512", "32,20,100,33", "32,37,250,7", "32,128,200,64", "32,16,65,1"})
  void rowSplitProductsMatchReference(int registers, int m, int n, int k) {
    CpuBackend backend = new CpuBackend(registers);
    GemmEmitter.Blocking blocking = backend.blocking(Llvm.host());
    assertTrue(blocking.rows(m, n, k, false, 1), "row split expected for " + m + "x" + n + "x" + k);
    assertEquals(registers >= 32 ? 4 : 3, blocking.rowTiling().nv());
    assertTrue(!blocking.rows(m, n, k, true, 1) && !blocking.rows(m, n, k, false, 2) && !blocking.rows(1, n, k, false, 1)
        && !blocking.rows(m, n, 4096, false, 1), "only single products of A stored [M,K], a batch of rows, a short K");
    Random r = new Random(registers * 7919 + m * 31 + n * 7 + k);
    for (boolean weightB : new boolean[] {true, false}) {
      for (boolean tb : new boolean[] {false, true}) {
        Graph.Builder b = Graph.builder("g");
        Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(Shape.of(m, k)));
        Shape bs = tb ? Shape.of(n, k) : Shape.of(k, n);
        Node w = weightB ? b.addTyped(new Param("w", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(bs))
            : b.addTyped(new Input("w"), List.of(), TensorType.f32(bs));
        Node bias = b.addTyped(new Param("bias", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(Shape.of(n)));
        b.output("y", b.add(new Unary(UnaryFn.TANH, 0), b.add(new Binary(BinaryFn.ADD), b.add(new MatMul(false, tb), a, w),
            bias)));
        CpuHarness.Built built = CpuHarness.build(b.build(), backend);
        List<String> calls = built.compiled().schedules().get("p").stream().map(dev.nnc.passes.backend.NativeCall::symbol)
            .toList();
        String where = "registers=" + registers + " m=" + m + " n=" + n + " k=" + k + " tb=" + tb + " weightB=" + weightB;
        assertTrue(calls.stream().noneMatch(c -> c.endsWith(GemmEmitter.PACK_A)), where + ": " + calls);
        float[] av = rand(r, m * k);
        float[] wv = rand(r, n * k);
        float[] bv = rand(r, n);
        for (int threads : new int[] {1, 2, 3}) {
          try (NativeModel nm = new NativeModel(built.manifest(), KernelLibrary.ofAddresses(built.compiled().jit()),
              threads)) {
            nm.setInput("p", "a", av);
            if (weightB) {
              nm.setParam("w", wv);
            } else {
              nm.setInput("p", "w", wv);
            }
            nm.setParam("bias", bv);
            nm.run("p");
            float[] y = nm.output("p", "y");
            for (int i = 0; i < m; i++) {
              for (int j = 0; j < n; j++) {
                double want = Math.tanh(product(av, wv, m, n, k, false, tb, i, j) + bv[j]);
                double got = y[i * n + j];
                assertTrue(Math.abs(want - got) <= 1e-4 * Math.sqrt(k), where + " threads=" + threads + " at (" + i + ","
                    + j + "): " + want + " vs " + got);
              }
            }
          }
        }
      }
    }
  }

  /**
   * Two products of one A (an LSTM's {@code dW_hh = dGᵀ·h} and {@code dW_ih = dGᵀ·x}, and A stored
   * [M,K] too): the second reads the first's packed A, so the schedule packs A once, and both
   * equal the reference on one and two threads (the shapes keep the micro-tile's rows equal on
   * 8- and 16-lane hosts).
   */
  @ParameterizedTest
  @CsvSource({"512,136,144,300,true", "70,140,133,2100,true", "200,72,80,130,false", "37,120,20,1000,false"})
  void productsOfOneAPackItOnce(int m, int n1, int n2, int k, boolean ta) {
    Random r = new Random(m * 31 + n1 * 7 + n2 * 3 + k);
    Graph.Builder b = Graph.builder("g");
    Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(ta ? Shape.of(k, m) : Shape.of(m, k)));
    Node b1 = b.addTyped(new Input("b1"), List.of(), TensorType.f32(Shape.of(k, n1)));
    Node b2 = b.addTyped(new Input("b2"), List.of(), TensorType.f32(Shape.of(k, n2)));
    b.output("y1", b.add(new MatMul(ta, false), a, b1));
    b.output("y2", b.add(new MatMul(ta, false), a, b2));
    CpuHarness.Built built = CpuHarness.build(b.build(), new CpuBackend());
    List<String> calls = built.compiled().schedules().get("p").stream().map(dev.nnc.passes.backend.NativeCall::symbol)
        .toList();
    assertEquals(1, calls.stream().filter(c -> c.endsWith(GemmEmitter.PACK_A)).count(), calls.toString());
    float[] av = rand(r, m * k);
    float[] v1 = rand(r, k * n1);
    float[] v2 = rand(r, k * n2);
    for (int threads : new int[] {1, 2}) {
      try (NativeModel nm = new NativeModel(built.manifest(), KernelLibrary.ofAddresses(built.compiled().jit()),
          threads)) {
        nm.setInput("p", "a", av);
        nm.setInput("p", "b1", v1);
        nm.setInput("p", "b2", v2);
        nm.run("p");
        float[] y1 = nm.output("p", "y1");
        float[] y2 = nm.output("p", "y2");
        for (int i = 0; i < m; i++) {
          for (int j = 0; j < Math.max(n1, n2); j++) {
            if (j < n1) {
              double want = product(av, v1, m, n1, k, ta, false, i, j);
              assertTrue(Math.abs(want - y1[i * n1 + j]) <= 1e-4 * Math.sqrt(k), "y1 threads=" + threads + " at (" + i
                  + "," + j + "): " + want + " vs " + y1[i * n1 + j]);
            }
            if (j < n2) {
              double want = product(av, v2, m, n2, k, ta, false, i, j);
              assertTrue(Math.abs(want - y2[i * n2 + j]) <= 1e-4 * Math.sqrt(k), "y2 threads=" + threads + " at (" + i
                  + "," + j + "): " + want + " vs " + y2[i * n2 + j]);
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
