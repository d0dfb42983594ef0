package dev.nnc.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.codegen.cpu.CpuBackend;
import dev.nnc.codegen.cpu.CpuHarness;
import dev.nnc.codegen.cuda.CudaBackend;
import dev.nnc.codegen.cuda.EmulatedCudaBackend;
import dev.nnc.codegen.cuda.Ptxas;
import dev.nnc.ir.Tensor;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every op case (forward and gradients, as in the finite-difference check) through the CUDA back
 * end: its PTX accepted by {@code ptxas} for sm_80 and sm_90, and the same GPU kernels run on
 * this CPU by the emulation ({@link EmulatedCudaBackend}: blocks and threads as loops) equal to
 * the CPU back end's results.
 */
class GpuOpsTest {
  static Stream<OpCases.Case> cases() {
    return OpCases.all(17).stream();
  }

  @ParameterizedTest
  @MethodSource("cases")
  void emulatedGpuKernelsEqualTheCpuBackEnd(OpCases.Case c) {
    GradientCheckTest.Setup s = GradientCheckTest.setup(c, 99);
    List<String> outputs = new ArrayList<>(List.of("out", "loss"));
    for (int i = 0; i < s.params().size(); i++) {
      outputs.add("grad" + i);
    }
    Map<String, float[]> cpu = run(new CpuBackend(), s, outputs);
    Map<String, float[]> gpu = run(new EmulatedCudaBackend(), s, outputs);
    for (String o : outputs) {
      float[] want = cpu.get(o);
      float[] got = gpu.get(o);
      assertEquals(want.length, got.length, c + " " + o);
      double scale = 0;
      for (float v : want) {
        scale = Math.max(scale, Math.abs(v));
      }
      for (int j = 0; j < want.length; j++) {
        assertTrue(Math.abs(want[j] - got[j]) <= 1e-5 * Math.max(1, scale),
            c + ": " + o + "[" + j + "] CPU " + want[j] + ", emulated GPU " + got[j]);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("cases")
  void ptxIsAcceptedByPtxas(OpCases.Case c) throws Exception {
    GradientCheckTest.Setup s = GradientCheckTest.setup(c, 99);
    CpuHarness.Built b = CpuHarness.build(Pipeline.canonical().run(s.graph(), null), new CudaBackend());
    String ptx = b.compiled().text();
    assertTrue(ptx.contains(".entry"), c + ": no kernel in\n" + ptx);
    for (String arch : new String[] {"sm_80", "sm_90"}) {
      Ptxas.check(ptx, arch);
    }
  }

  private static Map<String, float[]> run(dev.nnc.passes.backend.Backend backend, GradientCheckTest.Setup s,
      List<String> outputs) {
    CpuHarness.Built b = CpuHarness.build(Pipeline.canonical().run(s.graph(), null), backend);
    try (NativeModel m = new NativeModel(b.manifest(), KernelLibrary.ofAddresses(b.compiled().jit()), 2)) {
      s.values().forEach((name, t) -> m.setParam(name, floats(t)));
      s.inputs().forEach((name, t) -> m.setInput("p", name, floats(t)));
      m.run("p");
      Map<String, float[]> out = new java.util.HashMap<>();
      for (String o : outputs) {
        out.put(o, m.output("p", o));
      }
      return out;
    }
  }

  private static float[] floats(Tensor t) {
    float[] f = new float[t.data().length];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) t.data()[i];
    }
    return f;
  }
}
