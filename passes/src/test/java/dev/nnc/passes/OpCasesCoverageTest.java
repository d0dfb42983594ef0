package dev.nnc.passes;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Constant;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.OneHot;
import dev.nnc.ir.ops.Op;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Every op with a gradient has cases in {@link OpCases}, so the finite-difference check and the
 * libtorch parity test cover it: a new op without them fails here. Exempt: stored values (inputs,
 * parameters), constants, random masks, one-hot (integer labels take no gradient) and
 * recurrence_grad (see below).
 */
class OpCasesCoverageTest {
  @Test
  void everyDifferentiableOpHasCases() {
    Set<Class<?>> covered = new HashSet<>();
    for (OpCases.Case c : OpCases.all(1)) {
      Graph.Builder b = Graph.builder("t");
      List<Node> in = new ArrayList<>();
      for (int i = 0; i < c.shapes().size(); i++) {
        in.add(b.addTyped(new Input("x" + i), List.of(), TensorType.f32(c.shapes().get(i))));
      }
      for (OpCases.IntInput ii : c.ints()) {
        in.add(b.addTyped(new Input(ii.name()), List.of(), new TensorType(ii.shape(), dev.nnc.ir.DType.I32)));
      }
      b.output("y", c.build().apply(b, in));
      b.build().nodes().forEach(n -> covered.add(n.op().getClass()));
    }
    for (Class<?> op : Op.class.getPermittedSubclasses()) {
      boolean exempt = op == Constant.class || op == OneHot.class || op.getSimpleName().equals("Input")
          || op.getSimpleName().equals("Param") || op.getSimpleName().equals("DropoutMask")
          // Backpropagation through time: checked as the gradient of every recurrence case; it has
          // no gradient of its own (second derivatives through time are refused).
          || op.getSimpleName().equals("RecurrenceGrad");
      assertTrue(exempt || covered.contains(op), op.getSimpleName() + " has no case in OpCases: add its "
          + "finite-difference and libtorch parity cases");
    }
  }
}
