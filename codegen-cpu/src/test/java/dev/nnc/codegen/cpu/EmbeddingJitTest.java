package dev.nnc.codegen.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Embedding;
import dev.nnc.ir.ops.EmbeddingGrad;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import dev.nnc.runtime.NativeModel;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The generated embedding lookup and its scatter-add gradient equal the interpreter's on random
 * token ids (repeats included: several tokens add onto one row), with an element-wise user of the
 * lookup; and ids past the vocabulary, which the runtime rejects before any kernel runs, still
 * never make a kernel read or write outside its buffers: they select the last row.
 */
class EmbeddingJitTest {
  static Graph graph(int vocab, int dim, Shape ids) {
    Graph.Builder b = Graph.builder("g");
    Node w = b.addTyped(new Input("w"), List.of(), TensorType.f32(Shape.of(vocab, dim)));
    Node t = b.addTyped(new Input("ids"), List.of(), new TensorType(ids, DType.I32));
    Node dy = b.addTyped(new Input("dy"), List.of(), TensorType.f32(Embedding.rows(ids, dim)));
    Node y = b.add(new Embedding(vocab), w, t);
    b.output("y", b.add(new Unary(UnaryFn.TANH, 0), y));
    b.output("dw", b.add(new EmbeddingGrad(vocab), dy, t));
    return b.build();
  }

  static Map<String, float[]> inputs(Random r, int vocab, int dim, Shape ids, boolean pastTheEnd) {
    Map<String, float[]> in = new HashMap<>();
    in.put("w", gaussian(r, vocab * dim));
    float[] t = new float[Math.toIntExact(ids.size())];
    for (int i = 0; i < t.length; i++) {
      t[i] = pastTheEnd && i % 3 == 0 ? vocab + r.nextInt(1000) : r.nextInt(vocab);
    }
    t[t.length - 1] = t[0];
    in.put("ids", t);
    in.put("dy", gaussian(r, t.length * dim));
    return in;
  }

  static float[] gaussian(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  @ParameterizedTest
  @CsvSource({"1,1,1", "7,5,3", "60,16,64;20", "5,33,2;9", "300,128,17"})
  void lookupAndGradientMatchTheInterpreter(int vocab, int dim, String idShape) {
    Shape ids = Shape.parse("[" + idShape.replace(';', ',') + "]");
    Random r = new Random(vocab * 31L + dim);
    ElementwiseJitTest.check(graph(vocab, dim, ids), inputs(r, vocab, dim, ids, false), "embedding " + ids);
  }

  @ParameterizedTest
  @CsvSource({"7,5,12", "60,16,100"})
  void idsPastTheVocabularySelectTheLastRow(int vocab, int dim, int n) {
    Shape ids = Shape.of(n);
    Random r = new Random(n);
    Map<String, float[]> in = inputs(r, vocab, dim, ids, true);
    try (NativeModel m = CpuHarness.compile(graph(vocab, dim, ids), 2)) {
      in.forEach((name, v) -> m.setInput("p", name, v));
      m.run("p");
      float[] y = m.output("p", "y");
      float[] dw = m.output("p", "dw");
      float[] w = in.get("w");
      float[] t = in.get("ids");
      float[] dy = in.get("dy");
      double[] want = new double[vocab * dim];
      for (int i = 0; i < n; i++) {
        int row = (int) Math.min(t[i], vocab - 1);
        for (int d = 0; d < dim; d++) {
          assertEquals(Math.tanh(w[row * dim + d]), y[i * dim + d], 1e-6, "y[" + i + "," + d + "]");
          want[row * dim + d] += dy[i * dim + d];
        }
      }
      for (int i = 0; i < want.length; i++) {
        assertEquals(want[i], dw[i], 1e-5, "dw[" + i + "]");
      }
    }
  }
}
