package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.SafeTensors;
import dev.nnc.runtime.data.Idx;
import java.io.DataInputStream;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ahead of time: {@code nnc compile --java} writes a shared library, weights, manifest and a
 * typed class; {@code samples/embed} is compiled against the class and run in a fresh JVM (no
 * LLVM on its class path), and its outputs equal the JIT path's on the same inputs.
 */
class AotTest {
  @TempDir
  Path tmp;

  @Test
  void generatedClassMatchesJit() throws Exception {
    Path out = tmp.resolve("mlp");
    CliRunner.Run c = CliRunner.run("compile", "../samples/mlp.nn", "-o", out.toString(), "--java", "org.example.Mlp");
    assertEquals(0, c.code(), c.all());
    for (String f : List.of("libmlp.so", "weights.safetensors", "manifest.json", "java/org/example/Mlp.java")) {
      assertTrue(Files.isRegularFile(out.resolve(f)), f);
    }
    Path images = Path.of("../samples/data/fashion-mnist/t10k-images-idx3-ubyte.gz");
    Path labels = Path.of("../samples/data/fashion-mnist/t10k-labels-idx1-ubyte.gz");
    int n = 150; // more than two batches of 64: exercises splitting and padding
    Path dump = tmp.resolve("logits.bin");
    // The generated class and the embedding program, compiled against the runtime only.
    String log = compileAndRun(tmp, List.of(out.resolve("java/org/example/Mlp.java"),
        Path.of("../samples/embed/src/org/example/EmbedDemo.java")), "org.example.EmbedDemo", out.toString(),
        images.toString(), labels.toString(), String.valueOf(n), "--dump", dump.toString());
    assertTrue(log.contains("classified 150 images"), log);
    assertTrue(log.contains("one training step: loss"), log);

    float[] aot = readFloats(dump, n * 10);
    // The JIT path: same model, same weights, same images.
    assertEqualsJit(out, images, aot, n, 1e-5f, "AOT");
  }

  /** The first {@code count} big-endian floats of {@code file} (the demo's --dump). */
  static float[] readFloats(Path file, int count) throws Exception {
    float[] v = new float[count];
    try (DataInputStream in = new DataInputStream(Files.newInputStream(file))) {
      for (int i = 0; i < count; i++) {
        v[i] = in.readFloat();
      }
    }
    return v;
  }

  /** {@code got} (n × 10 logits) equal, within {@code tolerance}, to the CPU JIT's logits for the MLP with {@code dir}'s weights. */
  static void assertEqualsJit(Path dir, Path images, float[] got, int n, float tolerance, String what) throws Exception {
    Program prog = Program.parse(SourceFile.read(Path.of("../samples/mlp.nn")));
    Recipe r = Elaborator.recipe(prog, null);
    ModelCompiler.Result res = ModelCompiler.compile(prog, null, r, r.batch(), Backend.find("cpu"));
    Idx.Array img = Idx.read(images);
    try (NativeModel m = new NativeModel(res.manifest(), KernelLibrary.ofAddresses(res.compiled().jit()), 2)) {
      SafeTensors.read(dir.resolve("weights.safetensors")).forEach((k, v) -> m.setParam(k, v.data()));
      int batch = res.manifest().batch();
      for (int start = 0; start < n; start += batch) {
        float[] x = new float[batch * 784];
        for (int i = 0; i < Math.min(batch, n - start) * 784; i++) {
          x[i] = img.values()[start * 784 + i] / 255f;
        }
        m.setInput(ModelCompiler.PREDICT, "image", x);
        m.run(ModelCompiler.PREDICT);
        float[] logits = m.output(ModelCompiler.PREDICT, "logits");
        for (int i = 0; i < Math.min(batch, n - start) * 10; i++) {
          float want = logits[i];
          float v = got[start * 10 + i];
          assertTrue(Math.abs(want - v) <= tolerance * Math.max(1, Math.abs(want)),
              "logit " + (start * 10 + i) + ": JIT " + want + ", " + what + " " + v);
        }
      }
    }
  }

