package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.codegen.cuda.CudaBackend;
import dev.nnc.codegen.cuda.CudaCompiled;
import dev.nnc.codegen.cuda.EmulatedCudaBackend;
import dev.nnc.codegen.cuda.Ptxas;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.passes.backend.Backend;
import dev.nnc.passes.backend.NativeCall;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every sample through the CUDA back end: all its programs' kernels (training step, inference,
 * evaluation) as PTX that {@code ptxas} accepts for sm_80 and sm_90; and, for the samples small
 * enough to emulate, one training step of the GPU kernels run on this CPU
 * ({@link EmulatedCudaBackend}) equal to the CPU back end's: the loss, the outputs and every
 * weight after the optimizer's update. (ResNet-18 CIFAR, VGG-16, AlexNet, Darknet-19 and the
 * ImageNet ResNet-18 are only assembled: their kernels are the kinds the smaller networks have,
 * and emulated GEMMs of their sizes take minutes.)
 */
class GpuSamplesTest {
  static final Path SAMPLES = Path.of("..", "samples");

  static Stream<String> samples() throws Exception {
    try (var files = Files.list(SAMPLES)) {
      return files.map(f -> f.getFileName().toString()).filter(f -> f.endsWith(".nn")).sorted().toList().stream();
    }
  }

  @ParameterizedTest
  @MethodSource("samples")
  void everyKernelOfEverySampleAssemblesWithPtxas(String sample) throws Exception {
    Program prog = Program.parse(SourceFile.read(SAMPLES.resolve(sample)));
    Recipe r = Elaborator.recipe(prog, null);
    // The default PTX (sm_80), assembled for sm_80 and for sm_90 as the driver of a newer GPU
    // would; PTX made for sm_90 itself is checked in CudaBackendTest and CudaCliTest.
    ModelCompiler.Result res = ModelCompiler.compile(prog, null, r, 2, new CudaBackend(), CudaBackend.DEFAULT_ARCH);
    String ptx = res.compiled().text();
    for (String arch : new String[] {"sm_80", "sm_90"}) {
      String report = Ptxas.check(ptx, arch);
      CudaCompiled cc = (CudaCompiled) res.compiled();
      List<String> entries = res.compiled().schedules().values().stream().flatMap(List::stream)
          .filter(c -> c.repeat() == null).map(c -> cc.entry(c.symbol())).distinct().toList();
      for (String entry : entries) {
        assertTrue(report.contains("Compiling entry function '" + entry + "'"), sample + " " + arch + ": " + entry
            + " assembled\n" + report);
      }
      assertEquals(cc.entries(), entries.size(), sample);
      assertTrue(!entries.isEmpty(), sample);
      // Every launch fits a multiprocessor (threads, registers, shared memory), else the driver
      // would refuse it on the GPU.
      Map<String, Ptxas.Resources> used = Ptxas.resources(report);
      res.compiled().schedules().values().stream().flatMap(List::stream).filter(c -> c.repeat() == null)
          .forEach(c -> {
            Ptxas.Resources u = used.get(cc.entry(c.symbol()));
            assertTrue(u != null && u.fits(cc.threads(c.symbol())), sample + " " + arch + ": " + c.symbol() + " ("
                + cc.entry(c.symbol()) + ") in blocks of " + cc.threads(c.symbol()) + " threads uses " + u);
          });
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"xor.nn", "mlp.nn", "lenet5.nn", "fashion-cnn-bn.nn", "fashion-resnet.nn", "inception.nn",
      "unet.nn", "char-lstm.nn", "word-language.nn", "word2vec.nn", "bag-classifier.nn"})
  void emulatedTrainingStepEqualsTheCpuBackEnd(String sample) throws Exception {
    Program prog = Program.parse(SourceFile.read(SAMPLES.resolve(sample)));
    Recipe r = plainSgd(Elaborator.recipe(prog, null));
    Map<String, float[]> cpu = step(prog, r, Backend.find("cpu"));
    Map<String, float[]> gpu = step(prog, r, new EmulatedCudaBackend());
    assertClose(sample, cpu, gpu);
  }

  /**
   * {@code given} with plain SGD, lr = 1: a weight's change is its gradient. (Adam's first step is
   * lr·sign(g), which turns the rounding of a gradient near 0 into a change of 2·lr.)
   */
  static Recipe plainSgd(Recipe given) {
    return new Recipe(given.model(), given.data(), given.loss(),
        new dev.nnc.ir.train.OptimizerSpec("sgd", Map.of("lr", 1.0, "momentum", 0.0, "nesterov", 0.0)),
        given.schedule(), given.batch(), given.epochs(), given.metrics(), given.l1(), given.l2(), given.clipValue(),
        given.clipNorm(), given.shuffle(), given.validationSplit(), given.earlyStopping(), given.seed(), given.freeze(),
        given.augment());
  }

  /** The same tensors, each element within 1e-4 of its tensor's largest magnitude (or of 1). */
  static void assertClose(String sample, Map<String, float[]> cpu, Map<String, float[]> gpu) {
    assertEquals(cpu.keySet(), gpu.keySet());
    for (String k : cpu.keySet()) {
      float[] want = cpu.get(k);
      float[] got = gpu.get(k);
      assertEquals(want.length, got.length, sample + ": " + k);
      double scale = 0;
      for (float v : want) {
        scale = Math.max(scale, Math.abs(v));
      }
      for (int i = 0; i < want.length; i++) {
        assertTrue(Math.abs(want[i] - got[i]) <= 1e-4 * Math.max(1, scale),
            sample + ": " + k + "[" + i + "] CPU " + want[i] + ", GPU kernels " + got[i] + " (largest " + scale + ")");
      }
    }
  }

  /** One training step at batch 2 from seeded weights and random inputs: the outputs and the weights after it. */
  private static Map<String, float[]> step(Program prog, Recipe r, Backend backend) throws Exception {
    ModelCompiler.Result res = ModelCompiler.compile(prog, null, r, 2, backend, Backend.NATIVE);
    Map<String, float[]> out = new HashMap<>();
    try (NativeModel m = new NativeModel(res.manifest(), KernelLibrary.ofAddresses(res.compiled().jit()), 2)) {
      m.initParams(7);
      Manifest.Program train = res.manifest().programs().get(ModelCompiler.TRAIN);
      Random rnd = new Random(11);
      for (Manifest.Slot s : train.inputs()) {
        int n = 1;
        for (int d : s.shape()) {
          n *= d;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
          v[i] = !s.integer() ? (float) rnd.nextGaussian()
              : s.min() + rnd.nextInt(s.bound() > 0 ? s.bound() - s.min() : 3);
        }
        m.setInput(ModelCompiler.TRAIN, s.name(), v);
      }
      m.run(ModelCompiler.TRAIN);
      for (Manifest.Slot s : train.outputs()) {
        out.put("output " + s.name(), m.output(ModelCompiler.TRAIN, s.name()));
      }
      for (Manifest.ParamSlot p : res.manifest().params()) {
        out.put("weight " + p.name(), m.param(p.name()));
      }
    }
    return out;
  }
}
