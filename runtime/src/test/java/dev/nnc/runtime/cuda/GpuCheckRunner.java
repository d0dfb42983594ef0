package dev.nnc.runtime.cuda;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.SafeTensors;
import dev.nnc.runtime.Trainer;
import dev.nnc.runtime.data.Dataset;
import dev.nnc.runtime.data.FashionMnist;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The GPU check, run on the machine with the GPU from a bundle that {@code GpuCheckPack} made
 * (docs/gpu-check.md): with the nnc runtime alone (no compiler, no LLVM), on the configured CUDA
 * driver's first GPU.
 *
 * <ol>
 *   <li>Every op case: its GPU folder and its CPU folder (x86-64-v3) from the same values;
 *       outputs and gradients equal within the item's tolerance (of the largest magnitude, or 1).
 *       A TF32 case (its {@code tf32} the bound, its values drawn from its {@code seed}) is held
 *       instead to {@code tf32 × Σ|a·b|} per element plus the tolerance of the largest magnitude,
 *       {@code Σ|a·b|} being the CPU's result on the absolute values.
 *   <li>LeNet-5 trained on the GPU and on this machine's CPU from the same weights on the same
 *       data: test accuracies within the item's tolerance.
 *   <li>Benchmarks: each program's time on the GPU (synchronised), and its GFLOP/s.
 * </ol>
 *
 * Prints a line per item and writes {@code results.json}; the exit status is 1 when an op or the
 * training differs, 2 when the bundle cannot be read or the GPU not used.
 */
public final class GpuCheckRunner {
  private final Path dir;
  private final PrintStream out;
  private final ObjectMapper json = new ObjectMapper();
  private final CudaDriver driver;
  private final CudaDriver.Device gpu;
  private final int threads = Runtime.getRuntime().availableProcessors();

  private GpuCheckRunner(Path dir, PrintStream out) throws CudaDriver.Unavailable {
    this.dir = dir;
    this.out = out;
    this.driver = CudaDriver.open();
    this.gpu = driver.gpus().get(0);
  }

  public static void main(String[] args) {
    if (args.length != 1) {
      System.err.println("usage: GpuCheckRunner BUNDLE");
      System.exit(2);
    }
    System.exit(run(Path.of(args[0]), System.out));
  }

  /** Runs the check of bundle {@code dir}; returns the exit status. */
  public static int run(Path dir, PrintStream out) {
    GpuCheckRunner r;
    try {
      r = new GpuCheckRunner(dir, out);
    } catch (CudaDriver.Unavailable e) {
      out.println("gpu-check: " + e.getMessage().replace("; use --device cpu", ""));
      return 2;
    }
    try {
      return r.all();
    } catch (IOException | RuntimeException e) {
      out.println("gpu-check: " + e.getMessage());
      return 2;
    }
  }

