package dev.nnc.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.Window;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every convolution lowering computes the convolution: on random shapes, windows, groups and
 * batch sizes, each lowering that applies gives the interpreter's direct convolution (f64,
 * within 1e-9); the cost model picks what the documentation says; forcing one that does not
 * apply falls back to the cost model's choice.
 */
class ConvLoweringTest {
  record Case(Shape x, Window win, int filters, int groups) {
    @Override
    public String toString() {
      return "x" + x + " " + win.text() + " filters=" + filters + " groups=" + groups;
    }
  }

  static Stream<Arguments> cases() {
    Random r = new Random(17);
    List<Arguments> out = new ArrayList<>();
    out.add(Arguments.of(new Case(Shape.of(1, 3, 6, 5), Window.of(1, 1, 0), 4, 1)));    // gemm-1x1
    out.add(Arguments.of(new Case(Shape.of(3, 4, 6, 5), Window.of(1, 1, 0), 2, 2)));
    out.add(Arguments.of(new Case(Shape.of(1, 4, 7, 7), Window.of(3, 2, 1), 6, 2)));
    // Winograd's shapes: 3×3 stride 1, padded or not (partial tiles at the bottom and right), a
    // batch, groups, asymmetric padding.
    out.add(Arguments.of(new Case(Shape.of(1, 3, 8, 8), Window.of(3, 1, 1), 4, 1)));
    out.add(Arguments.of(new Case(Shape.of(2, 2, 7, 9), Window.of(3, 1, 0), 3, 1)));
    out.add(Arguments.of(new Case(Shape.of(3, 4, 6, 5), Window.of(3, 1, 1), 2, 2)));
    out.add(Arguments.of(new Case(Shape.of(1, 2, 5, 6), new Window(3, 3, 1, 1, 0, 2, 1, 0, 1, 1), 3, 1)));
    out.add(Arguments.of(new Case(Shape.of(2, 16, 5, 5), Window.of(3, 1, 1), 4, 1)));  // too few tiles: im2col
    out.add(Arguments.of(new Case(Shape.of(4, 16, 8, 8), Window.of(3, 1, 1), 4, 1)));  // the cost model's F(2×2)
    out.add(Arguments.of(new Case(Shape.of(1, 128, 30, 31), Window.of(3, 1, 1), 128, 1)));  // wide: F(4×4)
    out.add(Arguments.of(new Case(Shape.of(1, 16, 6, 6), Window.of(3, 1, 1), 4, 2)));  // grouped: im2col
    for (int i = 0; i < 12; i++) {
      int groups = 1 + r.nextInt(2);
      int n = i % 3 == 0 ? 1 : 1 + r.nextInt(3);
      int c = groups * (1 + r.nextInt(3));
      int k = 1 + r.nextInt(3);
      Window w = new Window(k, 1 + r.nextInt(3), 1 + r.nextInt(2), 1 + r.nextInt(2), r.nextInt(2), r.nextInt(2),
          r.nextInt(2), r.nextInt(2), 1 + r.nextInt(2), 1);
      out.add(Arguments.of(new Case(Shape.of(n, c, 5 + r.nextInt(4), 5 + r.nextInt(4)), w,
          groups * (1 + r.nextInt(3)), groups)));
    }
    return out.stream();
  }

