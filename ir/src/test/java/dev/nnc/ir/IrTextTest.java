package dev.nnc.ir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Broadcast;
import dev.nnc.ir.ops.DropoutMask;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.OneHot;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.ir.ops.SumTo;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The IR text prints and parses back to the same graph, for every op; malformed text is rejected by line. */
class IrTextTest {
  static Graph everyOp() {
    Graph.Builder b = Graph.builder("all");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(Shape.of(4, 6)));
    Node lbl = b.addTyped(new Input("label"), List.of(), new TensorType(Shape.of(4), DType.I32));
    Node w = b.addTyped(new Param("w", Param.Role.WEIGHT, Init.of(Init.Kind.GLOROT_UNIFORM)), List.of(),
        TensorType.f32(Shape.of(3, 6)));
    Node c = b.addTyped(new Param("c", Param.Role.STATE, new Init(Init.Kind.CONSTANT, 0.5)), List.of(),
        TensorType.f32(Shape.SCALAR));
    Node h = b.add(new MatMul(false, true), x, w);
    for (UnaryFn fn : UnaryFn.values()) {
      h = b.add(new Unary(fn, fn.hasAlpha() ? 0.3 : fn.defaultAlpha()), h);
    }
    for (BinaryFn fn : BinaryFn.values()) {
      h = b.add(new Binary(fn), h, c);
    }
    Node s = b.add(new Softmax(), h);
    Node ls = b.add(new LogSoftmax(), s);
    Node oh = b.add(new OneHot(3), lbl);
    Node r = b.add(new Reduce(ReduceFn.MAX, List.of(1), true), Ops.mul(b, ls, oh));
    Node bc = b.add(new Broadcast(Shape.of(4, 3)), r);
    Node st = b.add(new SumTo(Shape.of(3)), bc);
    Node rs = b.add(new Reshape(Shape.of(1, 3)), st);
    Node dm = b.add(new DropoutMask(0.25, Shape.of(1, 3), 7), c);
    b.output("y", Ops.mul(b, rs, dm));
    b.update(c, Ops.add(b, c, Ops.constant(b, 1)));
    return b.build();
  }

  @Test
  void everyOpRoundTrips() {
    Graph g = everyOp();
    String text = IrPrinter.print(g);
    Graph back = IrParser.parse(text);
    assertEquals(text, IrPrinter.print(back));
    assertEquals(g.nodes().size(), back.nodes().size());
    for (int i = 0; i < g.nodes().size(); i++) {
      assertEquals(g.nodes().get(i).op(), back.nodes().get(i).op(), "op " + i);
      assertEquals(g.nodes().get(i).shape(), back.nodes().get(i).shape(), "shape " + i);
    }
  }

  @Test
  void malformedTextNamesTheLine() {
    IrParser.ParseException e = assertThrows(IrParser.ParseException.class, () -> IrParser.parse("""
        graph g {
          %0 = input[name="x"] : f32[2,3]
          %1 = matmul[transA=false, transB=false](%0, %0) : f32[2,2]
        }
        """));
    assertTrue(e.getMessage().startsWith("line 3:"), e.getMessage());
    assertTrue(e.getMessage().contains("inner dimensions"), e.getMessage());
    e = assertThrows(IrParser.ParseException.class, () -> IrParser.parse("graph g {\n  %0 = frobnicate : f32[1]\n}\n"));
    assertTrue(e.getMessage().startsWith("line 2:"), e.getMessage());
    e = assertThrows(IrParser.ParseException.class, () -> IrParser.parse("graph g {\n  %1 = exp(%0) : f32[1]\n}\n"));
    assertTrue(e.getMessage().contains("used before it is defined"), e.getMessage());
    e = assertThrows(IrParser.ParseException.class,
        () -> IrParser.parse("graph g {\n  %0 = input[name=\"x\"] : f32[2]\n  %1 = exp(%0) : f32[3]\n}\n"));
    assertTrue(e.getMessage().contains("shape rule gives"), e.getMessage());
  }

  @Test
  void shapeRulesExplainThemselves() {
    Graph.Builder b = Graph.builder("s");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(Shape.of(4, 6)));
    Node y = b.addTyped(new Input("y"), List.of(), TensorType.f32(Shape.of(5)));
    ShapeException e = assertThrows(ShapeException.class, () -> b.add(new Binary(BinaryFn.ADD), x, y));
    assertEquals("add needs shapes that broadcast, got [4,6] and [5]", e.getMessage());
    e = assertThrows(ShapeException.class, () -> b.add(new MatMul(false, false), x, x));
    assertTrue(e.getMessage().contains("inner dimensions differ"), e.getMessage());
    e = assertThrows(ShapeException.class, () -> b.add(new Reshape(Shape.of(5, 5)), x));
    assertEquals("cannot reshape [4,6] (24 elements) to [5,5] (25 elements)", e.getMessage());
    e = assertThrows(ShapeException.class, () -> b.add(new OneHot(3), x));
    assertTrue(e.getMessage().contains("integer labels"), e.getMessage());
    e = assertThrows(ShapeException.class, () -> b.add(new Reduce(ReduceFn.SUM, List.of(2), false), x));
    assertTrue(e.getMessage().contains("out of range"), e.getMessage());
  }

  @Test
  void broadcastIndexFollowsNumpy() {
    int[] m = Tensor.broadcastIndex(Shape.of(3), Shape.of(2, 3));
    assertEquals(List.of(0, 1, 2, 0, 1, 2), java.util.Arrays.stream(m).boxed().toList());
    m = Tensor.broadcastIndex(Shape.of(2, 1), Shape.of(2, 3));
    assertEquals(List.of(0, 0, 0, 1, 1, 1), java.util.Arrays.stream(m).boxed().toList());
  }

  @Test
  void erfIsAccurate() {
    // Reference values of erf from Abramowitz & Stegun, Table 7.1.
    assertEquals(0.5204998778, UnaryFn.erf(0.5), 1e-10);
    assertEquals(0.8427007929, UnaryFn.erf(1.0), 1e-10);
    assertEquals(0.9953222650, UnaryFn.erf(2.0), 1e-10);
    assertEquals(-0.9999779095, UnaryFn.erf(-3.0), 1e-10);
  }
}
