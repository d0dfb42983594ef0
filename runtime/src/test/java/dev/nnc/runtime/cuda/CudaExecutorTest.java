package dev.nnc.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.ModelTooLargeException;
import dev.nnc.runtime.NativeModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The GPU executor on the stand-in driver with two hand-written kernels ({@code kernels.c}):
 * {@code y = x·w}, then a loop of three steps adding its counter (1, 2, 3) to y. What the driver
 * is asked (copies, launches, contexts) and every refusal with its message.
 */
class CudaExecutorTest {
  static final String PTX = "//\n// hand-written stand-in\n.version 7.8\n.target sm_80\n.address_size 64\n"
      + ".visible .entry g0_scale(\n)\n{\n}\n.visible .entry g1_add(\n)\n{\n}\n";
  static Path kernels;

  @BeforeAll
  static void build() throws Exception {
    kernels = FakeCuda.build("kernels.c", Files.createDirectories(Path.of("target", "fakecuda").toAbsolutePath())
        .resolve("libkernels-" + ProcessHandle.current().pid() + ".so"));
  }

  @AfterEach
  void reset() throws Exception {
    FakeCuda.memory(-1);
    FakeCuda.useKernels(kernels);
  }

  static Manifest manifest(long blocks) {
    Manifest.Program run = new Manifest.Program(List.of(new Manifest.Slot("x", 0, new int[] {8}, "f32")),
        List.of(new Manifest.Slot("y", 8, new int[] {8}, "f32")),
        List.of(new Manifest.Call("k_scale", blocks, 1, null),
            new Manifest.Call("steps", 0, 0, new Manifest.Repeat(24, 3, 1, 1, 1)),
            new Manifest.Call("k_add", 2, 1, null)));
    return new Manifest("toy", Manifest.FORMAT, 8, 32,
        List.of(new Manifest.ParamSlot("w", 16, new int[] {8}, "weight", "ones", 0)), Map.of("run", run), Map.of());
  }

  static CudaModule module(String ptx) {
    return new CudaModule("sm_80", ptx, Map.of("k_scale", new CudaModule.Kernel("g0_scale", 2, 4, new long[] {0, 16, 8}),
        "k_add", new CudaModule.Kernel("g1_add", 2, 4, new long[] {8, 24})));
  }

  static NativeModel open(Manifest m, CudaModule module) throws Exception {
    CudaDriver d = FakeCuda.driver();
    CudaDriver.Device gpu = d.gpus().get(0);
    return new NativeModel(m, mem -> new CudaExecutor(d, gpu, module, mem, m));
  }

  static float[] expected(float[] x, float[] w) {
    float[] y = new float[8];
    for (int i = 0; i < 8; i++) {
      y[i] = x[i] * w[i] + 1 + 2 + 3;
    }
    return y;
  }

  @Test
  void theDriverListsItsGpu() throws Exception {
    List<CudaDriver.Device> gpus = FakeCuda.driver().gpus();
    assertEquals(1, gpus.size());
    assertEquals("sm_80", gpus.get(0).arch());
    assertEquals(1024L << 20, gpus.get(0).memoryBytes());
    assertTrue(gpus.get(0).toString().startsWith("GPU 0, nnc stand-in GPU 0"), gpus.get(0).toString());
    assertEquals("GPU 0, nnc stand-in GPU 0 (sm_80, 1024 MiB)", gpus.get(0).toString());
  }

  @Test
  void aProgramRunsOnTheGpuWithItsCopiesLaunchesAndLoopCounter() throws Exception {
    FakeCuda.useKernels(kernels);
    long launches = FakeCuda.stat("launches");
    long live = FakeCuda.stat("live");
    try (NativeModel m = open(manifest(2), module(PTX))) {
      assertEquals(live + 32 * 4, FakeCuda.stat("live"), "the arena is on the GPU");
      float[] w = {1, 2, 3, 4, 5, 6, 7, 8};
      m.setParam("w", w);
      for (int round = 0; round < 3; round++) {
        float[] x = new float[8];
        for (int i = 0; i < 8; i++) {
          x[i] = round * 10 + i;
        }
        m.setInput("run", "x", x);
        m.run("run");
        assertArrayEquals(expected(x, w), m.output("run", "y"), "round " + round);
      }
      assertEquals(launches + 3 * (1 + 3), FakeCuda.stat("launches"), "one launch per call, the loop's body 3 times");
      assertArrayEquals(w, m.param("w"), "weights read back from the GPU");
      // Another thread: the executor makes the GPU's context current there first.
      float[][] y = new float[1][];
      Thread t = new Thread(() -> {
        m.run("run");
        y[0] = m.output("run", "y");
      });
      t.start();
      t.join();
      assertTrue(y[0] != null && y[0][0] == 20 * 1 + 6, "ran on a second thread");
    }
    assertEquals(live, FakeCuda.stat("live"), "closing frees the arena");
  }

