package dev.nnc.passes;

import dev.nnc.ir.Graph;
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

  private static float[] floats(Tensor t) {
    float[] f = new float[t.data().length];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) t.data()[i];
    }
    return f;
  }
}
