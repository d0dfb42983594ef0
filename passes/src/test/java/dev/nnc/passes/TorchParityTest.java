package dev.nnc.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Forward and backward parity with libtorch on random shapes (three draws): each op's output and
 * the gradients of {@code Σ op(x) ⊙ r} equal libtorch's autograd within 1e-4 relative error.
 */
class TorchParityTest {
  static Stream<OpCases.Case> cases() {
    List<OpCases.Case> all = new ArrayList<>();
    for (long seed : new long[] {1, 2, 3}) {
      all.addAll(OpCases.all(seed));
    }
    return all.stream();
  }

  static void close(double[] want, double[] got, String what) {
    assertEquals(want.length, got.length, what + ": element count");
    for (int i = 0; i < want.length; i++) {
      double tol = 1e-4 * Math.max(1, Math.abs(want[i]));
      assertTrue(Math.abs(want[i] - got[i]) <= tol, what + "[" + i + "]: libtorch " + want[i] + ", nnc " + got[i]);
    }
  }

  @ParameterizedTest
  @MethodSource("cases")
  void forwardAndBackwardMatchLibtorch(OpCases.Case c) {
    GradientCheckTest.Setup s = GradientCheckTest.setup(c, c.hashCode());
    Interpreter.Result ours = Interpreter.run(s.graph(), s.inputs(), s.values());
    List<org.bytedeco.pytorch.Tensor> ts = new ArrayList<>();
    for (String p : s.params()) {
      Tensor v = s.values().get(p);
      ts.add(TorchOps.tensor(v.data(), v.shape(), true));
    }
    org.bytedeco.pytorch.Tensor out = c.torch().apply(ts);
    Tensor r = s.inputs().get("r");
    close(TorchOps.values(out), ours.outputs().get("out").data(), c + " forward");
    org.bytedeco.pytorch.Tensor loss = out.mul(TorchOps.tensor(r.data(), r.shape(), false)).sum();
    loss.backward();
    for (int i = 0; i < ts.size(); i++) {
      org.bytedeco.pytorch.Tensor g = ts.get(i).grad();
      double[] want = g.defined() ? TorchOps.values(g) : new double[ours.outputs().get("grad" + i).data().length];
      close(want, ours.outputs().get("grad" + i).data(), c + " d/dp" + i);
    }
    torch.manual_seed(0);
  }
}
