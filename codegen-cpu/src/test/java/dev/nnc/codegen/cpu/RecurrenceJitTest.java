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

  /**
   * Random inputs of {@code g}: lengths in {@code [minLength, steps]}, W_hh of standard deviation
   * {@code whh}, everything else 0.7.
   */
  static Map<String, float[]> inputs(Graph g, Random r, int minLength, int steps, double whh) {
    Map<String, float[]> in = new HashMap<>();
    for (Node n : g.inputs()) {
      String name = ((Input) n.op()).name();
      float[] v = new float[Math.toIntExact(n.shape().size())];
      for (int i = 0; i < v.length; i++) {
        v[i] = name.equals("len") ? minLength + r.nextInt(steps + 1 - minLength)
            : (float) (r.nextGaussian() * (name.equals("whh") ? whh : 0.7));
      }
      in.put(name, v);
    }
    return in;
  }

  @ParameterizedTest
  @CsvSource({"tanh,false,false,3,5,4", "tanh,true,true,17,9,8", "lstm,false,false,2,7,5", "lstm,true,false,33,4,16",
      "lstm,false,true,9,12,12", "lstm,true,true,64,6,32", "gru,false,false,1,8,6", "gru,true,false,5,3,3",
      "gru,false,true,40,10,20", "gru,true,true,8,5,7"})
  void forwardAndBackwardMatchTheInterpreter(String cell, boolean reverse, boolean masked, int batch, int steps,
      int hid) {
    Recurrence op = new Recurrence(Recurrence.Cell.parse(cell), hid, reverse, masked);
    Graph g = graph(op, batch, steps);
    Map<String, float[]> in = inputs(g, new Random(batch * 131L + steps * 7L + hid), 0, steps, 0.7);
    ElementwiseJitTest.check(g, in, op.attributes());

    // One step's kernels, however many steps: a loop in the program, not an unrolled graph.
    KernelProgram kp = LowerToKernels.lower(g, "p");
    List<Kernel.Steps> loops = kp.kernels().stream().filter(k -> k instanceof Kernel.Steps)
        .map(k -> (Kernel.Steps) k).toList();
    assertEquals(2, loops.size(), "a forward and a backward loop");
    for (Kernel.Steps s : loops) {
      assertEquals(steps, s.steps());
      assertEquals(2, s.body().size(), s.name() + ": the GEMM and the cell");
      // The batch's sequences never meet: the loop keeps to its rows (what lets the CPU fuse it).
      // One sequence has one row, and its cell is no parallel loop: nothing to keep to.
      assertEquals(batch > 1 ? null : "its body kernels do not run over the same rows",
          dev.nnc.ir.kernel.StepRows.why(s), s.name());
      assertEquals(batch > 1 ? batch : 0, dev.nnc.ir.kernel.StepRows.rows(s), s.name());
    }
    assertTrue(kp.leaves().size() <= 10, kp.leaves().size() + " kernels");
  }

  /**
   * Loops that keep to their rows, on batches that fill the GEMM's row split (the last block of
   * rows whole and partial), run fused: each loop one kernel over blocks of 8 rows that runs all
   * its steps, with no loop head left in the schedule. Their outputs equal the step-by-step
   * schedule's and the interpreter's, JIT-linked and linked into a shared library (the fused
   * kernels call the GEMMs of other code units).
   */
  @ParameterizedTest
  @CsvSource({"lstm,false,false,64,6,72,2", "lstm,true,true,33,5,68,2", "gru,false,true,40,7,80,2",
      "gru,true,false,16,4,72,2", "tanh,false,false,20,6,72,2", "tanh,true,true,27,9,68,2", "lstm,false,true,24,5,24,1"})
  void loopsThatKeepToTheirRowsRunFused(String cell, boolean reverse, boolean masked, int batch, int steps, int hid,
      int fusedLoops) throws Exception {
    Recurrence op = new Recurrence(Recurrence.Cell.parse(cell), hid, reverse, masked);
    Graph g = graph(op, batch, steps);
    // Weights of 1/√H keep the cells out of saturation, where float32's 1 - tanh² loses digits.
    Map<String, float[]> in = inputs(g, new Random(batch * 31L + steps * 5L + hid), 1, steps, 1 / Math.sqrt(hid));
    CpuHarness.Built fused = CpuHarness.build(g);
    CpuHarness.Built stepwise = CpuHarness.build(g, new CpuBackend().stepByStep());
    List<dev.nnc.passes.backend.NativeCall> calls = fused.compiled().schedules().get("p");
    // A loop whose GEMM is not split by rows stays step by step: the backward dh = dG·W_hh of H
    // columns when H is within one panel of the row tiling, 32 columns with 8 lanes, 64 with 16
    // (Intel's AVX-512 cores); the hidden sizes above are over 64, or under 32 with the forward
    // GEMM's 4H over 64, for either host.
    assertEquals(2 - fusedLoops, calls.stream().filter(c -> c.repeat() != null).count(), "loop heads left: " + calls);
    assertEquals(fusedLoops, calls.stream().filter(c -> c.symbol().endsWith("_steps") && c.repeat() == null
        && c.extent() == (batch + 7) / 8).count(), "a fused kernel per loop, a work item per 8 rows: " + calls);
    assertEquals(2, stepwise.compiled().schedules().get("p").stream().filter(c -> c.repeat() != null).count());

    Map<String, float[]> want = run(stepwise, g, in, null);
    java.nio.file.Path so = java.nio.file.Files.createTempFile("fused", ".so");
    so.toFile().deleteOnExit();
    try {
      for (java.nio.file.Path lib : new java.nio.file.Path[] {null, so}) {
        Map<String, float[]> got = run(fused, g, in, lib);
        for (String out : want.keySet()) {
          float[] w = want.get(out);
          float[] x = got.get(out);
          for (int i = 0; i < w.length; i++) {
            assertTrue(Math.abs(w[i] - x[i]) <= 1e-6 + 1e-5 * Math.abs(w[i]),
                (lib == null ? "JIT " : "library ") + out + "[" + i + "]: step by step " + w[i] + ", fused " + x[i]);
          }
        }
      }
    } finally {
      java.nio.file.Files.deleteIfExists(so);
    }
    ElementwiseJitTest.check(new dev.nnc.runtime.NativeModel(fused.manifest(),
        dev.nnc.runtime.KernelLibrary.ofAddresses(fused.compiled().jit()), 2), g, in, op.attributes());
  }

  /** Runs a built graph's program on two threads (JIT-linked, or from the library {@code so}); its outputs. */
  private static Map<String, float[]> run(CpuHarness.Built b, Graph g, Map<String, float[]> in, java.nio.file.Path so)
      throws java.io.IOException {
    dev.nnc.runtime.KernelLibrary lib;
    if (so == null) {
      lib = dev.nnc.runtime.KernelLibrary.ofAddresses(b.compiled().jit());
    } else {
      b.compiled().writeLibrary(so);
      lib = dev.nnc.runtime.KernelLibrary.open(so);
    }
    Map<String, float[]> out = new HashMap<>();
    try (dev.nnc.runtime.NativeModel m = new dev.nnc.runtime.NativeModel(b.manifest(), lib, 2)) {
      in.forEach((name, v) -> m.setInput("p", name, v));
      m.run("p");
      for (String o : g.outputs().keySet()) {
        out.put(o, m.output("p", o));
      }
    }
    return out;
  }
}
