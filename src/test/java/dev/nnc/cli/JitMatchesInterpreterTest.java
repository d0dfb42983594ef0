package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The generated native code of a whole training step (forward, loss, backward, optimizer) equals
 * the reference interpreter's double-precision result, for every optimizer.
 */
class JitMatchesInterpreterTest {
  static final String MODEL = """
      model M {
        input x: [12]
        h = x -> dense(20) -> prelu -> dense(32) -> maxout(2) -> tanh
        output y = h -> dense(5)
      }
      train M {
        data = csv("%s", label="y")
        loss = cross_entropy(y, label)
        optimizer = %s
        batch = 7
      }
      """;

  /**
   * Convolutions with every kind of window (same and explicit padding, dilation, a non-square
   * kernel with different strides per axis) and pooling whose windows reach into the padding:
   * the predicated loads and the scatter of the backward pass, in native code; two branches joined
   * by concat; and a batchnorm
   * whose running statistics are updates of the step. (The convolution before it has no bias: a
   * bias before batchnorm has a gradient of exactly 0 in theory and f32 noise in practice, which
   * Adam's normalisation blows up to a full step — PyTorch does the same.)
   */
  static final String CONV_MODEL = """
      model M {
        input x: [48]
        h = x -> reshape([3, 4, 4])
              -> conv2d(4, 3, padding=same, bias=false) -> batchnorm -> relu
        a = h -> conv2d(2, 3, padding=1, groups=2)
        b = h -> conv2d(3, 3, padding=2, dilation=2)
        h = concat(a, b) -> maxpool(3, stride=2, padding=1) -> upsample(2) -> zeropad([1, 0, 0, 1])
              -> avgpool(2, stride=1, padding=1)
              -> conv2d(5, [2, 3], stride=[1, 2], padding=[1, 1]) -> tanh
        output y = h -> flatten -> dense(5)
      }
      train M {
        data = csv("%s", label="y")
        loss = cross_entropy(y, label)
        optimizer = %s
        batch = 7
      }
      """;

  @ParameterizedTest
  @ValueSource(strings = {"adam(lr=0.01)", "sgd(lr=0.1, momentum=0.9, nesterov=true)", "rmsprop(momentum=0.5)",
      "adagrad", "adadelta", "adamax", "nadam", "sgd"})
  void trainStepMatches(String optimizer) throws Exception {
    trainStepsMatch(MODEL, 12, optimizer);
  }

  /**
   * The layers composed of other ops — 1-d convolution and pooling, transposed convolution,
   * layernorm, bilinear upsampling, average pooling with {@code ceil_mode} — in one training step.
   */
  static final String COMPOSED_MODEL = """
      model M {
        input x: [48]
        s = x -> reshape([3, 16]) -> conv1d(4, 3, padding=same) -> relu -> maxpool1d(2)
              -> avgpool1d(3, ceil_mode=true) -> flatten
        i = x -> reshape([3, 4, 4]) -> conv_transpose2d(2, 3, stride=2, padding=1, output_padding=1)
              -> layernorm -> upsample(2, mode=bilinear) -> avgpool(3, ceil_mode=true) -> flatten
              -> layernorm(over=last)
        output y = concat(s, i) -> dense(5)
      }
      train M {
        data = csv("%s", label="y")
        loss = cross_entropy(y, label)
        optimizer = %s
        batch = 7
      }
      """;

  @ParameterizedTest
  @ValueSource(strings = {"adam(lr=0.01)"})
  void composedLayersTrainStepMatches(String optimizer) throws Exception {
    trainStepsMatch(COMPOSED_MODEL, 48, optimizer);
  }

  @ParameterizedTest
  @ValueSource(strings = {"adam(lr=0.01)", "sgd(lr=0.1, momentum=0.9)"})
  void convolutionalTrainStepMatches(String optimizer) throws Exception {
    trainStepsMatch(CONV_MODEL, 48, optimizer);
  }

  /** 3×3 stride-1 convolutions, padded and valid, on odd maps: Winograd forward, input and weight gradients. */
  static final String WINOGRAD_MODEL = """
      model W {
        input x: [126]
        h = x -> reshape([3, 6, 7]) -> conv2d(4, 3, padding=1) -> relu -> conv2d(3, 3) -> relu
        output y = h -> flatten -> dense(5)
      }
      train W {
        data = csv("%s", label="y")
        loss = cross_entropy(y, label)
        optimizer = %s
        batch = 7
      }
      """;

  /**
   * A training step with every convolution, its input gradient and its weight gradient forced
   * through Winograd F(2×2) or F(4×4), as native code, equals the interpreter's on the same
   * model's im2col training graph: the Winograd lowerings and their code against im2col's math.
   */
  @ParameterizedTest
  @ValueSource(strings = {"winograd-2", "winograd-4"})
  void winogradTrainStepMatches(String lowering) throws Exception {
    Graph[] im2col = new Graph[1];
    ConvLoweringJitTest.withLowering("im2col-rows", () ->
        im2col[0] = compileTrain(WINOGRAD_MODEL, "sgd(lr=0.1, momentum=0.9)").graphs().get(ModelCompiler.TRAIN));
    assertTrue(im2col[0].nodes().stream().noneMatch(n -> n.op() instanceof dev.nnc.ir.ops.Winograd));
    ConvLoweringJitTest.withLowering(lowering,
        () -> trainStepsMatch(WINOGRAD_MODEL, 126, "sgd(lr=0.1, momentum=0.9)", im2col[0]));
  }

