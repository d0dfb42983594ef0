package dev.nnc.bench;

import dev.nnc.cli.ModelCompiler;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import java.util.Random;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/** Shared set-up: compiling .nn text with the JIT, random inputs, libtorch tensors. */
final class Models {
  private Models() {}

  static NativeModel compile(String text, int batch, int threads) throws Exception {
    Program p = Program.parse(SourceFile.of("bench.nn", text));
    Recipe r = Elaborator.recipe(p, null);
    ModelCompiler.Result res = ModelCompiler.compile(p, null, r, batch, Backend.find("cpu"));
    NativeModel m = new NativeModel(res.manifest(), KernelLibrary.ofAddresses(res.compiled().jit()), threads);
    m.initParams(1);
    return m;
  }

  static float[] random(int n, long seed) {
    Random r = new Random(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  /** Fills every input of {@code program} with random data (labels: random classes below {@code classes}). */
  static void randomInputs(NativeModel m, String program, int classes) {
    for (Manifest.Slot s : m.manifest().program(program).inputs()) {
      float[] v = random((int) s.size(), s.name().hashCode());
      if (s.dtype().equals("i32")) {
        for (int i = 0; i < v.length; i++) {
          v[i] = Math.floorMod((int) (v[i] * 1000), classes);
        }
      }
      m.setInput(program, s.name(), v);
    }
  }

  static Tensor tensor(float[] v, long... shape) {
    FloatPointer p = new FloatPointer(v);
    Tensor t = torch.from_blob(p, shape, new TensorOptions(torch.ScalarType.Float)).clone();
    p.close();
    return t;
  }

  /**
   * Runs nnc's predict program on {@code image} and requires its {@code logits} to equal
   * libtorch's {@code forward} (under no-grad) within 1e-3: a benchmark compares the same function
   * or nothing.
   */
  static void requireSameLogits(NativeModel nnc, float[] image, java.util.function.Supplier<Tensor> forward) {
    nnc.setInput(dev.nnc.cli.ModelCompiler.PREDICT, "image", image);
    nnc.run(dev.nnc.cli.ModelCompiler.PREDICT);
    float[] ours = nnc.output(dev.nnc.cli.ModelCompiler.PREDICT, "logits");
    Tensor theirs;
    try (org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
      theirs = forward.get().contiguous().reshape(-1);
    }
    for (int i = 0; i < ours.length; i++) {
      float t = theirs.select(0, i).item_float();
      if (Math.abs(t - ours[i]) > 1e-3f * Math.max(1, Math.abs(t))) {
        throw new IllegalStateException("nnc and libtorch differ at logit " + i + ": " + ours[i] + " vs " + t);
      }
    }
  }
}
