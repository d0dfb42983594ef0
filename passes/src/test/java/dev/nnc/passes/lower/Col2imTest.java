package dev.nnc.passes.lower;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.kernel.Buffer;
import dev.nnc.ir.kernel.KStmt;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelInterpreter;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.ir.kernel.KernelWalk;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.PatchesGrad;
import dev.nnc.ir.ops.Window;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * col2im summed per pixel ({@code LowerToKernels.patchesGradByPixel}) against the scatter it
 * replaced ({@code -Dnnc.lower.col2im=scatter}): on random windows — kernel sizes, strides,
 * padding, dilation, either layout of the windows' tensor, images whose last rows no window
 * reaches — the kernel interpreter's results are equal, the same terms added in the same order;
 * and the per-pixel nest stores each element once and reads none of them.
 */
class Col2imTest {
  @Test
  void aSumPerPixelEqualsTheScatter() {
    Random r = new Random(11);
    int gathered = 0;
    for (int i = 0; i < 60; i++) {
      int kh = 1 + r.nextInt(4);
      int kw = 1 + r.nextInt(4);
      int sh = 1 + r.nextInt(3);
      int sw = 1 + r.nextInt(3);
      int dh = 1 + r.nextInt(2);
      int dw = 1 + r.nextInt(2);
      int pt = r.nextInt(3);
      int pl = r.nextInt(3);
      int pb = r.nextInt(3);
      int pr = r.nextInt(3);
      int h = (kh - 1) * dh + 1 + r.nextInt(6);
      int w = (kw - 1) * dw + 1 + r.nextInt(6);
      Window win = new Window(kh, kw, sh, sw, pt, pl, pb, pr, dh, dw);
      int oh = (h + pt + pb - (kh - 1) * dh - 1) / sh + 1;
      int ow = (w + pl + pr - (kw - 1) * dw - 1) / sw + 1;
      int n = 1 + r.nextInt(2);
      int c = 1 + r.nextInt(3);
      boolean last = r.nextBoolean();
      Shape ps = last ? Shape.of(n, oh, ow, c, kh, kw) : Shape.of(n, c, oh, ow, kh, kw);
      Graph.Builder b = Graph.builder("g");
      Node d = b.addTyped(new Input("d"), java.util.List.of(), TensorType.f32(ps));
      b.output("y", b.add(new PatchesGrad(win, last, h, w), d));
      Graph g = b.build();
      float[] in = new float[(int) ps.size()];
      for (int j = 0; j < in.length; j++) {
        in[j] = (float) r.nextGaussian();
      }
      String where = win.text() + " on " + h + "×" + w + " windows " + ps;
      KernelProgram byPixel = LowerToKernels.lower(g, "p");
      float[] want;
      System.setProperty("nnc.lower.col2im", "scatter");
      try {
        want = run(LowerToKernels.lower(g, "p"), in);
      } finally {
        System.clearProperty("nnc.lower.col2im");
      }
      float[] got = run(byPixel, in);
      assertEquals(want.length, got.length, where);
      for (int j = 0; j < want.length; j++) {
        assertTrue(want[j] == got[j], where + " at " + j + ": scatter " + want[j] + ", per pixel " + got[j]);
      }
      Kernel.Loops k = (Kernel.Loops) byPixel.kernels().get(0);
      int[] stores = {0};
      int[] reads = {0};
      KernelWalk.forEachStmt(k.root(), s -> {
        if (s instanceof KStmt.Store st) {
          stores[0]++;
          KernelWalk.forEach(st.value(), e -> {
            if (e instanceof dev.nnc.ir.kernel.KExpr.Load ld && ld.buf() == st.buf()) {
              reads[0]++;
            }
          });
        }
      });
      if (stores[0] == sh * sw && reads[0] == 0) {
        gathered++;
      }
    }
    // Exact tilings keep their one store; every other window is summed per pixel.
    assertTrue(gathered >= 50, gathered + " of 60 summed per pixel");
  }

  private static float[] run(KernelProgram kp, float[] in) {
    Map<String, Long> none = Map.of();
    MemoryPlan plan = MemoryPlan.plan(kp, none, 0);
    float[] arena = new float[(int) plan.regionEnd()];
    Buffer d = kp.buffers().get(kp.inputs().get("d"));
    System.arraycopy(in, 0, arena, (int) plan.offset(kp.inputs().get("d")), (int) d.size());
    java.util.Arrays.fill(arena, (int) plan.offset(kp.outputs().get("y").buffer()),
        (int) (plan.offset(kp.outputs().get("y").buffer()) + kp.buffers().get(kp.outputs().get("y").buffer()).size()),
        Float.NaN);
    KernelInterpreter ki = new KernelInterpreter(arena, plan.offsets());
    for (Kernel k : kp.kernels()) {
      ki.run(k);
    }
    int at = (int) plan.offset(kp.outputs().get("y").buffer());
    return java.util.Arrays.copyOfRange(arena, at, at + (int) kp.buffers().get(kp.outputs().get("y").buffer()).size());
  }
}