  /**
   * The same embedding program on the class generated for a GPU ({@code --target cuda}): run in a
   * fresh JVM with the runtime alone, on the stand-in CUDA driver (its kernels the emulated back
   * end's driver entries of the same model), its logits equal the CPU's JIT path's.
   */
  @Test
  void generatedClassRunsThePtxThroughTheCudaDriver() throws Exception {
    Path out = tmp.resolve("mlp-gpu");
    CliRunner.Run c = CliRunner.run("compile", "../samples/mlp.nn", "--target", "cuda", "-o", out.toString(), "--java",
        "org.example.Mlp");
    assertEquals(0, c.code(), c.all());
    String source = Files.readString(out.resolve("java/org/example/Mlp.java"));
    assertTrue(source.contains("The folder holds PTX for sm_80"), "the class says it runs on a GPU");
    Program prog = Program.parse(SourceFile.read(Path.of("../samples/mlp.nn")));
    Recipe r = Elaborator.recipe(prog, null);
    Path kernels = tmp.resolve("mlp-kernels.so");
    ModelCompiler.compile(prog, null, r, r.batch(), new dev.nnc.codegen.cuda.EmulatedCudaBackend(true), "sm_80")
        .compiled().writeLibrary(kernels);
    Path images = Path.of("../samples/data/fashion-mnist/t10k-images-idx3-ubyte.gz");
    Path labels = Path.of("../samples/data/fashion-mnist/t10k-labels-idx1-ubyte.gz");
    int n = 150;
    Path dump = tmp.resolve("gpu-logits.bin");
    String log = compileAndRun(tmp, Map.of("NNC_CUDA_DRIVER", dev.nnc.runtime.cuda.FakeCuda.library().toString(),
        "NNC_FAKE_CUDA_KERNELS", kernels.toString()), List.of(out.resolve("java/org/example/Mlp.java"),
        Path.of("../samples/embed/src/org/example/EmbedDemo.java")), "org.example.EmbedDemo", out.toString(),
        images.toString(), labels.toString(), String.valueOf(n), "--dump", dump.toString());
    assertTrue(log.contains("classified 150 images"), log);
    assertTrue(log.contains("one training step: loss"), log);
    float[] gpu = readFloats(dump, n * 10);
    assertEqualsJit(out, images, gpu, n, 1e-4f, "GPU");
  }

  @Test
  void libraryAndManifestFromDifferentBuildsAreRefused() throws Exception {
    Path out = tmp.resolve("xor");
    CliRunner.Run c = CliRunner.run("compile", "../samples/xor.nn", "-o", out.toString());
    assertEquals(0, c.code(), c.all());
    dev.nnc.runtime.Manifest m = dev.nnc.runtime.Manifest.read(out.resolve("manifest.json"));
    dev.nnc.runtime.Manifest other = new dev.nnc.runtime.Manifest(m.model(), m.formatVersion(), m.batch(),
        m.arenaFloats() + 16, m.params(), m.programs(), m.info());
    KernelLibrary lib = KernelLibrary.open(out.resolve("libxor.so"));
    IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
        () -> new NativeModel(other, lib, 1));
    assertTrue(e.getMessage().contains("from different builds"), e.getMessage());
    try (NativeModel ok = new NativeModel(m, lib, 1)) {
      ok.initParams(1);
      ok.run(ModelCompiler.PREDICT);
    }
  }

  /**
   * Compiles {@code sources} (a generated class and a program using it) against the runtime alone
   * into {@code tmp/classes}, runs {@code main} with {@code args} in a new JVM, and returns its
   * output after requiring that both succeeded.
   */
  static String compileAndRun(Path tmp, List<Path> sources, String main, String... args) throws Exception {
    return compileAndRun(tmp, Map.of(), sources, main, args);
  }

  /** As above, the program's environment with {@code env} added. */
  static String compileAndRun(Path tmp, Map<String, String> env, List<Path> sources, String main, String... args)
      throws Exception {
    String cp = runtimeClassPath();
    Path classes = tmp.resolve("classes");
    List<String> javacArgs = new ArrayList<>(List.of("-d", classes.toString(), "-cp", cp));
    sources.forEach(f -> javacArgs.add(f.toString()));
    int rc = ToolProvider.getSystemJavaCompiler().run(null, null, null, javacArgs.toArray(String[]::new));
    assertEquals(0, rc, "javac of " + sources);
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "-cp", classes + File.pathSeparator + cp, main));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().putAll(env);
    Process p = pb.start();
    String log = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), main + " did not finish:\n" + log);
    assertEquals(0, p.exitValue(), log);
    return log;
  }

  /** The runtime module and its dependencies, without the compiler or LLVM. */
  static String runtimeClassPath() {
    List<String> keep = new ArrayList<>();
    for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
      String f = e.replace('\\', '/');
      if (f.contains("/runtime/target/") || f.contains("nnc-runtime") || f.contains("jackson")) {
        keep.add(e);
      }
    }
    return String.join(File.pathSeparator, keep);
  }
}
