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
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.train.OptimizerSpec;
import dev.nnc.ir.train.TrainSpec;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.TensorVector;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Ten optimizer steps on the same gradients: the compiled update (run by the interpreter) equals
 * libtorch's {@code torch::optim} for SGD (momentum, Nesterov), Adam, Adagrad and RMSprop.
 * libtorch's C++ API has no Adadelta, Adamax or NAdam; for those the reference is a line-by-line
 * transcription of {@code torch.optim}'s single-tensor algorithm (torch 2.x) below.
 */
class OptimizerParityTest {
  static final Shape SHAPE = Shape.of(3, 4);

  /** A training graph whose gradient for {@code w} is exactly the input {@code g}. */
  static Graph graph(OptimizerSpec spec) {
    Graph.Builder b = Graph.builder("opt");
    Node w = b.addTyped(new Param("w", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(SHAPE));
    Node g = b.addTyped(new Input("g"), List.of(), TensorType.f32(SHAPE));
    // loss_per_example = 3·Σ_j w⊙g over each of the 3 rows, so mean(loss) = Σ w⊙g and dL/dw = g.
    Node perRow = b.add(new Reduce(ReduceFn.SUM, List.of(1), false), Ops.mul(b, w, g));
    b.output(TrainingGraph.LOSS_PER_EXAMPLE, Ops.scale(b, perRow, SHAPE.dim(0)));
    return TrainingGraph.build(b.build(), TrainSpec.of(spec));
  }

  static double[] ours(OptimizerSpec spec, double[] w0, List<double[]> grads) {
    Graph g = graph(spec);
    Map<String, Tensor> params = new HashMap<>();
    for (Node p : g.params()) {
      Param pp = (Param) p.op();
      double init = pp.init().kind() == Init.Kind.CONSTANT ? pp.init().value() : 0;
      double[] v = new double[(int) p.shape().size()];
      java.util.Arrays.fill(v, init);
      params.put(pp.name(), new Tensor(p.shape(), v));
    }
    params.put("w", new Tensor(SHAPE, w0.clone()));
    for (double[] gr : grads) {
      Interpreter.Result r = Interpreter.run(g, Map.of("g", new Tensor(SHAPE, gr)), params);
      params.putAll(r.updates());
    }
    return params.get("w").data();
  }

  static double[] torchSteps(String name, Map<String, Double> h, double[] w0, List<double[]> grads) {
    org.bytedeco.pytorch.Tensor w = TorchOps.tensor(w0, SHAPE, true);
    TensorVector params = new TensorVector(w);
    Optimizer opt = switch (name) {
      case "sgd" -> {
        var o = new org.bytedeco.pytorch.SGDOptions(h.get("lr"));
        o.momentum().put(h.get("momentum"));
        o.nesterov().put(h.get("nesterov") != 0);
        yield new org.bytedeco.pytorch.SGD(params, o);
      }
      case "adam" -> {
        var o = new org.bytedeco.pytorch.AdamOptions(h.get("lr"));
        // betas() points at a std::tuple<double, double>; libstdc++ lays tuples out last element
        // first, so beta2 sits at index 0 and beta1 at index 1.
        o.betas().put(0, h.get("beta2")).put(1, h.get("beta1"));
        o.eps().put(h.get("eps"));
        yield new org.bytedeco.pytorch.Adam(params, o);
      }
      case "adagrad" -> {
        var o = new org.bytedeco.pytorch.AdagradOptions(h.get("lr"));
        o.eps().put(h.get("eps"));
        o.initial_accumulator_value().put(h.get("initial_accumulator"));
        yield new org.bytedeco.pytorch.Adagrad(params, o);
      }
      case "rmsprop" -> {
        var o = new org.bytedeco.pytorch.RMSpropOptions(h.get("lr"));
        o.alpha().put(h.get("alpha"));
        o.eps().put(h.get("eps"));
        o.momentum().put(h.get("momentum"));
        yield new org.bytedeco.pytorch.RMSprop(params, o);
      }
      default -> throw new IllegalArgumentException(name);
    };
    for (double[] gr : grads) {
      opt.zero_grad();
      w.mul(TorchOps.tensor(gr, SHAPE, false)).sum().backward();
      opt.step();
    }
    return TorchOps.values(w);
  }

  /** torch.optim's Adadelta, Adamax and NAdam (single-tensor, no weight decay), transcribed. */
  static double[] reference(String name, Map<String, Double> h, double[] w0, List<double[]> grads) {
    int n = w0.length;
    double[] w = w0.clone();
    double[] s1 = new double[n];
    double[] s2 = new double[n];
    double muProduct = 1;
    double lr = h.get("lr");
    for (int t = 1; t <= grads.size(); t++) {
      double[] g = grads.get(t - 1);
      switch (name) {
        case "adadelta" -> {
          double rho = h.get("rho");
          double eps = h.get("eps");
          for (int i = 0; i < n; i++) {
            s1[i] = rho * s1[i] + (1 - rho) * g[i] * g[i];
            double std = Math.sqrt(s1[i] + eps);
            double delta = Math.sqrt(s2[i] + eps) / std * g[i];
            s2[i] = rho * s2[i] + (1 - rho) * delta * delta;
            w[i] -= lr * delta;
          }
        }
        case "adamax" -> {
          double b1 = h.get("beta1");
          double b2 = h.get("beta2");
          for (int i = 0; i < n; i++) {
            s1[i] = b1 * s1[i] + (1 - b1) * g[i];
            s2[i] = Math.max(b2 * s2[i], Math.abs(g[i]) + h.get("eps"));
            w[i] -= lr / (1 - Math.pow(b1, t)) * s1[i] / s2[i];
          }
        }
        case "nadam" -> {
          double b1 = h.get("beta1");
          double b2 = h.get("beta2");
          double psi = h.get("momentum_decay");
          double bc2 = 1 - Math.pow(b2, t);
          double mu = b1 * (1 - 0.5 * Math.pow(0.96, t * psi));
          double muNext = b1 * (1 - 0.5 * Math.pow(0.96, (t + 1) * psi));
          muProduct *= mu;
          for (int i = 0; i < n; i++) {
            s1[i] = b1 * s1[i] + (1 - b1) * g[i];
            s2[i] = b2 * s2[i] + (1 - b2) * g[i] * g[i];
            double denom = Math.sqrt(s2[i] / bc2) + h.get("eps");
            w[i] -= lr * (1 - mu) / (1 - muProduct) * g[i] / denom;
            w[i] -= lr * muNext / (1 - muProduct * muNext) * s1[i] / denom;
          }
        }
        default -> throw new IllegalArgumentException(name);
      }
    }
    return w;
  }

  @ParameterizedTest
  @ValueSource(strings = {"sgd", "sgd:momentum=0.9", "sgd:momentum=0.9,nesterov=1", "adam", "adam:lr=0.01,beta1=0.8",
      "adagrad", "adagrad:initial_accumulator=0.1", "rmsprop", "rmsprop:momentum=0.5", "adadelta", "adamax", "nadam"})
  void tenStepsMatchTorch(String config) {
    String[] parts = config.split(":");
    Map<String, Double> given = new HashMap<>();
    if (parts.length > 1) {
      for (String kv : parts[1].split(",")) {
        String[] p = kv.split("=");
        given.put(p[0], Double.parseDouble(p[1]));
      }
    }
    OptimizerSpec spec = OptimizerSpec.of(parts[0], given);
    Random r = new Random(config.hashCode());
    double[] w0 = OpCases.sample(r, SHAPE, OpCases.Domain.ANY);
    List<double[]> grads = new ArrayList<>();
    for (int s = 0; s < 10; s++) {
      grads.add(OpCases.sample(r, SHAPE, OpCases.Domain.ANY));
    }
    double[] got = ours(spec, w0, grads);
    double[] want = switch (parts[0]) {
      case "adadelta", "adamax", "nadam" -> reference(parts[0], spec.hyper(), w0, grads);
      default -> torchSteps(parts[0], spec.hyper(), w0, grads);
    };
    for (int i = 0; i < want.length; i++) {
      assertTrue(Math.abs(want[i] - got[i]) <= 1e-9 + 1e-7 * Math.abs(want[i]),
          config + ": w[" + i + "] after 10 steps: torch " + want[i] + ", nnc " + got[i]);
    }
  }
}
