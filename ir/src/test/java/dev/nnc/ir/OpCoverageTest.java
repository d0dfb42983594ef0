package dev.nnc.ir;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Broadcast;
import dev.nnc.ir.ops.Concat;
import dev.nnc.ir.ops.Constant;
import dev.nnc.ir.ops.Slice;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.Patches;
import dev.nnc.ir.ops.PatchesGrad;
import dev.nnc.ir.ops.Permute;
import dev.nnc.ir.ops.Window;
import dev.nnc.ir.ops.DropoutMask;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.OneHot;
import dev.nnc.ir.ops.Op;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.ir.ops.SumTo;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Walks {@code Op}'s permitted subclasses: each must have a sample here, print and parse back to
 * itself, and state consistent traits. A new op that the IR text does not know fails this test
 * (the exhaustive switches of the interpreter and the back ends fail compilation instead).
 */
class OpCoverageTest {
  static final Map<Class<?>, Op> SAMPLES = new LinkedHashMap<>();

  static {
    for (Op op : List.of(new Input("x"), new Param("w", Param.Role.WEIGHT, Init.ZEROS), new Constant(1.5),
        new MatMul(false, true), new Unary(UnaryFn.TANH, 0), new Binary(BinaryFn.ADD),
        new Reduce(ReduceFn.SUM, List.of(1), true), new Broadcast(Shape.of(4, 3)), new SumTo(Shape.of(3)),
        new Reshape(Shape.of(2, 6)), new Softmax(), new LogSoftmax(), new OneHot(10),
        new DropoutMask(0.5, Shape.of(4, 3), 7), new Conv2d(new Window(3, 2, 2, 1, 1, 0, 1, 0, 1, 2), 1),
        new Patches(Window.of(2, 2, 0), false, Double.NEGATIVE_INFINITY),
        new PatchesGrad(Window.of(3, 1, 1), true, 7, 5), new Permute(List.of(0, 3, 1, 2)), new Concat(1),
        new Slice(1, 2, 3), new dev.nnc.ir.ops.Winograd(true, dev.nnc.ir.ops.Winograd.Matrix.BT4, false, 4, 1, 1, 14,
            14, 56, 56), new dev.nnc.ir.ops.Conv2dGradInput(Window.of(3, 1, 1), 9, 7),
        new dev.nnc.ir.ops.Conv2dGradWeight(new Window(3, 2, 2, 1, 1, 0, 1, 0, 1, 2)), new dev.nnc.ir.ops.Embedding(60),
        new dev.nnc.ir.ops.EmbeddingGrad(27),
        new dev.nnc.ir.ops.Recurrence(dev.nnc.ir.ops.Recurrence.Cell.LSTM, 128, true, false),
        new dev.nnc.ir.ops.RecurrenceGrad(dev.nnc.ir.ops.Recurrence.Cell.GRU, 32, false, true))) {
      SAMPLES.put(op.getClass(), op);
    }
  }

  @Test
  void everyOpHasASample() {
    Set<Class<?>> permitted = Arrays.stream(Op.class.getPermittedSubclasses()).collect(Collectors.toSet());
    assertEquals(permitted, SAMPLES.keySet(), "add the new op to OpCoverageTest.SAMPLES (and to IrParser)");
  }

  @Test
  void everyOpPrintsAndParsesBack() {
    for (Op op : SAMPLES.values()) {
      assertEquals(op, IrParser.op(op.mnemonic(), op.attributes()), op.mnemonic());
    }
  }

  /** Traits that exclude each other, and the ones each kind of op must have. */
  @Test
  void traitsAreConsistent() {
    for (Op op : SAMPLES.values()) {
      String n = op.getClass().getSimpleName();
      if (op.expands()) {
        org.junit.jupiter.api.Assertions.assertTrue(op.elementwise() || op.gather(),
            n + ": expands qualifies element-wise and gather ops");
      }
      if (op.random()) {
        org.junit.jupiter.api.Assertions.assertTrue(op.elementwise(), n + ": random qualifies element-wise ops");
      }
      int kinds = (op.elementwise() ? 1 : 0) + (op.gather() ? 1 : 0) + (op.reduction() ? 1 : 0) + (op.leaf() ? 1 : 0)
          + (op.view() ? 1 : 0);
      org.junit.jupiter.api.Assertions.assertTrue(kinds <= 1,
          n + " is at most one of element-wise, gather, reduction, leaf, view");
      assertEquals(op.leaf(), op.arity() == 0 && !(op instanceof Constant), n + ": leaves are the operand-less stored values");
    }
  }
}