  /** Arenas of one module share its loading (the driver JIT-compiles the PTX once); each has its own memory. */
  @Test
  void arenasOfOneModuleShareItsLoadingAndNotTheirMemory() throws Exception {
    FakeCuda.useKernels(kernels);
    CudaModule mod = module(PTX);
    long loads = FakeCuda.stat("modules");
    float[] w = {1, 2, 3, 4, 5, 6, 7, 8};
    try (NativeModel a = open(manifest(2), mod); NativeModel b = open(manifest(2), mod)) {
      assertEquals(loads + 1, FakeCuda.stat("modules"), "loaded once for both");
      a.setParam("w", w);
      b.setParam("w", new float[8]);
      float[] x = {1, 1, 1, 1, 1, 1, 1, 1};
      a.setInput("run", "x", x);
      b.setInput("run", "x", x);
      a.run("run");
      b.run("run");
      assertArrayEquals(expected(x, w), a.output("run", "y"));
      assertArrayEquals(expected(x, new float[8]), b.output("run", "y"));
    }
    try (NativeModel c = open(manifest(2), mod)) {
      assertEquals(loads + 2, FakeCuda.stat("modules"), "unloaded with its last arena, loaded again");
    }
  }

  @Test
  void aKernelMissingFromThePtxIsNamed() {
    CudaDriver.Failure f = assertThrows(CudaDriver.Failure.class,
        () -> open(manifest(2), module(PTX.replace("g1_add", "g1_other"))).close());
    assertEquals("the CUDA driver failed finding kernel g1_add in the PTX (the launch table and the PTX come from "
        + "different builds: compile the model again): named symbol not found (500)", f.getMessage());
  }

  @Test
  void aLaunchTableFromAnotherBuildIsRefused() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> open(manifest(3), module(PTX)).close());
    assertEquals("kernel k_scale: the launch table says 2 blocks of 4 threads, the manifest 3 blocks; compile the "
        + "model again", e.getMessage());
  }

  @Test
  void ptxTheDriverRefusesCarriesItsLog() throws Exception {
    FakeCuda.useKernels(null);
    CudaDriver.Failure f = assertThrows(CudaDriver.Failure.class, () -> open(manifest(2), module(PTX)).close());
    assertTrue(f.getMessage().startsWith("the CUDA driver failed loading the model's PTX for sm_80 on GPU 0, nnc stand-in "
        + "GPU 0 (sm_80, 1024 MiB): device kernel image is invalid (200)\n"), f.getMessage());
    assertTrue(f.getMessage().endsWith("device kernel image is invalid (200)\nnnc's CUDA stand-in: no emulated "
        + "kernels (NNC_FAKE_CUDA_KERNELS)"), f.getMessage());
    long live = FakeCuda.stat("live");
    assertEquals(0, live, "nothing left allocated after the refusal");
  }

  @Test
  void aModelLargerThanTheGpusFreeMemoryIsRefusedBeforeAllocating() throws Exception {
    FakeCuda.memory(0);
    ModelTooLargeException e = assertThrows(ModelTooLargeException.class, () -> open(manifest(2), module(PTX)).close());
    assertEquals(("model toy needs 128 bytes of GPU memory (weights, optimizer state "
        + "and activations at batch 8) and GPU 0, nnc stand-in GPU 0 (sm_80, 0 MiB) has 0 bytes free; lower the batch "
        + "size (--batch), make the model smaller, or use --device cpu"), e.getMessage());
    assertEquals(0, FakeCuda.stat("live"), "nothing allocated");
  }

  @Test
  void aMissingDriverIsUnavailableWithTheFix() {
    CudaDriver.Unavailable u = assertThrows(CudaDriver.Unavailable.class, () -> CudaDriver.open("/nonexistent/libcuda.so.1"));
    assertEquals("no CUDA driver found (/nonexistent/libcuda.so.1 could not be loaded: there is no NVIDIA driver on this "
        + "machine, or NNC_CUDA_DRIVER names a missing file); use --device cpu", u.getMessage());
  }
}
