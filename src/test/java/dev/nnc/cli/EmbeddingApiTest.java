package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.runtime.DataException;
import dev.nnc.runtime.LoadedModel;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.SafeTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runtime under a generated class ({@link LoadedModel}) on a folder written by
 * {@code nnc compile}: its concurrency contract, and the checks every loader shares (weights,
 * labels, mixed folders, the CPU).
 */
class EmbeddingApiTest {
  @TempDir
  static Path tmp;

  static Path mlp;

  @BeforeAll
  static void compile() {
    mlp = tmp.resolve("mlp");
    CliRunner.Run c = CliRunner.run("compile", CliTest.MLP, "-o", mlp.toString());
    assertEquals(0, c.code(), c.all());
  }

  static float[] images(Random r, int n) {
    float[] x = new float[n * 784];
    for (int i = 0; i < x.length; i++) {
      x[i] = r.nextFloat();
    }
    return x;
  }

  static float[] labels(Random r, int n) {
    float[] y = new float[n];
    for (int i = 0; i < n; i++) {
      y[i] = r.nextInt(10);
    }
    return y;
  }

  /** Eight threads predicting at once get exactly the single-threaded answers. */
  @Test
  void concurrentPredictionsEqualSequentialOnes() throws Exception {
    Random r = new Random(7);
    List<float[]> inputs = new ArrayList<>();
    for (int i = 0; i < 24; i++) {
      inputs.add(images(r, 1 + r.nextInt(150)));
    }
    List<float[]> want = new ArrayList<>();
    try (LoadedModel m = LoadedModel.load(mlp, 1, 1)) {
      for (float[] x : inputs) {
        want.add(m.predict(x));
      }
    }
    try (LoadedModel m = LoadedModel.load(mlp, 2, 8)) {
      ExecutorService pool = Executors.newFixedThreadPool(8);
      CountDownLatch start = new CountDownLatch(1);
      List<Future<Integer>> done = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        int seed = t;
        done.add(pool.submit(() -> {
          start.await();
          Random order = new Random(seed);
          for (int rep = 0; rep < 30; rep++) {
            int i = order.nextInt(inputs.size());
            assertArrayEquals(want.get(i), m.predict(inputs.get(i)), "input " + i + " on thread " + seed);
          }
          return seed;
        }));
      }
      start.countDown();
      for (Future<Integer> f : done) {
        f.get(120, TimeUnit.SECONDS);
      }
      pool.shutdown();
      assertTrue(m.contexts() > 1, "concurrent callers ran on more than one arena: " + m.contexts());
      assertTrue(m.contexts() <= 8, "at most the configured number of arenas: " + m.contexts());
    }
  }

  /**
   * Training steps on one thread while another predicts: every prediction equals the
   * sequential one after some number of steps (never half-updated weights), and the final
   * weights equal a run without the predictions.
   */
  @Test
  void trainStepsAndPredictionsInterleaved() throws Exception {
    Random r = new Random(11);
    int steps = 12;
    List<float[]> xs = new ArrayList<>();
    List<float[]> ys = new ArrayList<>();
    for (int s = 0; s < steps; s++) {
      xs.add(images(r, 64));
      ys.add(labels(r, 64));
    }
    float[] probe = images(r, 70);
    List<float[]> afterStep = new ArrayList<>();
    Map<String, SafeTensors.Entry> wantWeights;
    try (LoadedModel m = LoadedModel.load(mlp, 2, 1)) {
      afterStep.add(m.predict(probe));
      for (int s = 0; s < steps; s++) {
        m.trainStep(xs.get(s), ys.get(s));
        afterStep.add(m.predict(probe));
      }
      wantWeights = m.weights();
    }
    try (LoadedModel m = LoadedModel.load(mlp, 2, 4)) {
      AtomicBoolean training = new AtomicBoolean(true);
      ExecutorService pool = Executors.newFixedThreadPool(3);
      List<Future<Integer>> predictors = new ArrayList<>();
      for (int t = 0; t < 2; t++) {
        predictors.add(pool.submit(() -> {
          int seen = 0;
          while (training.get() || seen == 0) {
            float[] got = m.predict(probe);
            boolean matches = afterStep.stream().anyMatch(w -> java.util.Arrays.equals(w, got));
            assertTrue(matches, "a prediction matched no state of the weights between steps");
            seen++;
          }
          return seen;
        }));
      }
      Future<?> trainer = pool.submit(() -> {
        for (int s = 0; s < steps; s++) {
          m.trainStep(xs.get(s), ys.get(s));
        }
        training.set(false);
        return null;
      });
      trainer.get(120, TimeUnit.SECONDS);
      for (Future<Integer> f : predictors) {
        assertTrue(f.get(120, TimeUnit.SECONDS) > 0);
      }
      pool.shutdown();
      Map<String, SafeTensors.Entry> got = m.weights();
      for (String name : wantWeights.keySet()) {
        assertArrayEquals(wantWeights.get(name).data(), got.get(name).data(), name);
      }
      assertArrayEquals(afterStep.get(steps), m.predict(probe));
    }
  }

  @Test
  void labelsOutsideTheClassesAreRejectedAndChangeNothing() throws Exception {
    Random r = new Random(3);
    try (LoadedModel m = LoadedModel.load(mlp, 1, 1)) {
      float[] x = images(r, 64);
      float[] before = m.predict(x);
      float[] y = labels(r, 64);
      y[17] = 12;
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.trainStep(x, y));
      assertEquals("label[17] = 12 is not a class index in [0, 10)", e.getMessage());
      y[17] = -1;
      e = assertThrows(IllegalArgumentException.class, () -> m.trainStep(x, y));
      assertEquals("label[17] = -1 is not a class index in [0, 10)", e.getMessage());
      y[17] = 2.5f;
      e = assertThrows(IllegalArgumentException.class, () -> m.trainStep(x, y));
      assertEquals("label[17] = 2.5 is not a class index in [0, 10)", e.getMessage());
      assertArrayEquals(before, m.predict(x), "rejected steps left the weights alone");
      y[17] = 9;
      assertTrue(Float.isFinite(m.trainStep(x, y)));
      assertFalse(java.util.Arrays.equals(before, m.predict(x)), "an accepted step trains");
    }
  }

  /** Copies the compiled folder so that a test can damage it. */
  private static Path copy(String name) throws Exception {
    Path d = tmp.resolve(name);
    Files.createDirectories(d);
    try (var s = Files.list(mlp)) {
      for (Path f : s.filter(Files::isRegularFile).toList()) {
        Files.copy(f, d.resolve(f.getFileName()));
      }
    }
    return d;
  }

  @Test
  void weightsAreCheckedAsTheCliChecksThem() throws Exception {
    Map<String, SafeTensors.Entry> w = SafeTensors.read(mlp.resolve(LoadedModel.WEIGHTS));
    Path missing = copy("missing");
    Map<String, SafeTensors.Entry> less = new LinkedHashMap<>(w);
    less.remove("dense2.bias");
    SafeTensors.write(missing.resolve(LoadedModel.WEIGHTS), less, Map.of());
    DataException e = assertThrows(DataException.class, () -> LoadedModel.load(missing, 1, 1));
    assertTrue(e.getMessage().contains("has no tensor 'dense2.bias'"), e.getMessage());

    Path transposed = copy("transposed");
    Map<String, SafeTensors.Entry> t = new LinkedHashMap<>(w);
    t.put("dense1.weight", new SafeTensors.Entry(new int[] {784, 256}, w.get("dense1.weight").data()));
    SafeTensors.write(transposed.resolve(LoadedModel.WEIGHTS), t, Map.of());
    e = assertThrows(DataException.class, () -> LoadedModel.load(transposed, 1, 1));
    assertTrue(e.getMessage().contains("tensor 'dense1.weight' has shape [784, 256], model Mlp needs [256, 784]"),
        e.getMessage());
    // The CLI says the same about the same file.
    CliRunner.Run c = CliRunner.run("eval", CliTest.MLP, "--weights", transposed.resolve(LoadedModel.WEIGHTS).toString());
    assertEquals(1, c.code(), c.all());
    assertTrue(c.err().contains("tensor 'dense1.weight' has shape [784, 256], model Mlp needs [256, 784]"), c.err());
  }

  @Test
  void aFolderMixingTwoCompilesIsRefused() throws Exception {
    Path other = tmp.resolve("other");
    CliRunner.Run c = CliRunner.run("compile", CliTest.MLP, "-o", other.toString(), "--batch", "32");
    assertEquals(0, c.code(), c.all());
    Path mixed = copy("mixed");
    Files.copy(other.resolve("libmlp.so"), mixed.resolve("libmlp.so"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    DataException e = assertThrows(DataException.class, () -> LoadedModel.load(mixed, 1, 1));
    assertTrue(e.getMessage().contains("mixes files of different `nnc compile` runs"), e.getMessage());
  }

  @Test
  void codeForACpuThisMachineLacksIsRefused() throws Exception {
    Manifest m = Manifest.read(mlp.resolve(Manifest.FILE));
    // A typical AVX2 build server against a library that needs AVX-512.
    Manifest v4 = m.withTarget(new Manifest.Target(m.target().triple(), "x86-64-v4",
        List.of("avx", "avx2", "fma", "avx512f", "avx512bw")));
    DataException e = assertThrows(DataException.class,
        () -> v4.checkCpu(Set.of("sse4_2", "avx", "avx2", "fma"), "manifest.json"));
    assertEquals("manifest.json: the model was compiled for CPU x86-64-v4 and uses avx512f, avx512bw, which this "
        + "machine's CPU does not have; compile it for a portable level (`nnc compile --cpu x86-64-v3`, or `--cpu "
        + "x86-64-v2`) or on the machine that runs it", e.getMessage());
    v4.checkCpu(Set.of("avx", "avx2", "fma", "avx512f", "avx512bw"), "manifest.json");

    // Through load: a manifest that asks for an extension this machine does not have.
    String absent = dev.nnc.runtime.CpuFeatures.CPUINFO.entrySet().stream()
        .filter(f -> !dev.nnc.runtime.CpuFeatures.hostFlags().contains(f.getValue())).findFirst().orElseThrow().getKey();
    Path dir = copy("foreign-cpu");
    List<String> features = new ArrayList<>(m.target().features());
    features.add(absent);
    m.withTarget(new Manifest.Target(m.target().triple(), m.target().cpu(), features)).write(dir.resolve(Manifest.FILE));
    e = assertThrows(DataException.class, () -> LoadedModel.load(dir, 1, 1));
    assertTrue(e.getMessage().contains("uses " + absent + ", which this machine's CPU does not have"), e.getMessage());
  }

  /** A portable library holds no AVX-512 instruction (no zmm or mask register, no EVEX-only ymm16+). */
  @Test
  void portableLibraryHasNoAvx512() throws Exception {
    Path v3 = tmp.resolve("v3");
    CliRunner.Run c = CliRunner.run("compile", CliTest.MLP, "-o", v3.toString(), "--cpu", "x86-64-v3");
    assertEquals(0, c.code(), c.all());
    String asm = objdump(v3.resolve("libmlp.so"));
    assertTrue(asm.contains("vfmadd"), "the v3 library uses FMA");
    java.util.regex.Matcher avx512 = java.util.regex.Pattern.compile("%zmm|%k[0-7]\\b|%[xy]mm(1[6-9]|2[0-9]|3[01])\\b")
        .matcher(asm);
    assertFalse(avx512.find(), () -> "AVX-512 register in an x86-64-v3 library: " + avx512.group());
    Manifest m = Manifest.read(v3.resolve(Manifest.FILE));
    assertEquals("x86-64-v3", m.target().cpu());
    assertFalse(m.target().features().contains("avx512f"));
    try (LoadedModel lm = LoadedModel.load(v3, 1, 1)) {
      assertEquals(70 * 10, lm.predict(images(new Random(1), 70)).length);
    }
    if (dev.nnc.runtime.CpuFeatures.hostFlags().contains("avx512f")) {
      // The check can fail: the native library of an AVX-512 host does use zmm registers.
      assertTrue(objdump(mlp.resolve("libmlp.so")).contains("%zmm"));
    }
  }

  private static String objdump(Path lib) throws Exception {
    Process p = new ProcessBuilder("objdump", "-d", "--no-show-raw-insn", lib.toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out);
    return out;
  }
}
