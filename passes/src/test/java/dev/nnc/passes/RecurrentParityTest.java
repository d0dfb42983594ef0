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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code simple_rnn}, {@code lstm} and {@code gru} against libtorch's own fused implementations
 * ({@code torch::lstm}, {@code torch::gru}, {@code torch::rnn_tanh}, batch-first) with the same
 * weights under the same names: every step's output, the final states ({@code h_n}, {@code c_n})
 * and the gradients of every weight, within 1e-4 — one and two layers, one and two directions.
 * With lengths, a padded batch must give what libtorch gives for each sequence alone at its own
 * length (outputs past the length 0), so masking is checked against unpadded runs.
 */
class RecurrentParityTest {
  @ParameterizedTest
  @CsvSource({"lstm,1,false,false", "lstm,2,true,false", "lstm,1,false,true", "lstm,2,true,true",
      "gru,1,false,false", "gru,2,true,false", "gru,1,true,true", "gru,2,false,true",
      "simple_rnn,1,false,false", "simple_rnn,2,true,true"})
  void layerMatchesLibtorch(String kind, int layers, boolean bidirectional, boolean masked) throws Exception {
    int batch = 3;
    int steps = 5;
    int features = 4;
    int hid = 3;
    boolean lstm = kind.equals("lstm");
    String outs = lstm ? "y, h, c" : "y, h";
    String text = "model M {\n  input x: [" + steps + ", " + features + "]\n"
        + (masked ? "  input len: int[1]\n" : "")
        + "  " + outs + " = " + kind + "(x, " + (masked ? "len, " : "") + hid + ", return_sequences=true, layers="
        + layers + ", bidirectional=" + bidirectional + ", return_state=true)\n  output " + outs + "\n}\n";
    Program p = Program.parse(SourceFile.of("r.nn", text));
    Elaborated e = Elaborator.elaborate(p, null, batch, LayerContext.Mode.INFER, null);
    Graph.Builder b = e.graph().toBuilder();
    List<String> names = lstm ? List.of("y", "h", "c") : List.of("y", "h");
    Random rnd = new Random(kind.hashCode() * 31L + layers * 7 + (bidirectional ? 3 : 0) + (masked ? 1 : 0));
    Map<String, Tensor> ins = new HashMap<>();
    Node loss = null;
    for (String o : names) {
      Node y = e.graph().output(o);
      Node r = b.addTyped(new Input("r_" + o), List.of(), TensorType.f32(y.shape()));
      ins.put("r_" + o, new Tensor(y.shape(), OpCases.sample(rnd, y.shape(), OpCases.Domain.ANY)));
      Node term = Ops.sumAll(b, Ops.mul(b, y, r));
      loss = loss == null ? term : Ops.add(b, loss, term);
    }
    List<Node> params = e.graph().params();
    var grads = dev.nnc.passes.Autodiff.gradients(b, loss, params);
    Map<String, Tensor> pv = new LinkedHashMap<>();
    for (Node w : params) {
      String name = ((Param) w.op()).name();
      pv.put(name, new Tensor(w.shape(), OpCases.sample(rnd, w.shape(), OpCases.Domain.ANY)));
      b.output("d:" + name, grads.get(w));
    }
    Shape xs = Shape.of(batch, steps, features);
    Tensor x = new Tensor(xs, OpCases.sample(rnd, xs, OpCases.Domain.ANY));
    ins.put("x", x);
    double[] len = {steps, 1 + rnd.nextInt(steps - 1), 2};
    if (masked) {
      ins.put("len", new Tensor(Shape.of(batch, 1), len));
    }
    Interpreter.Result ours = Interpreter.run(b.build(), ins, pv);

    // libtorch: its parameter list in its order (per layer, per direction: w_ih, w_hh, b_ih, b_hh).
    int dirs = bidirectional ? 2 : 1;
    String prefix = kind + "1.";
    List<String> order = new ArrayList<>();
    for (int l = 0; l < layers; l++) {
      for (int d = 0; d < dirs; d++) {
        String sfx = "_l" + l + (d == 1 ? "_reverse" : "");
        for (String w : List.of("weight_ih", "weight_hh", "bias_ih", "bias_hh")) {
          order.add(prefix + w + sfx);
        }
      }
    }
    org.junit.jupiter.api.Assertions.assertEquals(new java.util.TreeSet<>(order), new java.util.TreeSet<>(pv.keySet()),
        "PyTorch's parameter names");
    Map<String, org.bytedeco.pytorch.Tensor> tp = new LinkedHashMap<>();
    for (String n : order) {
      tp.put(n, TorchOps.tensor(pv.get(n).data(), pv.get(n).shape(), true));
    }
    TensorVector weights = new TensorVector(order.stream().map(tp::get).toArray(org.bytedeco.pytorch.Tensor[]::new));
    org.bytedeco.pytorch.Tensor tx = TorchOps.tensor(x.data(), xs, false);
    double[][] want = new double[names.size()][];
    int[] sizes = {steps * dirs * hid, layers * dirs * hid, layers * dirs * hid};
    for (int k = 0; k < names.size(); k++) {
      want[k] = new double[batch * sizes[k]];
    }
    // Each sequence alone at its length when masked; the whole batch at once otherwise.
    int runs = masked ? batch : 1;
    org.bytedeco.pytorch.Tensor total = null;
    for (int run = 0; run < runs; run++) {
      int nb = masked ? 1 : batch;
      int t = masked ? (int) len[run] : steps;
      org.bytedeco.pytorch.Tensor xin = masked ? tx.narrow(0, run, 1).narrow(1, 0, t) : tx;
      org.bytedeco.pytorch.Tensor h0 = torch.zeros(new long[] {(long) layers * dirs, nb, hid},
          new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Double));
      org.bytedeco.pytorch.Tensor[] res = switch (kind) {
        case "lstm" -> {
          var o = torch.lstm(xin, new TensorVector(h0, h0.clone()), weights, true, layers, 0, false, bidirectional, true);
          yield new org.bytedeco.pytorch.Tensor[] {o.get0(), o.get1(), o.get2()};
        }
        case "gru" -> {
          var o = torch.gru(xin, h0, weights, true, layers, 0, false, bidirectional, true);
          yield new org.bytedeco.pytorch.Tensor[] {o.get0(), o.get1()};
        }
        default -> {
          var o = torch.rnn_tanh(xin, h0, weights, true, layers, 0, false, bidirectional, true);
          yield new org.bytedeco.pytorch.Tensor[] {o.get0(), o.get1()};
        }
      };
      for (int k = 0; k < names.size(); k++) {
        // Outputs: [nb, t, dirs·H], padded back to T steps with zeros; states [L·D, nb, H] → [nb, L·D·H].
        org.bytedeco.pytorch.Tensor v = k == 0
            ? torch.constant_pad_nd(res[0], new long[] {0, 0, 0, steps - t}, new org.bytedeco.pytorch.Scalar(0))
            : res[k].permute(1, 0, 2).reshape(nb, -1);
        double[] vals = TorchOps.values(v);
        System.arraycopy(vals, 0, want[k], (masked ? run : 0) * sizes[k], vals.length);
        Tensor r = ins.get("r_" + names.get(k));
        org.bytedeco.pytorch.Tensor rt = TorchOps.tensor(r.data(), r.shape(), false);
        if (masked) {
          rt = rt.narrow(0, run, 1);
        }
        org.bytedeco.pytorch.Tensor term = v.mul(rt).sum();
        total = total == null ? term : total.add(term);
      }
    }
    for (int k = 0; k < names.size(); k++) {
      TorchParityTest.close(want[k], ours.outputs().get(names.get(k)).data(), text + " " + names.get(k));
    }
    total.backward();
    for (String n : order) {
      TorchParityTest.close(TorchOps.values(tp.get(n).grad()), ours.outputs().get("d:" + n).data(), text + " d" + n);
    }
  }
}
