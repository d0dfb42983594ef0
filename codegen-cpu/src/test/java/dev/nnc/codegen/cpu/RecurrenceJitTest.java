package dev.nnc.codegen.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Recurrence;
import dev.nnc.ir.ops.RecurrenceGrad;
import dev.nnc.passes.lower.LowerToKernels;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A recurrence and its backpropagation through time compiled to native code equal the
 * interpreter's, for every cell, forwards and reversed, with and without lengths, on batch
 * sizes that do and do not fill the GEMM's blocks (the runtime repeats the loop's calls, writing
 * the step's index before each). The program holds one copy of the step's kernels.
 */
class RecurrenceJitTest {
  static Graph graph(Recurrence op, int batch, int steps) {
    Graph.Builder b = Graph.builder("g");
    int hid = op.hidden();
    int g = op.cell().gates * hid;
    List<Node> in = new ArrayList<>();
    in.add(b.addTyped(new Input("xw"), List.of(), TensorType.f32(Shape.of(batch, steps, g))));
    in.add(b.addTyped(new Input("whh"), List.of(), TensorType.f32(Shape.of(g, hid))));
    in.add(b.addTyped(new Input("bhh"), List.of(), TensorType.f32(Shape.of(g))));
    in.add(b.addTyped(new Input("h0"), List.of(), TensorType.f32(Shape.of(batch, hid))));
    if (op.cell() == Recurrence.Cell.LSTM) {
      in.add(b.addTyped(new Input("c0"), List.of(), TensorType.f32(Shape.of(batch, hid))));
    }
    Node len = null;
    if (op.masked()) {
      len = b.addTyped(new Input("len"), List.of(), new TensorType(Shape.of(batch), DType.I32));
      in.add(len);
    }
    Node trace = b.add(op, in);
    b.output("trace", trace);
    Node dt = b.addTyped(new Input("dstate"), List.of(), TensorType.f32(Shape.of(batch, steps + 1,
        op.cell().stateSlots * hid)));
    List<Node> gin = new ArrayList<>(List.of(trace, in.get(1), dt));
    if (len != null) {
      gin.add(len);
    }
    b.output("grad", b.add(new RecurrenceGrad(op.cell(), hid, op.reverse(), op.masked()), gin));
    return b.build();
  }

  @ParameterizedTest
  @CsvSource({"tanh,false,false,3,5,4", "tanh,true,true,17,9,8", "lstm,false,false,2,7,5", "lstm,true,false,33,4,16",
      "lstm,false,true,9,12,12", "lstm,true,true,64,6,32", "gru,false,false,1,8,6", "gru,true,false,5,3,3",
      "gru,false,true,40,10,20", "gru,true,true,8,5,7"})
  void forwardAndBackwardMatchTheInterpreter(String cell, boolean reverse, boolean masked, int batch, int steps,
      int hid) {
    Recurrence op = new Recurrence(Recurrence.Cell.parse(cell), hid, reverse, masked);
    Graph g = graph(op, batch, steps);
    Random r = new Random(batch * 131L + steps * 7L + hid);
    Map<String, float[]> in = new HashMap<>();
    for (Node n : g.inputs()) {
      String name = ((Input) n.op()).name();
      float[] v = new float[Math.toIntExact(n.shape().size())];
      for (int i = 0; i < v.length; i++) {
        v[i] = name.equals("len") ? r.nextInt(steps + 1) : (float) (r.nextGaussian() * 0.7);
      }
      in.put(name, v);
    }
    ElementwiseJitTest.check(g, in, op.attributes());

    // One step's kernels, however many steps: a loop in the program, not an unrolled graph.
    KernelProgram kp = LowerToKernels.lower(g, "p");
    List<Kernel.Steps> loops = kp.kernels().stream().filter(k -> k instanceof Kernel.Steps)
        .map(k -> (Kernel.Steps) k).toList();
    assertEquals(2, loops.size(), "a forward and a backward loop");
    for (Kernel.Steps s : loops) {
      assertEquals(steps, s.steps());
      assertEquals(2, s.body().size(), s.name() + ": the GEMM and the cell");
    }
    assertTrue(kp.leaves().size() <= 10, kp.leaves().size() + " kernels");
  }
}
