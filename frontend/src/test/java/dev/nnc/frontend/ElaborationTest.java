package dev.nnc.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Shape;
import java.util.List;
import org.junit.jupiter.api.Test;

class ElaborationTest {
  static Elaborated build(String text, int batch) throws CompileException {
    Program p = Program.parse(SourceFile.of("t.nn", text));
    return Elaborator.elaborate(p, null, batch, LayerContext.Mode.INFER, null);
  }

  @Test
  void blocksRepeatAndNaming() throws Exception {
    Elaborated e = build("""
        block residual(units, rate=0.1) (x) {
          y = x -> dense(units) -> relu -> dropout(rate) -> dense(units)
          return relu(y + x)
        }
        model Deep {
          input x: [32]
          h = x -> repeat 3 { residual(32) }
          output y = h -> dense(1, name=head) -> sigmoid
        }
        """, 5);
    List<String> paths = e.layers().stream().map(Elaborated.LayerInfo::path).toList();
    assertTrue(paths.contains("residual1.dense1"), paths.toString());
    assertTrue(paths.contains("residual3.dense2"), paths.toString());
    assertTrue(paths.contains("head"), paths.toString());
    assertEquals(Shape.of(5, 1), e.outputs().get("y").shape());
    // 3 blocks × 2 dense(32→32) + head(32→1)
    long params = e.layers().stream().mapToLong(Elaborated.LayerInfo::paramCount).sum();
    assertEquals(3 * 2 * (32 * 32 + 32) + 33, params);
  }

  /**
   * Recurrent layers count parameters as PyTorch does (two biases per gate) and, with
   * {@code biases=1}, as Keras does (one: LSTM and simple RNN; a GRU keeps two, Keras'
   * reset_after=True); stacked and bidirectional layers get PyTorch's names.
   */
  @Test
  void recurrentParameterCountsAndNames() throws Exception {
    long[][] counts = {
        // layer, PyTorch count, Keras count (input features 3, units 8)
        {4 * (8 * 3 + 8 * 8 + 2 * 8), 4 * (8 * 3 + 8 * 8 + 8)},
        {3 * (8 * 3 + 8 * 8 + 2 * 8), 3 * (8 * 3 + 8 * 8 + 2 * 8)},
        {8 * 3 + 8 * 8 + 2 * 8, 8 * 3 + 8 * 8 + 8}};
    String[] kinds = {"lstm", "gru", "simple_rnn"};
    for (int k = 0; k < kinds.length; k++) {
      for (int biases = 2; biases >= 1; biases--) {
        Elaborated e = build("model R {\n  input x: [5, 3]\n  output y = x -> " + kinds[k] + "(8, biases=" + biases
            + ")\n}\n", 2);
        assertEquals(counts[k][2 - biases], e.layers().get(0).paramCount(), kinds[k] + " biases=" + biases);
      }
    }
    Elaborated two = build("model R {\n  input x: [5, 3]\n  output y = x -> lstm(4, layers=2, bidirectional=true)\n}\n", 2);
    java.util.Set<String> names = new java.util.TreeSet<>();
    two.graph().params().forEach(p -> names.add(((dev.nnc.ir.ops.Param) p.op()).name()));
    java.util.Set<String> want = new java.util.TreeSet<>();
    for (String l : new String[] {"_l0", "_l1"}) {
      for (String d : new String[] {"", "_reverse"}) {
        for (String w : new String[] {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) {
          want.add("lstm1." + w + l + d);
        }
      }
    }
    assertEquals(want, names);
    assertEquals(dev.nnc.ir.Shape.of(4 * 4, 2 * 4), two.graph().params().stream()
        .filter(p -> ((dev.nnc.ir.ops.Param) p.op()).name().equals("lstm1.weight_ih_l1")).findFirst().orElseThrow()
        .shape(), "the second layer reads both directions of the first");
    assertEquals(dev.nnc.ir.Shape.of(2, 8), two.outputs().get("y").shape(), "both directions' final states");
  }

  @Test
  void severalInputsAndOutputs() throws Exception {
    Elaborated e = build("""
        model Two {
          input a: [3]
          input b: [5]
          ha = a -> dense(4)
          hb = b -> dense(4)
          s = ha + hb
          p = ha * hb
          output s, p
          output q = multiply(s, p) -> tanh
        }
        """, 2);
    assertEquals(List.of("a", "b"), List.copyOf(e.inputs().keySet()));
    assertEquals(List.of("s", "p", "q"), List.copyOf(e.outputs().keySet()));
    assertEquals(Shape.of(2, 4), e.outputs().get("q").shape());
  }

  @Test
  void blockReturningTwoValuesUnpacks() throws Exception {
    Elaborated e = build("""
        block split(n) (x) {
          return x -> dense(n), x -> dense(n) -> relu
        }
        model M {
          input x: [6]
          a, b = split(x, 3)
          output y = a + b
        }
        """, 4);
    assertEquals(Shape.of(4, 3), e.outputs().get("y").shape());
  }

  @Test
  void recipeDefaultsAndOverrides() throws Exception {
    Program p = Program.parse(SourceFile.of("t.nn", """
        model M { input image: [784]  output logits = image -> dense(32) -> dense(10) }
        train M {
          data = fashion_mnist(flatten=true)
          loss = cross_entropy(logits, label)
          optimizer = sgd(lr=0.1, momentum=0.9)
          schedule = step(every=2, gamma=0.5)
          l2 = 1e-4
          clip_norm = 1.0
          early_stopping = early_stopping(monitor=val_loss, patience=2)
          freeze = [dense1]
        }
        """));
    Recipe r = Elaborator.recipe(p, null);
    assertEquals("sgd", r.optimizer().name());
    assertEquals(0.9, r.optimizer().get("momentum"));
    assertEquals(0.0, r.optimizer().get("nesterov"));
    assertEquals(32, r.batch());
    assertEquals("step", r.schedule().kind());
    assertEquals(1e-4, r.l2());
    assertEquals(2, r.earlyStopping().patience());
    assertEquals(List.of("dense1"), r.freeze());
    Elaborated e = Elaborator.elaborate(p, null, 8, LayerContext.Mode.TRAIN, r);
    assertEquals(Shape.of(8), e.lossPerExample().shape());
  }
}