  /** Direct convolutions: padded, strided with a non-square kernel, dilated. */
  static final String DIRECT_MODEL = """
      model D {
        input x: [126]
        h = x -> reshape([3, 6, 7]) -> conv2d(4, 3, padding=1) -> relu -> conv2d(3, [2, 3], stride=2, padding=1) -> relu
              -> conv2d(2, 2, dilation=2)
        output y = h -> flatten -> dense(5)
      }
      train D {
        data = csv("%s", label="y")
        loss = cross_entropy(y, label)
        optimizer = %s
        batch = 7
      }
      """;

  /**
   * A training step with every convolution and its weight gradient forced direct (the input
   * gradients stay col2im), as native code, equals the interpreter's on the im2col training graph.
   */
  @org.junit.jupiter.api.Test
  void directTrainStepMatches() throws Exception {
    Graph[] im2col = new Graph[1];
    ConvLoweringJitTest.withLowering("im2col-rows", () ->
        im2col[0] = compileTrain(DIRECT_MODEL, "sgd(lr=0.1, momentum=0.9)").graphs().get(ModelCompiler.TRAIN));
    Graph[] direct = new Graph[1];
    ConvLoweringJitTest.withLowering("direct", () ->
        direct[0] = compileTrain(DIRECT_MODEL, "sgd(lr=0.1, momentum=0.9)").graphs().get(ModelCompiler.TRAIN));
    assertTrue(direct[0].nodes().stream().filter(n -> n.op() instanceof dev.nnc.ir.ops.Conv2d).count() == 3,
        "three direct convolutions");
    assertTrue(direct[0].nodes().stream().filter(n -> n.op() instanceof dev.nnc.ir.ops.Conv2dGradWeight).count() == 3,
        "three direct weight gradients");
    ConvLoweringJitTest.withLowering("direct",
        () -> trainStepsMatch(DIRECT_MODEL, 126, "sgd(lr=0.1, momentum=0.9)", im2col[0]));
  }

  static void trainStepsMatch(String model, int columns, String optimizer) throws Exception {
    trainStepsMatch(model, columns, optimizer, null);
  }

  /** The model (its CSV source a header of {@code c0…} columns and {@code y}) compiled at batch 7. */
  static ModelCompiler.Result compileTrain(String model, String optimizer) throws Exception {
    java.nio.file.Path csv = java.nio.file.Files.createTempFile("cols", ".csv");
    csv.toFile().deleteOnExit();
    int columns = Integer.parseInt(model.replaceAll("(?s).*input x: \\[(\\d+)\\].*", "$1"));
    StringBuilder header = new StringBuilder();
    for (int i = 0; i < columns; i++) {
      header.append("c").append(i).append(',');
    }
    java.nio.file.Files.writeString(csv, header + "y\n");
    Program prog = Program.parse(SourceFile.of("m.nn", model.formatted(csv.toString().replace("\\", "/"), optimizer)));
    Recipe recipe = Elaborator.recipe(prog, null);
    return ModelCompiler.compile(prog, null, recipe, 7, Backend.find("cpu"));
  }

  /**
   * Three native training steps equal the interpreter's on {@code reference} (null: the training
   * graph that was compiled), each step continuing from the reference's state.
   */
  static void trainStepsMatch(String model, int columns, String optimizer, Graph reference) throws Exception {
    ModelCompiler.Result r = compileTrain(model, optimizer);
    Manifest m = r.manifest();
    try (NativeModel nm = new NativeModel(m, KernelLibrary.ofAddresses(r.compiled().jit()), 2)) {
      nm.initParams(3);
      Random rnd = new Random(5);
      Graph train = reference != null ? reference : r.graphs().get(ModelCompiler.TRAIN);
      Map<String, Tensor> inputs = new HashMap<>();
      for (Node n : train.inputs()) {
        String name = ((Input) n.op()).name();
        double[] d = new double[(int) n.shape().size()];
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
          d[i] = name.equals("label") ? rnd.nextInt(5) : rnd.nextGaussian();
          f[i] = (float) d[i];
          d[i] = f[i];
        }
        inputs.put(name, new Tensor(n.shape(), d));
        nm.setInput(ModelCompiler.TRAIN, name, f);
      }
      Map<String, Tensor> params = new HashMap<>();
      for (Node n : train.params()) {
        String name = ((Param) n.op()).name();
        float[] f = nm.param(name);
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
          d[i] = f[i];
        }
        params.put(name, new Tensor(n.shape(), d));
      }
      for (int step = 0; step < 3; step++) {
        Interpreter.Result ref = Interpreter.run(train, inputs, params);
        nm.run(ModelCompiler.TRAIN);
        double loss = ref.outputs().get("loss").get(0);
        assertEquals(loss, nm.output(ModelCompiler.TRAIN, "loss")[0], 1e-4 * Math.max(1, Math.abs(loss)),
            optimizer + " step " + step + " loss");
        for (Map.Entry<String, Tensor> u : ref.updates().entrySet()) {
          float[] got = nm.param(u.getKey());
          double[] want = u.getValue().data();
          for (int i = 0; i < want.length; i++) {
            assertTrue(Math.abs(want[i] - got[i]) <= 1e-4 + 1e-3 * Math.abs(want[i]),
                optimizer + " step " + step + " " + u.getKey() + "[" + i + "]: want " + want[i] + " got " + got[i]);
          }
          params.put(u.getKey(), u.getValue());
        }
        // The next step continues from the reference's state; keep the native copy identical.
        for (Map.Entry<String, Tensor> p : params.entrySet()) {
          float[] f = new float[p.getValue().data().length];
          for (int i = 0; i < f.length; i++) {
            f[i] = (float) p.getValue().data()[i];
          }
          nm.setParam(p.getKey(), f);
        }
      }
      assertTrue(Shape.of(7, 5).equals(Shape.of(m.program(ModelCompiler.TRAIN).output("y").shape())));
    }
  }
}
