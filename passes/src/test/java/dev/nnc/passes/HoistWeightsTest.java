package dev.nnc.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.IrParser;
import dev.nnc.ir.Node;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Param;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code hoist-weights}: the prepare program and the rewritten programs together compute what the
 * programs computed (golden cases, {@code golden/hoist-weights}); one computation in two programs
 * is one derived tensor; nothing that reads an input moves.
 */
class HoistWeightsTest {
  static final String FOLDED = """
      graph g {
        %0 = input[name="x"] : f32[2,4]
        %1 = param[name="w", role=weight, init=glorot_uniform] : f32[3,4]
        %2 = param[name="v", role=buffer, init=ones] : f32[3]
        %3 = sqrt(%2) : f32[3]
        %4 = reshape[shape=[3,1]](%3) : f32[3,1]
        %5 = mul(%1, %4) : f32[3,4]
        %6 = matmul[transA=false, transB=true](%0, %5) : f32[2,3]
        %7 = tanh(%6) : f32[2,3]
        output "y" = %7
      }
      """;

  /**
   * Interpreter outputs of {@code before} and of the prepare program followed by the rewritten
   * program agree on random inputs and parameters.
   */
  static void sameOutputs(Graph before, HoistWeights.Result r, String what) {
    Random rnd = new Random(7);
    Map<String, Tensor> ins = new HashMap<>();
    Map<String, Tensor> ps = new HashMap<>();
    for (Node n : before.nodes()) {
      double[] v = new double[(int) Math.max(1, n.shape().size())];
      for (int i = 0; i < v.length; i++) {
        v[i] = Math.abs(rnd.nextGaussian()) + 0.1;
      }
      if (n.op() instanceof Input in) {
        ins.put(in.name(), new Tensor(n.shape(), v));
      } else if (n.op() instanceof Param p) {
        ps.put(p.name(), new Tensor(n.shape(), v));
      }
    }
    Map<String, Tensor> all = new HashMap<>(ps);
    if (r.prepare() != null) {
      Map<String, Tensor> prepParams = new HashMap<>();
      for (Node n : r.prepare().params()) {
        String name = ((Param) n.op()).name();
        prepParams.put(name, ps.getOrDefault(name, new Tensor(n.shape(), new double[(int) Math.max(1, n.shape().size())])));
      }
      all.putAll(Interpreter.run(r.prepare(), Map.of(), prepParams).updates());
    }
    Interpreter.Result a = Interpreter.run(before, ins, ps);
    for (Graph after : r.programs().values()) {
      Interpreter.Result b = Interpreter.run(after, ins, all);
      for (String k : a.outputs().keySet()) {
        double[] x = a.outputs().get(k).data();
        double[] y = b.outputs().get(k).data();
        for (int i = 0; i < x.length; i++) {
          boolean same = Double.compare(x[i], y[i]) == 0 || Math.abs(x[i] - y[i]) <= 1e-12 * Math.max(1, Math.abs(x[i]));
          assertTrue(same, what + ": output " + k + "[" + i + "] " + x[i] + " became " + y[i]);
        }
      }
    }
  }

  @Test
  void oneComputationInTwoProgramsIsOneDerivedTensor() {
    Map<String, Graph> programs = new LinkedHashMap<>();
    programs.put("eval", IrParser.parse(FOLDED));
    programs.put("predict", IrParser.parse(FOLDED));
    HoistWeights.Result r = HoistWeights.apply(programs);
    assertNotNull(r.prepare());
    List<String> derived = r.prepare().params().stream().map(n -> (Param) n.op())
        .filter(p -> p.role() == Param.Role.DERIVED).map(Param::name).toList();
    assertEquals(List.of("prepared.0.w"), derived, "the scaled weight, once");
    assertEquals(1, r.prepare().updates().size());
    for (Graph g : r.programs().values()) {
      assertTrue(g.params().stream().anyMatch(n -> ((Param) n.op()).name().equals("prepared.0.w")));
      // The square root of the buffer moved; the tanh of the product (it reads the input) stayed.
      assertTrue(g.nodes().stream().noneMatch(n -> n.op() instanceof dev.nnc.ir.ops.Unary u
          && u.fn() == dev.nnc.ir.ops.UnaryFn.SQRT), "sqrt hoisted");
      assertTrue(g.nodes().stream().anyMatch(n -> n.op() instanceof dev.nnc.ir.ops.Unary u
          && u.fn() == dev.nnc.ir.ops.UnaryFn.TANH), "tanh stays");
    }
    sameOutputs(programs.get("eval"), r, "eval and predict");
  }
}
