package dev.nnc.passes;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Param;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every op's gradient rule against central finite differences, in double precision: for
 * {@code L = Σ op(x₁…xₙ) ⊙ r} with a random {@code r}, autodiff's dL/dxᵢ must match
 * {@code (L(x + h·eⱼ) − L(x − h·eⱼ)) / 2h} element by element.
 */
class GradientCheckTest {
  static Stream<OpCases.Case> cases() {
    return OpCases.all(17).stream();
  }

  /** The graph {@code loss = sum(op(p…) * r)} with the operands as trainable parameters. */
  record Setup(Graph graph, List<String> params, Map<String, Tensor> values, Map<String, Tensor> inputs) {}

  static Setup setup(OpCases.Case c, long seed) {
    Random rnd = new Random(seed);
    Graph.Builder b = Graph.builder("check");
    List<Node> ps = new ArrayList<>();
    List<String> names = new ArrayList<>();
    Map<String, Tensor> values = new HashMap<>();
    for (int i = 0; i < c.shapes().size(); i++) {
      Shape s = c.shapes().get(i);
      String name = "p" + i;
      ps.add(b.addTyped(new Param(name, Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(s)));
      names.add(name);
      values.put(name, new Tensor(s, OpCases.sample(rnd, s, c.domain())));
    }
    List<Node> operands = new ArrayList<>(ps);
    Map<String, Tensor> inputs = new HashMap<>();
    for (OpCases.IntInput ii : c.ints()) {
      operands.add(b.addTyped(new Input(ii.name()), List.of(), new TensorType(ii.shape(), dev.nnc.ir.DType.I32)));
      inputs.put(ii.name(), new Tensor(ii.shape(), ii.values()));
    }
    Node out = c.build().apply(b, operands);
    Node r = b.addTyped(new Input("r"), List.of(), TensorType.f32(out.shape()));
    Node loss = Ops.sumAll(b, Ops.mul(b, out, r));
    Map<Node, Node> grads = Autodiff.gradients(b, loss, ps);
    b.output("out", out);
    b.output("loss", loss);
    for (int i = 0; i < ps.size(); i++) {
      b.output("grad" + i, grads.get(ps.get(i)));
    }
    double[] rv = new double[(int) out.shape().size()];
    for (int i = 0; i < rv.length; i++) {
      rv[i] = rnd.nextGaussian();
    }
    inputs.put("r", new Tensor(out.shape(), rv));
    return new Setup(b.build(), names, values, Map.copyOf(inputs));
  }

  /**
   * Central differences of the graph's {@code loss} output with respect to every element of
   * parameter {@code p} (step 1e-6) against {@code analytic}.
   */
  static void assertMatchesFiniteDifferences(String what, Graph g, Map<String, Tensor> inputs,
      Map<String, Tensor> params, String p, double[] analytic) {
    double h = 1e-6;
    double[] x = params.get(p).data();
    for (int j = 0; j < x.length; j++) {
      double keep = x[j];
      x[j] = keep + h;
      double up = Interpreter.run(g, inputs, params).outputs().get("loss").get(0);
      x[j] = keep - h;
      double down = Interpreter.run(g, inputs, params).outputs().get("loss").get(0);
      x[j] = keep;
      double numeric = (up - down) / (2 * h);
      assertTrue(Math.abs(numeric - analytic[j]) <= 1e-6 + 1e-5 * Math.abs(numeric),
          what + ": d/d" + p + "[" + j + "] autodiff " + analytic[j] + " vs finite differences " + numeric);
    }
  }

  @ParameterizedTest
  @MethodSource("cases")
  void gradientMatchesFiniteDifferences(OpCases.Case c) {
    Setup s = setup(c, 99);
    Interpreter.Result res = Interpreter.run(s.graph(), s.inputs(), s.values());
    for (int i = 0; i < s.params().size(); i++) {
      String p = s.params().get(i);
      assertMatchesFiniteDifferences(c.toString(), s.graph(), s.inputs(), s.values(), p,
          res.outputs().get("grad" + i).data());
    }
  }
}
