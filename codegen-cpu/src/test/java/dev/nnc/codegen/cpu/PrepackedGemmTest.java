package dev.nnc.codegen.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Param;
import dev.nnc.passes.backend.NativeCall;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GEMMs whose weight operand is packed once, by the back end's {@code prepare} schedule, into a
 * persistent copy: the product reads the copy instead of packing the weight on every call. The
 * result equals the reference for the weight as packed and again after new weights are set (the
 * runtime re-runs prepare), the program's own schedule packs only the other operand, and prepare
 * packs the weight. Shapes cover edge tiles, narrow products (the narrowed blocking), products
 * split by rows (a recurrence's {@code h·W_hhᵀ} and {@code dG·W_hh} at inference, and a weight
 * as A, packed for the row split's micro-tile) and both operand positions of the weight.
 */
class PrepackedGemmTest {
  @ParameterizedTest
  @CsvSource({"67,71,130,false,true", "67,71,130,true,false", "6,25,5003,false,false", "20,9,2101,true,false", "130,9,257,false,true", "130,9,257,true,true",
      "5,300,64,true,false", "64,16,1000,false,false", "1,1,1,true,true",
      "64,512,128,false,true", "64,128,512,false,false", "32,200,64,true,false"})
  void weightPackedOnceEqualsReference(int m, int n, int k, boolean weightIsA, boolean transposed) {
    Random r = new Random(m * 7 + n * 13 + k);
    Graph.Builder b = Graph.builder("g");
    // The weight: A = w [m,k] (or [k,m] transposed), or B = w [k,n] (or [n,k] transposed).
    Shape ws = weightIsA ? (transposed ? Shape.of(k, m) : Shape.of(m, k)) : (transposed ? Shape.of(n, k) : Shape.of(k, n));
    Node w = b.addTyped(new Param("w", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(ws));
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(weightIsA ? Shape.of(k, n) : Shape.of(m, k)));
    b.output("y", weightIsA ? b.add(new MatMul(transposed, false), w, x) : b.add(new MatMul(false, transposed), x, w));
    CpuHarness.Built built = CpuHarness.build(b.build(), new CpuBackend(), null, true);

    String packing = weightIsA ? GemmEmitter.PACK_A : GemmEmitter.PACK_B;
    String other = weightIsA ? GemmEmitter.PACK_B : GemmEmitter.PACK_A;
    List<String> own = built.compiled().schedules().get("p").stream().map(NativeCall::symbol).toList();
    List<String> prepare = built.compiled().schedules().get("prepare").stream().map(NativeCall::symbol).toList();
    assertTrue(own.stream().noneMatch(s -> s.endsWith(packing)), "the program packs the weight itself: " + own);
    // The other operand is packed on every call, unless the product reads it where it is stored.
    GemmEmitter.Blocking blocking = new CpuBackend().blocking(Llvm.host());
    GemmEmitter.Tiling t = blocking.rows(m, n, k, weightIsA && transposed, 1) ? blocking.rowTiling()
        : GemmEmitter.Tiling.forHost(Llvm.host()).narrowedTo(n);
    boolean inPlace = weightIsA ? GemmEmitter.readsBInPlace(m, n, false, t)
        : GemmEmitter.readsAInPlace(blocking, m, n, k, false, 1);
    assertEquals(!inPlace, own.stream().anyMatch(s -> s.endsWith(other)), own.toString());
    assertEquals(1, prepare.size(), prepare.toString());
    assertTrue(prepare.get(0).endsWith(packing), prepare.toString());
    assertFalse(own.contains(prepare.get(0)));

    float[] xs = GemmTest.rand(r, k * (weightIsA ? n : m));
    try (NativeModel nm = new NativeModel(built.manifest(), KernelLibrary.ofAddresses(built.compiled().jit()), 2)) {
      nm.setInput("p", "x", xs);
      for (int round = 0; round < 2; round++) {
        // New weights (set after the input): the copy must follow them.
        float[] wv = GemmTest.rand(r, (weightIsA ? m : n) * k);
        nm.setParam("w", wv);
        nm.run("p");
        float[] y = nm.output("p", "y");
        for (int i = 0; i < m; i++) {
          for (int j = 0; j < n; j++) {
            double want = weightIsA ? GemmTest.product(wv, xs, m, n, k, transposed, false, i, j)
                : GemmTest.product(xs, wv, m, n, k, false, transposed, i, j);
            assertTrue(Math.abs(want - y[i * n + j]) <= 1e-4 * Math.sqrt(k), "round " + round + " m=" + m + " n="
                + n + " k=" + k + " at (" + i + "," + j + "): " + want + " vs " + y[i * n + j]);
          }
        }
        // Running again without new weights reuses the copy.
        nm.run("p");
        assertEquals(y[y.length - 1], nm.output("p", "y")[y.length - 1]);
      }
    }
  }
}