  static Graph conv(Case c) {
    Graph.Builder b = Graph.builder("g");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(c.x()));
    Node w = b.addTyped(new Param("w", Param.Role.WEIGHT, Init.ZEROS), List.of(),
        TensorType.f32(Shape.of(c.filters(), c.x().dim(1) / c.groups(), c.win().kh(), c.win().kw())));
    b.output("y", b.add(new Conv2d(c.win(), c.groups()), x, w));
    return b.build();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void everyApplicableLoweringComputesTheConvolution(Case c) {
    Graph g = conv(c);
    Random r = new Random(c.toString().hashCode());
    Node wn = g.params().get(0);
    Map<String, Tensor> in = Map.of("x", new Tensor(c.x(), OpCases.sample(r, c.x(), OpCases.Domain.ANY)));
    Map<String, Tensor> ps = Map.of("w", new Tensor(wn.shape(), OpCases.sample(r, wn.shape(), OpCases.Domain.ANY)));
    double[] want = Interpreter.run(g, in, ps).outputs().get("y").data();
    Conv2d op = (Conv2d) g.output("y").op();
    int applied = 0;
    for (Conv2d.Lowering l : Conv2d.Lowering.values()) {
      Graph lowered = new LowerConv(l).apply(g);
      // Only a direct convolution stays, on its explicitly padded input.
      boolean direct = new LowerConv(l).decide(op, c.x(), wn.shape()) == Conv2d.Lowering.DIRECT;
      assertTrue(lowered.nodes().stream().noneMatch(n -> n.op() instanceof Conv2d cv && (!direct || cv.window().padded())),
          l.text() + " lowered: " + lowered);
      assertEquals(direct, lowered.nodes().stream().anyMatch(n -> n.op() instanceof Conv2d), l.text() + " of " + c);
      double[] got = Interpreter.run(lowered, in, ps).outputs().get("y").data();
      assertEquals(want.length, got.length);
      for (int i = 0; i < want.length; i++) {
        assertEquals(want[i], got[i], 1e-9, l.text() + " at " + i + " of " + c);
      }
      applied += l.applies(op, c.x()) ? 1 : 0;
    }
    assertTrue(applied >= 2, "im2col rows and columns apply to every convolution");
    Window w = c.win();
    boolean winograd = w.kh() == 3 && w.kw() == 3 && w.sh() == 1 && w.sw() == 1 && w.dh() == 1 && w.dw() == 1;
    assertEquals(winograd, Conv2d.Lowering.WINOGRAD_4.applies(op, c.x()), "Winograd applies to 3×3 stride 1 only");
  }

