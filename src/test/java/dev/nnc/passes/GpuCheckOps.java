package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The op cases of the gradient checks (every op, forward and gradients) as the GPU check's bundle
 * needs them: each case's graph after the canonical passes, its program's outputs, and its
 * parameter and input values.
 */
public final class GpuCheckOps {
  /** One op case: program {@code p} of {@code graph} computes {@code outputs} from {@code params} and {@code inputs}. */
  public record Item(String name, Graph graph, List<String> outputs, Map<String, float[]> params,
      Map<String, float[]> inputs) {}

  private GpuCheckOps() {}

  /** Every {@code every}-th op case (1: all of them), in the gradient checks' order. */
  public static List<Item> items(int every) {
    List<OpCases.Case> all = OpCases.all(17);
    List<Item> out = new ArrayList<>();
    for (int i = 0; i < all.size(); i += every) {
      OpCases.Case c = all.get(i);
      GradientCheckTest.Setup s = GradientCheckTest.setup(c, 99);
      List<String> outputs = new ArrayList<>(List.of("out", "loss"));
      for (int k = 0; k < s.params().size(); k++) {
        outputs.add("grad" + k);
      }
      Map<String, float[]> params = new LinkedHashMap<>();
      s.values().forEach((n, t) -> params.put(n, floats(t)));
      Map<String, float[]> inputs = new LinkedHashMap<>();
      s.inputs().forEach((n, t) -> inputs.put(n, floats(t)));
      out.add(new Item(c.toString(), Pipeline.canonical().run(s.graph(), null), outputs, params, inputs));
    }
    return out;
  }

  /**
   * The TF32 cases: products (plain and batched, each transposition) large enough to run on the
   * tensor cores ({@code quick}: small ones, for the emulated dry run, which must force the
   * register-blocked GEMM), with the gradient checks' program (output, loss {@code Σ out·r},
   * gradients). Their values are not packed: the runner draws them from the item's seed.
   */
  public static List<Item> tf32Items(boolean quick) {
    List<Item> out = new ArrayList<>();
    int m = quick ? 128 : 768;
    int k = quick ? 96 : 768;
    int n = quick ? 192 : 768;
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        out.add(tf32Item("matmul[transA=" + ta + ",transB=" + tb + "]", 1, m, k, n, ta, tb));
      }
    }
    out.add(quick ? tf32Item("matmul[batch, transB=true]", 2, 64, 72, 96, false, true)
        : tf32Item("matmul[batch, transB=true]", 8, 256, 256, 256, false, true));
    return out;
  }

  private static Item tf32Item(String name, int batch, int m, int k, int n, boolean ta, boolean tb) {
    Shape a = ta ? Shape.of(k, m) : Shape.of(m, k);
    Shape b = tb ? Shape.of(n, k) : Shape.of(k, n);
    List<Shape> shapes = batch == 1 ? List.of(a, b)
        : List.of(Shape.of(batch, a.dim(0), a.dim(1)), Shape.of(batch, b.dim(0), b.dim(1)));
    OpCases.Case c = new OpCases.Case(name, shapes, OpCases.Domain.ANY,
        (g, in) -> g.add(new MatMul(ta, tb), in.get(0), in.get(1)), null);
    GradientCheckTest.Setup s = GradientCheckTest.setup(c, 7);
    return new Item("TF32 " + c, Pipeline.canonical().run(s.graph(), null), List.of("out", "loss", "grad0", "grad1"),
        Map.of(), Map.of());
  }

  private static float[] floats(Tensor t) {
    float[] f = new float[t.data().length];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) t.data()[i];
    }
    return f;
  }
}
