package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Param;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The inference programs read the tensors the prepare program derives from the weights (folded
 * batchnorm, Winograd-transformed filters) and still compute what they computed before: at
 * first, after the weights change (even when the inputs were set before the change, which the
 * prepare program must not overwrite), and after a training step.
 */
class PrepareProgramTest {
  /** Winograd needs ≥ 16 input channels and ≥ 64 output tiles: 16 channels on 16×16 maps at batch 2. */
  static final String MODEL = """
      model P {
        input x: [4096]
        h = x -> reshape([16, 16, 16]) -> conv2d(16, 3, padding=1, bias=false) -> batchnorm -> relu
              -> conv2d(16, 3, padding=1) -> relu
        output y = h -> global_avgpool -> dense(4)
      }
      train P {
        data = csv("%s", label="y")
        loss = cross_entropy(y, label)
        optimizer = sgd(lr=0.1, momentum=0.9)
        batch = 2
      }
      """;

  @Test
  void inferenceReadsDerivedTensorsThatFollowTheWeights() throws Exception {
    java.nio.file.Path csv = java.nio.file.Files.createTempFile("cols", ".csv");
    csv.toFile().deleteOnExit();
    StringBuilder header = new StringBuilder();
    for (int i = 0; i < 16 * 16 * 16; i++) {
      header.append("c").append(i).append(',');
    }
    java.nio.file.Files.writeString(csv, header + "y\n");
    Program prog = Program.parse(SourceFile.of("p.nn", MODEL.formatted(csv.toString().replace("\\", "/"))));
    Recipe recipe = Elaborator.recipe(prog, null);
    // The programs as they were before hoist-weights: the reference.
    Map<String, Graph> before = new HashMap<>();
    ModelCompiler.graphs(prog, null, recipe, 2, (key, g) -> {
      if (key.endsWith(":dce")) {
        before.put(key.substring(0, key.indexOf(':')), g);
      }
    });
    ModelCompiler.Result r = ModelCompiler.compile(prog, null, recipe, 2, Backend.find("cpu"));
    Graph prepare = r.graphs().get(ModelCompiler.PREPARE);
    assertNotNull(prepare, "folded batchnorm and Winograd filters are derived from the weights");
    Graph predict = r.graphs().get(ModelCompiler.PREDICT);
    assertTrue(predict.params().stream().anyMatch(n -> ((Param) n.op()).role() == Param.Role.DERIVED));
    assertTrue(before.get(ModelCompiler.PREDICT).nodes().stream().anyMatch(PrepareProgramTest::filterTransform),
        "the reference transforms its filters on every call");
    assertTrue(predict.nodes().stream().noneMatch(PrepareProgramTest::filterTransform), "predict no longer does");
    Manifest m = r.manifest();
    assertTrue(m.params().stream().anyMatch(Manifest.ParamSlot::derived));
    assertTrue(m.params().stream().filter(Manifest.ParamSlot::derived).noneMatch(Manifest.ParamSlot::saved));

    try (NativeModel nm = new NativeModel(m, KernelLibrary.ofAddresses(r.compiled().jit()), 2)) {
      nm.initParams(3);
      Random rnd = new Random(9);
      float[] x = gaussian(rnd, 16 * 16 * 16 * 2);
      nm.setInput(ModelCompiler.PREDICT, "x", x);
      nm.run(ModelCompiler.PREDICT);
      same(nm, before.get(ModelCompiler.PREDICT), ModelCompiler.PREDICT, Map.of("x", x), "first run");

      // New inputs, then new weights and running statistics: prepare runs again, inputs intact.
      float[] x2 = gaussian(rnd, x.length);
      nm.setInput(ModelCompiler.PREDICT, "x", x2);
      for (Manifest.ParamSlot p : m.params()) {
        if (p.saved()) {
          float[] v = gaussian(rnd, (int) p.size());
          if (p.name().endsWith("running_var")) {
            for (int i = 0; i < v.length; i++) {
              v[i] = Math.abs(v[i]) + 0.5f;
            }
          }
          nm.setParam(p.name(), v);
        }
      }
      nm.run(ModelCompiler.PREDICT);
      same(nm, before.get(ModelCompiler.PREDICT), ModelCompiler.PREDICT, Map.of("x", x2), "after new weights");

      // A training step changes weights and running statistics: eval sees the new ones.
      nm.setInput(ModelCompiler.TRAIN, "x", x);
      nm.setInput(ModelCompiler.TRAIN, "label", new float[] {1, 3});
      nm.run(ModelCompiler.TRAIN);
      nm.setInput(ModelCompiler.EVAL, "x", x2);
      nm.setInput(ModelCompiler.EVAL, "label", new float[] {0, 2});
      nm.run(ModelCompiler.EVAL);
      same(nm, before.get(ModelCompiler.EVAL), ModelCompiler.EVAL, Map.of("x", x2, "label", new float[] {0, 2}),
          "after a training step");
    }
  }

  /** A Winograd transform of a filter (its operand computed from a weight, not from the input). */
  static boolean filterTransform(Node n) {
    return n.op() instanceof dev.nnc.ir.ops.Winograd && !dependsOnInput(n);
  }

  static boolean dependsOnInput(Node n) {
    return n.op() instanceof Input || n.inputs().stream().anyMatch(PrepareProgramTest::dependsOnInput);
  }

  static float[] gaussian(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  /** The native outputs of {@code program} equal the interpreter's on {@code reference} with the model's current weights. */
  static void same(NativeModel nm, Graph reference, String program, Map<String, float[]> inputs, String what) {
    Map<String, Tensor> ins = new HashMap<>();
    for (Node n : reference.inputs()) {
      String name = ((Input) n.op()).name();
      float[] f = inputs.get(name);
      double[] d = new double[f.length];
      for (int i = 0; i < f.length; i++) {
        d[i] = f[i];
      }
      ins.put(name, new Tensor(n.shape(), d));
    }
    Map<String, Tensor> ps = new HashMap<>();
    for (Node n : reference.params()) {
      String name = ((Param) n.op()).name();
      float[] f = nm.param(name);
      double[] d = new double[f.length];
      for (int i = 0; i < f.length; i++) {
        d[i] = f[i];
      }
      ps.put(name, new Tensor(n.shape(), d));
    }
    Interpreter.Result want = Interpreter.run(reference, ins, ps);
    for (String out : reference.outputs().keySet()) {
      double[] w = want.outputs().get(out).data();
      float[] got = nm.output(program, out);
      double scale = 0;
      for (double v : w) {
        scale = Math.max(scale, Math.abs(v));
      }
      for (int i = 0; i < w.length; i++) {
        assertEquals(w[i], got[i], 1e-4 * Math.max(1, scale), what + ": " + program + " " + out + "[" + i + "]");
      }
    }
  }
}