  private int all() throws IOException {
    out.println("gpu-check: " + gpu + " through " + driver.library() + "; CPU reference on " + threads + " threads");
    Map<String, Object> results = new LinkedHashMap<>();
    results.put("device", gpu.toString());
    results.put("arch", gpu.arch());
    int failed = 0;
    List<Map<String, Object>> ops = new ArrayList<>();
    for (Path d : items("ops")) {
      Map<String, Object> r = op(d);
      ops.add(r);
      failed += Boolean.TRUE.equals(r.get("ok")) ? 0 : 1;
    }
    long tf32 = ops.stream().filter(r -> r.containsKey("tf32")).count();
    out.printf(Locale.ROOT, "ops: %d of %d equal to the CPU%s%n", ops.size() - failed, ops.size(),
        tf32 == 0 ? "" : " (" + tf32 + " on the TF32 tensor cores, within TF32's bound)");
    results.put("ops", ops);
    List<Map<String, Object>> trained = new ArrayList<>();
    for (Path d : items("train")) {
      Map<String, Object> r = train(d);
      trained.add(r);
      failed += Boolean.TRUE.equals(r.get("ok")) ? 0 : 1;
    }
    results.put("train", trained);
    List<Map<String, Object>> bench = new ArrayList<>();
    for (Path d : items("bench")) {
      bench.add(bench(d));
    }
    results.put("bench", bench);
    results.put("failed", failed);
    json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("results.json").toFile(), results);
    out.println(failed == 0 ? "gpu-check: passed" : "gpu-check: " + failed + " FAILED");
    return failed == 0 ? 0 : 1;
  }

  private List<Path> items(String kind) throws IOException {
    Path d = dir.resolve(kind);
    if (!Files.isDirectory(d)) {
      return List.of();
    }
    try (var s = Files.list(d)) {
      return s.filter(p -> Files.isRegularFile(p.resolve("item.json"))).sorted().toList();
    }
  }

  private NativeModel onGpu(Path folder) throws IOException {
    Manifest m = Manifest.read(folder.resolve(Manifest.FILE));
    return CudaModels.open(m, folder).apply(1);
  }

  private NativeModel onCpu(Path folder) throws IOException {
    Manifest m = Manifest.read(folder.resolve(Manifest.FILE));
    return new NativeModel(m, m.openLibrary(folder), threads);
  }

  private Map<String, Object> op(Path d) throws IOException {
    JsonNode item = json.readTree(d.resolve("item.json").toFile());
    String program = item.get("program").asText();
    double tolerance = item.get("tolerance").asDouble();
    // TF32 cases: within tf32 × Σ|a·b| of FP32, the sums of magnitudes being the CPU's result on
    // the absolute values (each output a product, or a sum of products with the loss's weights).
    double tf32 = item.has("tf32") ? item.get("tf32").asDouble() : -1;
    Map<String, float[]> want;
    Map<String, float[]> got;
    Map<String, float[]> magnitude = null;
    try (NativeModel cpu = onCpu(d.resolve("cpu")); NativeModel g = onGpu(d.resolve("gpu"))) {
      Map<String, float[]> values = item.has("seed") ? drawn(cpu.manifest(), program, item.get("seed").asLong())
          : packed(d.resolve("values.safetensors"));
      want = outputs(cpu, program, values, item);
      got = outputs(g, program, values, item);
      if (tf32 >= 0) {
        Map<String, float[]> abs = new LinkedHashMap<>();
        values.forEach((k, v) -> {
          float[] a = v.clone();
          for (int i = 0; i < a.length; i++) {
            a[i] = Math.abs(a[i]);
          }
          abs.put(k, a);
        });
        magnitude = outputs(cpu, program, abs, item);
      }
    }
    double worst = 0;
    String where = "";
    for (String k : want.keySet()) {
      float[] a = want.get(k);
      float[] b = got.get(k);
      double scale = 1;
      for (float v : a) {
        scale = Math.max(scale, Math.abs(v));
      }
      for (int i = 0; i < a.length; i++) {
        // FP32 cases: the error relative to the scale; TF32 cases: as a fraction of the bound.
        double e = magnitude == null ? Math.abs(a[i] - b[i]) / scale
            : Math.abs(a[i] - b[i]) / (tolerance * scale + tf32 * Math.abs(magnitude.get(k)[i]));
        if (!(e <= worst)) {
          worst = Double.isNaN(e) ? Double.POSITIVE_INFINITY : e;
          where = k + "[" + i + "]: CPU " + a[i] + ", GPU " + b[i]
              + (magnitude == null ? "" : ", Σ|a·b| " + magnitude.get(k)[i]);
        }
      }
    }
    boolean ok = magnitude == null ? worst <= tolerance : worst <= 1;
    if (!ok && magnitude == null) {
      out.printf(Locale.ROOT, "op %-50s FAILED: error %.2e > %.0e at %s%n", item.get("name").asText(), worst, tolerance,
          where);
    } else if (!ok) {
      out.printf(Locale.ROOT, "op %-50s FAILED: error %.2f times TF32's bound (%s of Σ|a·b| + %.0e of the largest)"
          + " at %s%n", item.get("name").asText(), worst, item.get("tf32").asText(), tolerance, where);
    }
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("name", item.get("name").asText());
    r.put("ok", ok);
    r.put("error", Double.isInfinite(worst) ? "inf" : worst);
    if (magnitude != null) {
      r.put("tf32", true);
    }
    return r;
  }

  /** The values packed with an op case ({@code param/NAME}, {@code input/NAME}). */
  private static Map<String, float[]> packed(Path file) throws IOException {
    Map<String, float[]> v = new LinkedHashMap<>();
    SafeTensors.read(file).forEach((k, e) -> v.put(k, e.data()));
    return v;
  }

  /** Standard normal values for every parameter and every input of {@code program}, from {@code seed}. */
  private static Map<String, float[]> drawn(Manifest m, String program, long seed) {
    Random rnd = new Random(seed);
    Map<String, float[]> v = new LinkedHashMap<>();
    for (Manifest.ParamSlot p : m.params()) {
      v.put("param/" + p.name(), gaussian(rnd, p.shape()));
    }
    for (Manifest.Slot s : m.program(program).inputs()) {
      v.put("input/" + s.name(), gaussian(rnd, s.shape()));
    }
    return v;
  }

  private static float[] gaussian(Random rnd, int[] shape) {
    long n = 1;
    for (int x : shape) {
      n *= x;
    }
    float[] a = new float[Math.toIntExact(n)];
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) rnd.nextGaussian();
    }
    return a;
  }

  /** Program {@code program} of {@code m} run on {@code values}: the item's outputs. */
  private static Map<String, float[]> outputs(NativeModel m, String program, Map<String, float[]> values,
      JsonNode item) {
    values.forEach((k, v) -> {
      if (k.startsWith("param/")) {
        m.setParam(k.substring(6), v);
      } else {
        m.setInput(program, k.substring(6), v);
      }
    });
    m.run(program);
    Map<String, float[]> o = new LinkedHashMap<>();
    for (JsonNode name : item.get("outputs")) {
      o.put(name.asText(), m.output(program, name.asText()));
    }
    return o;
  }

  private Map<String, Object> train(Path d) throws IOException {
    JsonNode item = json.readTree(d.resolve("item.json").toFile());
    FashionMnist.Splits data = FashionMnist.load(dir.resolve(item.get("data").asText()), false);
    Dataset train = item.get("limit").asInt() > 0 ? data.train().head(item.get("limit").asInt()) : data.train();
    Dataset test = item.get("limit").asInt() > 0 ? data.test().head(item.get("limit").asInt()) : data.test();
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("name", item.get("name").asText());
    double[] acc = new double[2];
    double[] secs = new double[2];
    for (int k = 0; k < 2; k++) {
      try (NativeModel m = k == 0 ? onCpu(d.resolve("cpu")) : onGpu(d.resolve("gpu"))) {
        m.initParams(item.get("seed").asLong());
        Trainer t = new Trainer(m, new Trainer.Config(item.get("epochs").asInt(), true, item.get("seed").asLong(),
            item.get("lr").asDouble(), Trainer.Schedule.constant(), null, false, item.get("output").asText(),
            item.get("target").asText(), item.get("threshold").asDouble()), new PrintStream(PrintStream.nullOutputStream()));
        long t0 = System.nanoTime();
        t.fit(train, null);
        m.synchronize();
        secs[k] = (System.nanoTime() - t0) / 1e9;
        acc[k] = t.evaluate(test).accuracy();
      }
    }
    boolean ok = Math.abs(acc[0] - acc[1]) <= item.get("tolerance").asDouble();
    out.printf(Locale.ROOT, "train %s, %d epoch(s) on %d examples: test accuracy CPU %.4f (%.1fs), GPU %.4f (%.1fs)%s%n",
        item.get("name").asText(), item.get("epochs").asInt(), train.size(), acc[0], secs[0], acc[1], secs[1],
        ok ? "" : " FAILED: more than " + item.get("tolerance").asDouble() + " apart");
    r.put("cpuAccuracy", acc[0]);
    r.put("gpuAccuracy", acc[1]);
    r.put("cpuSeconds", secs[0]);
    r.put("gpuSeconds", secs[1]);
    r.put("ok", ok);
    return r;
  }

  private Map<String, Object> bench(Path d) throws IOException {
    JsonNode item = json.readTree(d.resolve("item.json").toFile());
    String program = item.get("program").asText();
    double seconds = item.get("seconds").asDouble();
    Map<String, Object> r = new LinkedHashMap<>();
    try (NativeModel m = onGpu(d.resolve("gpu"))) {
      m.initParams(1);
      Random rnd = new Random(1);
      Manifest.Program p = m.manifest().program(program);
      for (Manifest.Slot s : p.inputs()) {
        float[] v = new float[(int) s.size()];
        for (int i = 0; i < v.length; i++) {
          v[i] = s.integer() ? rnd.nextInt(Math.max(1, s.bound())) + s.min() : (float) rnd.nextGaussian();
        }
        m.setInput(program, s.name(), v);
      }
      double flops = 0;
      for (Manifest.Call c : p.calls()) {
        flops += c.repeat() == null ? c.extent() * c.cost() : 0;
      }
      for (int i = 0; i < 3; i++) {
        m.run(program);
      }
      m.synchronize();
      int runs = 0;
      long t0 = System.nanoTime();
      long t;
      do {
        m.run(program);
        m.synchronize();
        runs++;
        t = System.nanoTime() - t0;
      } while (t < seconds * 1e9 || runs < 3);
      double ms = t / 1e6 / runs;
      out.printf(Locale.ROOT, "bench %-45s %10.3f ms  %8.1f GFLOP/s  (%d runs)%n", item.get("name").asText(), ms,
          flops / (ms / 1e3) / 1e9, runs);
      r.put("name", item.get("name").asText());
      r.put("key", d.getFileName().toString());
      r.put("ms", ms);
      r.put("gflops", flops / (ms / 1e3) / 1e9);
    }
    return r;
  }
}
