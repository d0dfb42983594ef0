package dev.nnc.passes;

import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Param;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Layers that are compositions of ops (no op of their own) against libtorch, through the
 * language, with random inputs and random parameters on both sides: the output, and the gradients
 * of {@code Σ y ⊙ r} with respect to the input and to every parameter.
 */
class LayerParityTest {
  /** libtorch's form of a layer: the input and the layer's parameters by name (weight, bias) → output. */
  static BiFunction<org.bytedeco.pytorch.Tensor, Function<String, org.bytedeco.pytorch.Tensor>,
      org.bytedeco.pytorch.Tensor> torchOf(String layer) {
    return switch (layer) {
      case "upsample(2)" -> (t, p) -> torch.upsample_nearest2d(t, new long[] {10, 8});
      case "upsample([3, 1])" -> (t, p) -> torch.upsample_nearest2d(t, new long[] {15, 4});
      case "upsample(2, mode=bilinear)" -> (t, p) -> torch.upsample_bilinear2d(t, new long[] {10, 8}, false);
      case "upsample([3, 1], mode=bilinear)" -> (t, p) -> torch.upsample_bilinear2d(t, new long[] {15, 4}, false);
      case "upsample([1, 4], mode=bilinear)" -> (t, p) -> torch.upsample_bilinear2d(t, new long[] {5, 16}, false);
      case "zeropad(1)" -> (t, p) -> torch.constant_pad_nd(t, 1, 1, 1, 1);
      case "zeropad([1, 0, 2, 3])" -> (t, p) -> torch.constant_pad_nd(t, 0, 3, 1, 2);   // (left, right, top, bottom)
      case "prelu" -> (t, p) -> torch.prelu(t, p.apply("weight"));
      case "flatten -> maxout(4)" -> (t, p) -> t.reshape(2, 15, 4).amax(new long[] {2}, false);
      case "conv1d(4, 3, stride=2, padding=1)" -> (t, p) -> torch.conv1d(t, p.apply("weight"),
          new TensorOptional(p.apply("bias")), new long[] {2}, new long[] {1}, new long[] {1}, 1);
      // same padding with kernel 3, dilation 2: 2 on each side.
      case "conv1d(2, 3, padding=same, dilation=2, groups=2, bias=false)" -> (t, p) -> torch.conv1d(t,
          p.apply("weight"), new TensorOptional(), new long[] {1}, new long[] {2}, new long[] {2}, 2);
      case "conv_transpose2d(2, 3, stride=2, padding=1, output_padding=1)" -> (t, p) -> torch.conv_transpose2d(t,
          p.apply("weight"), new TensorOptional(p.apply("bias")), new long[] {2, 2}, new long[] {1, 1},
          new long[] {1, 1}, 1, 1, 1);
      case "conv_transpose2d(6, [2, 3], stride=[2, 1], dilation=[1, 2], groups=3, bias=false)" -> (t, p) ->
          torch.conv_transpose2d(t, p.apply("weight"), new TensorOptional(), new long[] {2, 1}, new long[] {0, 0},
              new long[] {0, 0}, 3, 1, 2);
      case "conv_transpose2d(4, 2, stride=2)" -> (t, p) -> torch.conv_transpose2d(t, p.apply("weight"),
          new TensorOptional(p.apply("bias")), new long[] {2, 2}, new long[] {0, 0}, new long[] {0, 0}, 1, 1, 1);
      case "maxpool1d(3, stride=2, padding=1)" -> (t, p) -> torch.max_pool1d(t, new long[] {3}, new long[] {2},
          new long[] {1}, new long[] {1}, false);
      case "avgpool1d(2, ceil_mode=true)" -> (t, p) -> torch.avg_pool1d(t, new long[] {2}, new long[] {2},
          new long[] {0}, true, true);
      case "avgpool(2, ceil_mode=true)" -> (t, p) -> torch.avg_pool2d(t, new long[] {2, 2}, new long[] {2, 2},
          new long[] {0, 0}, true, true, new org.bytedeco.pytorch.LongOptional());
      case "avgpool(3, stride=2, padding=1, ceil_mode=true)" -> (t, p) -> torch.avg_pool2d(t, new long[] {3, 3},
          new long[] {2, 2}, new long[] {1, 1}, true, true, new org.bytedeco.pytorch.LongOptional());
      case "maxpool(3, stride=2, ceil_mode=true)" -> (t, p) -> torch.max_pool2d(t, new long[] {3, 3},
          new long[] {2, 2}, new long[] {0, 0}, new long[] {1, 1}, true);
      case "global_avgpool" -> (t, p) -> t.mean(new long[] {2}, false, new org.bytedeco.pytorch.ScalarTypeOptional());
      case "layernorm" -> (t, p) -> torch.layer_norm(t, new long[] {3, 5, 4}, new TensorOptional(p.apply("weight")),
          new TensorOptional(p.apply("bias")), 1e-5, false);
      case "layernorm(over=last, eps=0.01)" -> (t, p) -> torch.layer_norm(t, new long[] {4},
          new TensorOptional(p.apply("weight")), new TensorOptional(p.apply("bias")), 0.01, false);
      case "layernorm(affine=false)" -> (t, p) -> torch.layer_norm(t, new long[] {9}, new TensorOptional(),
          new TensorOptional(), 1e-5, false);
      // On a sequence: every step, as PyTorch's Linear on the last axis.
      case "dense(3)" -> (t, p) -> torch.linear(t, p.apply("weight"), new TensorOptional(p.apply("bias")));
      default -> throw new IllegalArgumentException(layer);
    };
  }

