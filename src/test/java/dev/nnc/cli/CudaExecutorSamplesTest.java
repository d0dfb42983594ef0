package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.codegen.cuda.CudaBackend;
import dev.nnc.codegen.cuda.CudaCompiled;
import dev.nnc.codegen.cuda.EmulatedCudaBackend;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.cuda.CudaDriver;
import dev.nnc.runtime.cuda.CudaExecutor;
import dev.nnc.runtime.cuda.FakeCuda;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Samples trained through the GPU runtime ({@link CudaExecutor}): the model's PTX and launch table
 * as {@code --device cuda} makes them, run by the stand-in CUDA driver on the same GPU kernels
 * compiled for this CPU with driver entries ({@link EmulatedCudaBackend}). Three training steps
 * (plain SGD, lr = 1, as in GpuSamplesTest), new inputs each step, then inference: every output
 * and weight equal to those of the same kernels, compiled with their offsets built in, run by the
 * CPU runtime (within 1e-4 of the largest value: the two builds vectorise, and so round,
 * differently); so the executor's copies, launch geometry, arguments and loop counters are those
 * the kernels need. The stand-in fills device memory with NaN, so a range never copied in shows.
 */
class CudaExecutorSamplesTest {
  @TempDir
  Path tmp;

  @ParameterizedTest
  @ValueSource(strings = {"mlp.nn", "lenet5.nn", "fashion-cnn-bn.nn", "char-lstm.nn", "word-language.nn"})
  void trainingOnTheGpuRuntimeEqualsTheSameKernelsOnTheCpuRuntime(String sample) throws Exception {
    Program prog = Program.parse(SourceFile.read(GpuSamplesTest.SAMPLES.resolve(sample)));
    Recipe r = GpuSamplesTest.plainSgd(Elaborator.recipe(prog, null));
    ModelCompiler.Result ptx = ModelCompiler.compile(prog, null, r, 2, new CudaBackend(), CudaBackend.DEFAULT_ARCH);
    ModelCompiler.Result driverEntries = ModelCompiler.compile(prog, null, r, 2, new EmulatedCudaBackend(true),
        CudaBackend.DEFAULT_ARCH);
    Path kernels = tmp.resolve("kernels.so");
    driverEntries.compiled().writeLibrary(kernels);
    FakeCuda.useKernels(kernels);
    ModelCompiler.Result host = ModelCompiler.compile(prog, null, r, 2, new EmulatedCudaBackend(), Backend.NATIVE);
    assertEquals(host.manifest().arenaFloats(), ptx.manifest().arenaFloats(), "one memory plan");

    CudaDriver driver = FakeCuda.driver();
    CudaDriver.Device gpu = driver.gpus().get(0);
    long launches = FakeCuda.stat("launches");
    Map<String, float[]> onGpu;
    long calls;
    try (NativeModel m = new NativeModel(ptx.manifest(),
        mem -> new CudaExecutor(driver, gpu, DeviceOption.module((CudaCompiled) ptx.compiled()), mem, ptx.manifest()))) {
      assertTrue(m.where().startsWith("GPU 0, nnc stand-in GPU 0 (sm_80"), m.where());
      onGpu = steps(m, ptx.manifest());
      // Training leaves the derived tensors stale; inference runs the prepare program first.
      calls = launches(ptx.manifest(), ModelCompiler.TRAIN) * 3 + launches(ptx.manifest(), NativeModel.PREPARE)
          + launches(ptx.manifest(), ModelCompiler.PREDICT);
    }
    assertEquals(calls, FakeCuda.stat("launches") - launches, "every call one launch");
    assertEquals(0, FakeCuda.stat("live"), "the arena freed");
    Map<String, float[]> onCpu;
    try (NativeModel m = new NativeModel(host.manifest(), KernelLibrary.ofAddresses(host.compiled().jit()), 1)) {
      onCpu = steps(m, host.manifest());
    }
    GpuSamplesTest.assertClose(sample, onCpu, onGpu);
  }

  /** Launches one run of {@code program} makes (a loop's body once per step). */
  static long launches(Manifest m, String program) {
    Manifest.Program p = m.programs().get(program);
    if (p == null) {
      return 0;
    }
    long n = 0;
    for (int i = 0; i < p.calls().size(); i++) {
      Manifest.Call c = p.calls().get(i);
      if (c.repeat() != null) {
        n += c.repeat().steps() * c.repeat().calls();
        i += c.repeat().calls();
      } else {
        n++;
      }
    }
    return n;
  }

  /** Three training steps on seeded inputs, then inference: each step's outputs, inference's, and the weights. */
  static Map<String, float[]> steps(NativeModel m, Manifest manifest) {
    Map<String, float[]> out = new LinkedHashMap<>();
    m.initParams(7);
    Random rnd = new Random(11);
    for (int step = 0; step < 3; step++) {
      feed(m, manifest, ModelCompiler.TRAIN, rnd);
      m.run(ModelCompiler.TRAIN);
      for (Manifest.Slot s : manifest.program(ModelCompiler.TRAIN).outputs()) {
        out.put("step " + step + " " + s.name(), m.output(ModelCompiler.TRAIN, s.name()));
      }
    }
    feed(m, manifest, ModelCompiler.PREDICT, rnd);
    m.run(ModelCompiler.PREDICT);
    for (Manifest.Slot s : manifest.program(ModelCompiler.PREDICT).outputs()) {
      out.put("predict " + s.name(), m.output(ModelCompiler.PREDICT, s.name()));
    }
    for (Manifest.ParamSlot p : manifest.params()) {
      out.put("weight " + p.name(), m.param(p.name()));
    }
    return out;
  }

  private static void feed(NativeModel m, Manifest manifest, String program, Random rnd) {
    for (Manifest.Slot s : manifest.program(program).inputs()) {
      float[] v = new float[(int) s.size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = !s.integer() ? (float) rnd.nextGaussian() : s.min() + rnd.nextInt(s.bound() > 0 ? s.bound() - s.min() : 3);
      }
      m.setInput(program, s.name(), v);
    }
  }
}