  /**
   * The input gradient of every ungrouped case, under every lowering (col2im, and Winograd where
   * it applies), equals the interpreter's direct scatter.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void everyInputGradientLoweringComputesIt(Case c) {
    if (c.groups() != 1) {
      return;                                    // grouped gradients are per group of ungrouped ones
    }
    Window win = c.win();
    Shape dys = Shape.of(c.x().dim(0), c.filters(), win.outH(c.x().dim(2)), win.outW(c.x().dim(3)));
    Graph.Builder b = Graph.builder("g");
    Node dy = b.addTyped(new Input("dy"), List.of(), TensorType.f32(dys));
    Node w = b.addTyped(new Param("w", Param.Role.WEIGHT, Init.ZEROS), List.of(),
        TensorType.f32(Shape.of(c.filters(), c.x().dim(1), win.kh(), win.kw())));
    dev.nnc.ir.ops.Conv2dGradInput op = new dev.nnc.ir.ops.Conv2dGradInput(win, c.x().dim(2), c.x().dim(3));
    b.output("dx", b.add(op, dy, w));
    Graph g = b.build();
    Random r = new Random(c.toString().hashCode() + 1);
    Map<String, Tensor> in = Map.of("dy", new Tensor(dys, OpCases.sample(r, dys, OpCases.Domain.ANY)));
    Map<String, Tensor> ps = Map.of("w", new Tensor(w.shape(), OpCases.sample(r, w.shape(), OpCases.Domain.ANY)));
    double[] want = Interpreter.run(g, in, ps).outputs().get("dx").data();
    for (Conv2d.Lowering l : Conv2d.Lowering.values()) {
      Graph lowered = new LowerConv(l).apply(g);
      boolean winograd = lowered.nodes().stream().anyMatch(n -> n.op() instanceof dev.nnc.ir.ops.Winograd);
      assertEquals(op.winogradApplies() && l.text().startsWith("winograd"), winograd, l.text() + " of " + c);
      double[] got = Interpreter.run(lowered, in, ps).outputs().get("dx").data();
      for (int i = 0; i < want.length; i++) {
        assertEquals(want[i], got[i], 1e-9, l.text() + " at " + i + " of " + c);
      }
    }
  }

  /**
   * The weight gradient of every ungrouped case, under every lowering (im2col, and Winograd
   * where it applies), equals the interpreter's direct sum.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void everyWeightGradientLoweringComputesIt(Case c) {
    if (c.groups() != 1) {
      return;
    }
    Window win = c.win();
    Shape dys = Shape.of(c.x().dim(0), c.filters(), win.outH(c.x().dim(2)), win.outW(c.x().dim(3)));
    Graph.Builder b = Graph.builder("g");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(c.x()));
    Node dy = b.addTyped(new Input("dy"), List.of(), TensorType.f32(dys));
    dev.nnc.ir.ops.Conv2dGradWeight op = new dev.nnc.ir.ops.Conv2dGradWeight(win);
    b.output("dw", b.add(op, x, dy));
    Graph g = b.build();
    Random r = new Random(c.toString().hashCode() + 2);
    Map<String, Tensor> in = Map.of("x", new Tensor(c.x(), OpCases.sample(r, c.x(), OpCases.Domain.ANY)),
        "dy", new Tensor(dys, OpCases.sample(r, dys, OpCases.Domain.ANY)));
    double[] want = Interpreter.run(g, in, Map.of()).outputs().get("dw").data();
    for (Conv2d.Lowering l : Conv2d.Lowering.values()) {
      Graph lowered = new LowerConv(l).apply(g);
      boolean winograd = lowered.nodes().stream().anyMatch(n -> n.op() instanceof dev.nnc.ir.ops.Winograd);
      assertEquals(op.winogradApplies() && l.text().startsWith("winograd"), winograd, l.text() + " of " + c);
      double[] got = Interpreter.run(lowered, in, Map.of()).outputs().get("dw").data();
      for (int i = 0; i < want.length; i++) {
        assertEquals(want[i], got[i], 1e-9 * Math.max(1, Math.abs(want[i])), l.text() + " at " + i + " of " + c);
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void costModelChoosesAsDocumented(Case c) {
    Graph g = conv(c);
    Node y = g.output("y");
    Conv2d op = (Conv2d) y.op();
    Conv2d.Lowering chosen = LowerConv.choose(op, c.x(), y.input(1).shape());
    Window w = c.win();
    boolean pointwise = w.kh() == 1 && w.kw() == 1 && w.sh() == 1 && w.sw() == 1 && !w.padded();
    boolean winograd = w.kh() == 3 && w.kw() == 3 && w.sh() == 1 && w.sw() == 1 && w.dh() == 1 && w.dw() == 1
        && c.groups() == 1 && c.x().dim(1) >= LowerConv.WINOGRAD_MIN_CHANNELS
        && c.x().dim(0) * ((w.outH(c.x().dim(2)) + 1) / 2) * ((w.outW(c.x().dim(3)) + 1) / 2) >= LowerConv.WINOGRAD_MIN_TILES;
    boolean wide = c.x().dim(1) >= LowerConv.WINOGRAD4_MIN_CHANNELS && c.filters() >= LowerConv.WINOGRAD4_MIN_CHANNELS
        && c.x().dim(0) * ((w.outH(c.x().dim(2)) + 3) / 4) * ((w.outW(c.x().dim(3)) + 3) / 4) >= LowerConv.WINOGRAD_MIN_TILES;
    boolean direct = w.kh() * w.kw() > 1 && c.groups() == 1 && c.x().dim(1) * w.kh() * w.kw() <= LowerConv.DIRECT_TERMS;
    Conv2d.Lowering want = c.x().dim(0) == 1 && pointwise ? Conv2d.Lowering.GEMM_1X1
        : direct ? Conv2d.Lowering.DIRECT
        : winograd && wide ? Conv2d.Lowering.WINOGRAD_4
        : winograd ? Conv2d.Lowering.WINOGRAD_2
        : c.x().dim(0) == 1 ? Conv2d.Lowering.IM2COL_COLUMNS : Conv2d.Lowering.IM2COL_ROWS;
    assertEquals(want, chosen);
    if (!pointwise || c.x().dim(0) != 1) {
      // Asked for a lowering that cannot compute it, the op refuses (the pass never asks).
      assertThrows(IllegalArgumentException.class, () -> op.lower(Conv2d.Lowering.GEMM_1X1, g.toBuilder(),
          y.input(0), y.input(1), y.shape()));
    }
  }
}