  @ParameterizedTest(name = "[{0}] -> {1}")
  @CsvSource(delimiter = '|', value = {
      "3, 5, 4 | upsample(2)", "3, 5, 4 | upsample([3, 1])", "3, 5, 4 | upsample(2, mode=bilinear)",
      "3, 5, 4 | upsample([3, 1], mode=bilinear)", "3, 5, 4 | upsample([1, 4], mode=bilinear)",
      "3, 5, 4 | zeropad(1)", "3, 5, 4 | zeropad([1, 0, 2, 3])", "3, 5, 4 | prelu", "3, 5, 4 | flatten -> maxout(4)",
      "3, 9 | conv1d(4, 3, stride=2, padding=1)",
      "4, 10 | conv1d(2, 3, padding=same, dilation=2, groups=2, bias=false)",
      "3, 5, 4 | conv_transpose2d(2, 3, stride=2, padding=1, output_padding=1)",
      "3, 5, 4 | conv_transpose2d(6, [2, 3], stride=[2, 1], dilation=[1, 2], groups=3, bias=false)",
      "3, 5, 4 | conv_transpose2d(4, 2, stride=2)",
      "3, 9 | maxpool1d(3, stride=2, padding=1)", "3, 9 | avgpool1d(2, ceil_mode=true)",
      "3, 5, 4 | avgpool(2, ceil_mode=true)", "3, 7, 5 | avgpool(3, stride=2, padding=1, ceil_mode=true)",
      "3, 7, 5 | maxpool(3, stride=2, ceil_mode=true)", "3, 9 | global_avgpool",
      "3, 5, 4 | layernorm", "3, 5, 4 | layernorm(over=last, eps=0.01)", "9 | layernorm(affine=false)",
      "5, 4 | dense(3)"})
  void layerMatchesLibtorch(String input, String layer) throws Exception {
    String text = "model M {\n  input x: [" + input + "]\n  output y = x -> " + layer + "\n}\n";
    Program p = Program.parse(SourceFile.of("l.nn", text));
    Elaborated e = Elaborator.elaborate(p, null, 2, LayerContext.Mode.INFER, null);
    Graph.Builder b = e.graph().toBuilder();
    Node x = e.graph().input("x");
    Node y = e.graph().output("y");
    List<Node> params = e.graph().params();
    Node r = b.addTyped(new Input("r"), List.of(), TensorType.f32(y.shape()));
    List<Node> wrt = new ArrayList<>(params);
    wrt.add(x);
    Map<Node, Node> grads = Autodiff.gradients(b, Ops.sumAll(b, Ops.mul(b, y, r)), wrt);
    b.output("dx", grads.get(x));
    Random rnd = new Random(layer.hashCode());
    Map<String, Tensor> values = new HashMap<>();
    Map<String, org.bytedeco.pytorch.Tensor> torchParams = new HashMap<>();
    for (Node n : params) {
      String name = ((Param) n.op()).name();
      b.output("d:" + name, grads.get(n));
      Tensor v = new Tensor(n.shape(), OpCases.sample(rnd, n.shape(), OpCases.Domain.ANY));
      values.put(name, v);
      torchParams.put(name.substring(name.lastIndexOf('.') + 1), TorchOps.tensor(v.data(), v.shape(), true));
    }
    Tensor xv = new Tensor(x.shape(), OpCases.sample(rnd, x.shape(), OpCases.Domain.ANY));
    Tensor rv = new Tensor(y.shape(), OpCases.sample(rnd, y.shape(), OpCases.Domain.ANY));
    Interpreter.Result ours = Interpreter.run(b.build(), Map.of("x", xv, "r", rv), values);
    org.bytedeco.pytorch.Tensor tx = TorchOps.tensor(xv.data(), xv.shape(), true);
    org.bytedeco.pytorch.Tensor ty = torchOf(layer).apply(tx, name -> {
      org.bytedeco.pytorch.Tensor t = torchParams.get(name);
      if (t == null) {
        throw new AssertionError(layer + " has no parameter " + name + "; it has " + torchParams.keySet());
      }
      return t;
    });
    TorchParityTest.close(TorchOps.values(ty), ours.outputs().get("y").data(), layer + " forward");
    org.junit.jupiter.api.Assertions.assertArrayEquals(TorchOps.dims(y.shape()), ty.sizes().vec().get(),
        layer + " output shape");
    ty.mul(TorchOps.tensor(rv.data(), rv.shape(), false)).sum().backward();
    TorchParityTest.close(TorchOps.values(tx.grad()), ours.outputs().get("dx").data(), layer + " dx");
    for (Node n : params) {
      String name = ((Param) n.op()).name();
      TorchParityTest.close(TorchOps.values(torchParams.get(name.substring(name.lastIndexOf('.') + 1)).grad()),
          ours.outputs().get("d:" + name).data(), layer + " d" + name);
    }
  }

