package dev.nnc.codegen.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.codegen.cpu.CpuHarness;
import dev.nnc.ir.Graph;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import dev.nnc.passes.backend.NativeCall;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CUDA back end's module: kernels, launch geometry, libdevice, targets, ptxas, and its errors. */
class CudaBackendTest {
  @TempDir
  Path tmp;

  /** {@code y = tanh(x·W + b)} for x [rows, 37], W [37, 19]: a GEMM and an element-wise kernel with a math call. */
  static Graph dense(int rows) {
    Graph.Builder b = Graph.builder("g");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(Shape.of(rows, 37)));
    Node w = b.addTyped(new Param("w", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(Shape.of(37, 19)));
    Node bias = b.addTyped(new Param("bias", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(Shape.of(19)));
    Node mm = b.add(new MatMul(false, false), x, w);
    b.output("y", b.add(new Unary(UnaryFn.TANH, 0), b.add(new Binary(BinaryFn.ADD), mm, bias)));
    return b.build();
  }

  @Test
  void everyKernelIsAnEntryWithItsLaunchAndPtxasAcceptsThem() throws Exception {
    CpuHarness.Built built = CpuHarness.build(dense(1000), new CudaBackend());
    CudaCompiled c = (CudaCompiled) built.compiled();
    String ptx = c.text();
    assertTrue(ptx.contains(".target sm_80"), ptx);
    List<NativeCall> calls = c.schedules().get("p");
    assertFalse(calls.isEmpty());
    for (NativeCall call : calls) {
      assertTrue(ptx.contains(".entry " + c.entry(call.symbol()) + "("), call.symbol() + " in\n" + ptx);
      // 1000 rows × 19 columns of the GEMM, one element per thread, 256 threads a block.
      int threads = c.threads(call.symbol());
      assertTrue(threads >= 1 && threads <= GpuEmitter.BLOCK, call + ": " + threads);
    }
    assertEquals(calls.size(), c.kernels());
    // The GEMM with the bias and tanh as its epilogue, tiled: 1000 × 19 elements of C in 16 × 16
    // tiles, a block of 256 threads each.
    assertEquals(1, calls.size(), calls.toString());
    assertEquals(63 * 2, calls.get(0).extent(), calls.toString());
    assertEquals(GpuEmitter.TILE * GpuEmitter.TILE, c.threads(calls.get(0).symbol()));
    assertTrue(ptx.contains("bar.sync") && ptx.contains(".shared"), ptx);
    // tanh comes from libdevice, inlined: nothing is left to link.
    assertFalse(ptx.contains(".extern .func"), ptx);
    String report = Ptxas.check(ptx, "sm_80");
    for (NativeCall call : calls) {
      assertTrue(report.contains("'" + c.entry(call.symbol()) + "'"), "ptxas compiled " + call.symbol() + ":\n" + report);
    }
  }

  @Test
  void targetsAreSelectable() throws Exception {
    CpuHarness.Built b90 = CpuHarness.buildFor(dense(8), new CudaBackend(), "sm_90");
    assertTrue(b90.compiled().text().contains(".target sm_90"));
    Ptxas.check(b90.compiled().text(), "sm_90");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CpuHarness.buildFor(dense(8), new CudaBackend(), "sm_12"));
    assertTrue(e.getMessage().contains("unknown GPU architecture 'sm_12'") && e.getMessage().contains("sm_80, sm_86"),
        e.getMessage());
  }

  @Test
  void ptxasRefusesBrokenPtxWithItsMessage() {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Ptxas.check(".version 7.8\n.target sm_80\n.address_size 64\n.visible .entry k() { bogus; }\n", "sm_80"));
    assertTrue(e.getMessage().contains("ptxas -arch=sm_80 refused") && e.getMessage().toLowerCase().contains("bogus"),
        e.getMessage());
  }

  @Test
  void missingLibdeviceIsAClearError() {
    String keep = System.getProperty(Libdevice.PROPERTY);
    System.setProperty(Libdevice.PROPERTY, tmp.resolve("nowhere.bc").toString());
    try {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> CpuHarness.build(dense(8), new CudaBackend()));
      assertTrue(e.getMessage().contains("__nv_tanhf") && e.getMessage().contains("CUDA_HOME")
          && e.getMessage().contains("nowhere.bc"), e.getMessage());
    } finally {
      if (keep == null) {
        System.clearProperty(Libdevice.PROPERTY);
      } else {
        System.setProperty(Libdevice.PROPERTY, keep);
      }
    }
  }

  @Test
  void theModuleIsWrittenWholeAndCannotRunInThisProcess() throws Exception {
    CpuHarness.Built b = CpuHarness.build(dense(8), new CudaBackend());
    Path out = tmp.resolve("model.ptx");
    b.compiled().writeLibrary(out);
    assertEquals(b.compiled().text(), Files.readString(out));
    try (var files = Files.list(tmp)) {
      assertEquals(List.of(out), files.toList(), "no temporary file left behind");
    }
    UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> b.compiled().jit());
    assertTrue(e.getMessage().contains("--device cpu"), e.getMessage());
  }
}
