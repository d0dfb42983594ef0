package dev.nnc.codegen.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Input;
import dev.nnc.runtime.NativeModel;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Kernels flush denormals to zero while they run and leave the caller's floating-point mode as it was. */
class DenormalTest {
  static volatile float sink;

  @Test
  void kernelsFlushDenormalsAndRestoreTheCallersMode() {
    Graph.Builder b = Graph.builder("d");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(Shape.of(4, 16)));
    Node y = b.addTyped(new Input("y"), List.of(), TensorType.f32(Shape.of(4, 16)));
    b.output("p", b.add(new Binary(BinaryFn.MUL), x, y));
    b.output("s", b.add(new Binary(BinaryFn.ADD), x, y));
    float[] xs = new float[64];
    float[] ys = new float[64];
    for (int i = 0; i < 64; i++) {
      xs[i] = Float.MIN_NORMAL;  // 2^-126
      ys[i] = 0.25f;
    }
    xs[1] = Float.MIN_VALUE * 8;  // a denormal input
    ys[1] = 1;
    for (NativeModel m : new NativeModel[] {CpuHarness.compileJit(b.build(), 2), CpuHarness.compileLibrary(b.build(), 2, null)}) {
      try (m) {
        m.setInput("p", "x", xs);
        m.setInput("p", "y", ys);
        m.run("p");
        float[] p = m.output("p", "p");
        float[] s = m.output("p", "s");
        assertEquals(0f, p[0], "2^-126 · 0.25 is denormal: flushed to zero");
        assertEquals(0f, p[1], "a denormal input counts as zero");
        assertEquals(1f, s[1], "and adds nothing");
        assertEquals(Float.MIN_NORMAL + 0.25f, s[0]);
      }
      // Back in Java on this thread, denormals are exact again (IEEE 754, as Java requires).
      float half = Float.MIN_NORMAL;
      sink = half;
      float q = sink * 0.25f;
      assertTrue(q > 0 && q == Float.MIN_NORMAL / 4, "Java arithmetic after a kernel call: " + q);
    }
  }
}