  /**
   * {@code embedding_bag} against libtorch's {@code embedding_bag} (ATen, {@code padding_idx=0}) on
   * random bags of token ids with padding, one bag all padding: the output and the table's
   * gradient of {@code Σ y ⊙ r}.
   */
  @ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"mean", "sum"})
  void embeddingBagMatchesLibtorch(String mode) throws Exception {
    int vocab = 7;
    int len = 6;
    int batch = 3;
    String text = "model M {\n  input x: int[" + len + "]\n  output y = x -> embedding_bag(" + vocab + ", 4, mode=" + mode
        + ")\n}\n";
    Program p = Program.parse(SourceFile.of("l.nn", text));
    Elaborated e = Elaborator.elaborate(p, null, batch, LayerContext.Mode.INFER, null);
    Graph.Builder b = e.graph().toBuilder();
    Node y = e.graph().output("y");
    Node w = e.graph().params().get(0);
    Node r = b.addTyped(new Input("r"), List.of(), TensorType.f32(y.shape()));
    Map<Node, Node> grads = Autodiff.gradients(b, Ops.sumAll(b, Ops.mul(b, y, r)), List.of(w));
    b.output("dw", grads.get(w));
    Random rnd = new Random(mode.hashCode());
    double[] ids = new double[batch * len];
    for (int i = 0; i < len; i++) {
      ids[i] = rnd.nextInt(vocab);                     // bag 0: any ids, padding among them
      ids[len + i] = i < 2 ? 1 + rnd.nextInt(vocab - 1) : 0;  // bag 1: two tokens, then padding
      ids[2 * len + i] = 0;                            // bag 2: padding only
    }
    ids[1] = 0;
    ids[2] = ids[3] = 3;                               // a repeated id
    Tensor wv = new Tensor(w.shape(), OpCases.sample(rnd, w.shape(), OpCases.Domain.ANY));
    Tensor rv = new Tensor(y.shape(), OpCases.sample(rnd, y.shape(), OpCases.Domain.ANY));
    Interpreter.Result ours = Interpreter.run(b.build(), Map.of("x", new Tensor(Shape.of(batch, len), ids), "r", rv),
        Map.of(((Param) w.op()).name(), wv));
    org.bytedeco.pytorch.Tensor tw = TorchOps.tensor(wv.data(), wv.shape(), true);
    double[] offsets = {0, len, 2 * len};
    org.bytedeco.pytorch.Tensor ty = torch.embedding_bag(tw, TorchOps.longs(ids), TorchOps.longs(offsets), false,
        mode.equals("sum") ? 0 : 1, false, new TensorOptional(), false, new org.bytedeco.pytorch.LongOptional(0)).get0();
    TorchParityTest.close(TorchOps.values(ty), ours.outputs().get("y").data(), "embedding_bag " + mode + " forward");
    ty.mul(TorchOps.tensor(rv.data(), rv.shape(), false)).sum().backward();
    TorchParityTest.close(TorchOps.values(tw.grad()), ours.outputs().get("dw").data(), "embedding_bag " + mode + " dW");
  }
}
