package dev.nnc.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nnc.codegen.cpu.CpuBackend;
import dev.nnc.codegen.cpu.CpuHarness;
import dev.nnc.codegen.cuda.CudaBackend;
import dev.nnc.codegen.cuda.CudaCompiled;
import dev.nnc.codegen.cuda.EmulatedCudaBackend;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.passes.GpuCheckOps;
import dev.nnc.passes.backend.Backend;
import dev.nnc.passes.backend.Compiled;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.SafeTensors;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Packs the GPU check's bundle (see {@code scripts/gpu-check} and docs/gpu-check.md): everything a
 * machine with an NVIDIA GPU and no build tools needs to check nnc's CUDA back end there, compiled
 * here. Each item is a folder with an {@code item.json}:
 *
 * <ul>
 *   <li>{@code ops/NNN-case/}: an op case of the gradient checks (its output, loss and gradients)
 *       as a GPU folder ({@code gpu/}: PTX, launch table, manifest) and a CPU folder ({@code cpu/}:
 *       a shared library for x86-64-v3, manifest), with its values; the runner compares the two
 *       on that machine. After them the TF32 cases ({@link GpuCheckOps#tf32Items}): products on
 *       the tensor cores ({@code --tf32}), their values drawn by the runner from the item's seed
 *       and held to TF32's bound ({@link #TF32_BOUND}) instead of FP32's.
 *   <li>{@code train/lenet5/}: LeNet-5 on the embedded Fashion-MNIST subset ({@code data/}),
 *       trained on the GPU and on that machine's CPU from the same initial weights.
 *   <li>{@code bench/NAME/}: GEMMs, convolution layers and training steps (LeNet-5, ResNet-18 for
 *       CIFAR) on the GPU, timed, the largest GEMM and ResNet-18 also with TF32; {@code torch_bench.py} times the same work in PyTorch where it
 *       is installed.
 * </ul>
 *
 * With {@code --stand-in}, {@code stand-in/} also holds the tests' stand-in CUDA driver and, per
 * PTX module (named by the FNV-1a hash of its text), the same kernels compiled for this CPU with
 * driver entries: a dry run of the whole check on a machine without a GPU. {@code --quick} packs
 * small sizes (for dry runs: emulated GPU kernels are slow).
 */
public final class GpuCheckPack {
  /** What to pack: every {@code opsEvery}-th op case; small sizes; the stand-in driver and kernels. */
  public record Options(int opsEvery, boolean quick, boolean standIn) {}

  private final Path dir;
  private final Options o;
  private final PrintStream log;
  private final ObjectMapper json = new ObjectMapper();

  private GpuCheckPack(Path dir, Options o, PrintStream log) {
    this.dir = dir;
    this.o = o;
    this.log = log;
  }

  /** {@code DIR [--quick] [--stand-in] [--ops-every N]}. */
  public static void main(String[] args) throws Exception {
    Path dir = null;
    int every = 1;
    boolean quick = false;
    boolean standIn = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--quick" -> quick = true;
        case "--stand-in" -> standIn = true;
        case "--ops-every" -> every = Integer.parseInt(args[++i]);
        default -> {
          if (args[i].startsWith("-") || dir != null) {
            System.err.println("usage: GpuCheckPack DIR [--quick] [--stand-in] [--ops-every N]");
            System.exit(2);
          }
          dir = Path.of(args[i]);
        }
      }
    }
    if (dir == null) {
      System.err.println("usage: GpuCheckPack DIR [--quick] [--stand-in] [--ops-every N]");
      System.exit(2);
    }
    pack(dir, new Options(every, quick, standIn), System.out);
  }

  public static void pack(Path dir, Options o, PrintStream log) throws Exception {
    new GpuCheckPack(dir, o, log).run();
  }

  private void run() throws Exception {
    Files.createDirectories(dir);
    long t0 = System.nanoTime();
    if (o.standIn()) {
      Path standIn = Files.createDirectories(dir.resolve("stand-in"));
      Files.copy(dev.nnc.runtime.cuda.FakeCuda.library(), standIn.resolve("libcuda.so.1"),
          StandardCopyOption.REPLACE_EXISTING);
      Files.createDirectories(standIn.resolve("kernels"));
    }
    packOps();
    packTraining();
    packBenchmarks();
    try (var in = GpuCheckPack.class.getResourceAsStream("/gpu-check/torch_bench.py")) {
      Files.copy(in, dir.resolve("torch_bench.py"), StandardCopyOption.REPLACE_EXISTING);
    }
    log.printf("packed %s in %.0fs%n", dir, (System.nanoTime() - t0) / 1e9);
  }

  private void packOps() throws Exception {
    List<GpuCheckOps.Item> items = GpuCheckOps.items(o.opsEvery());
    int n = 0;
    for (GpuCheckOps.Item it : items) {
      Path d = dir.resolve("ops").resolve(String.format(Locale.ROOT, "%03d-%s", n++, slug(it.name())));
      CpuHarness.Built gpu = CpuHarness.buildFor(it.graph(), new CudaBackend(), CudaBackend.DEFAULT_ARCH);
      folder(gpu.compiled(), gpu.manifest(), d.resolve("gpu"), "model.ptx");
      CpuHarness.Built cpu = CpuHarness.buildFor(it.graph(), new CpuBackend(), "x86-64-v3");
      folder(cpu.compiled(), cpu.manifest(), d.resolve("cpu"), "libmodel.so");
      Map<String, SafeTensors.Entry> values = new LinkedHashMap<>();
      it.params().forEach((k, v) -> values.put("param/" + k, new SafeTensors.Entry(new int[] {v.length}, v)));
      it.inputs().forEach((k, v) -> values.put("input/" + k, new SafeTensors.Entry(new int[] {v.length}, v)));
      SafeTensors.write(d.resolve("values.safetensors"), values, Map.of());
      Map<String, Object> item = new LinkedHashMap<>();
      item.put("kind", "op");
      item.put("name", it.name());
      item.put("program", "p");
      item.put("outputs", it.outputs());
      item.put("tolerance", 1e-4);
      writeJson(d.resolve("item.json"), item);
      standIn(gpu.compiled(), false, emulated -> CpuHarness.buildFor(it.graph(), emulated, CudaBackend.DEFAULT_ARCH).compiled());
    }
    List<GpuCheckOps.Item> tf32 = GpuCheckOps.tf32Items(o.quick());
    for (GpuCheckOps.Item it : tf32) {
      Path d = dir.resolve("ops").resolve(String.format(Locale.ROOT, "%03d-%s", n++, slug(it.name())));
      int onTensorCores = compileTf32(() -> {
        CpuHarness.Built gpu = CpuHarness.buildFor(it.graph(), new CudaBackend(true), CudaBackend.DEFAULT_ARCH);
        folder(gpu.compiled(), gpu.manifest(), d.resolve("gpu"), "model.ptx");
        standIn(gpu.compiled(), true, emulated -> CpuHarness.buildFor(it.graph(), emulated, CudaBackend.DEFAULT_ARCH).compiled());
        return ((CudaCompiled) gpu.compiled()).tensorCoreKernels();
      });
      // The output and both gradients are products: each must be one of the tensor cores' GEMMs.
      if (onTensorCores < 3) {
        throw new IllegalStateException(it.name() + ": " + onTensorCores + " of its 3 GEMMs on the tensor cores");
      }
      CpuHarness.Built cpu = CpuHarness.buildFor(it.graph(), new CpuBackend(), "x86-64-v3");
      folder(cpu.compiled(), cpu.manifest(), d.resolve("cpu"), "libmodel.so");
      Map<String, Object> item = new LinkedHashMap<>();
      item.put("kind", "op");
      item.put("name", it.name());
      item.put("program", "p");
      item.put("outputs", it.outputs());
      item.put("seed", 1000 + n);
      item.put("tolerance", 1e-5);
      item.put("tf32", TF32_BOUND);
      item.put("tensorCoreKernels", onTensorCores);
      writeJson(d.resolve("item.json"), item);
    }
    log.printf("packed %d op cases and %d TF32 cases%n", items.size(), tf32.size());
  }

  /**
   * TF32 against FP32 (docs/architecture.md): within 2⁻¹⁰ of {@code Σ|aᵢₖ·bₖⱼ|}, which the runner
   * computes as the CPU's result from the absolute values of the same inputs.
   */
  static final double TF32_BOUND = 0x1p-10;

  /** What {@link #compileTf32} compiles; returns the number of GEMMs on the tensor cores. */
  interface Tf32Build {
    int build() throws Exception;
  }

  /**
   * Runs {@code b}, a TF32 compilation, and returns its GEMMs on the tensor cores; with
   * {@code --quick} (the emulated dry run's small products, fewer blocks than a GPU's
   * multiprocessors) with the register-blocked GEMM forced, since only it has a tensor-core form.
   */
  private int compileTf32(Tf32Build b) throws Exception {
    if (!o.quick()) {
      return b.build();
    }
    System.setProperty("nnc.gpu.gemm", "blocked");
    try {
      return b.build();
    } finally {
      System.clearProperty("nnc.gpu.gemm");
    }
  }

  private void packTraining() throws Exception {
    Path sample = GpuSamplesTest.SAMPLES.resolve("lenet5.nn");
    Program prog = Program.parse(SourceFile.read(sample));
    Recipe r = Elaborator.recipe(prog, null);
    Path d = dir.resolve("train").resolve("lenet5");
    ModelCompiler.Result gpu = ModelCompiler.compile(prog, null, r, r.batch(), new CudaBackend(),
        CudaBackend.DEFAULT_ARCH);
    folder(gpu.compiled(), gpu.manifest(), d.resolve("gpu"), "lenet5.ptx");
    ModelCompiler.Result cpu = ModelCompiler.compile(prog, null, r, r.batch(), Backend.find("cpu"), "x86-64-v3");
    folder(cpu.compiled(), cpu.manifest(), d.resolve("cpu"), "liblenet5.so");
    // The first examples of the embedded subset: the bundle must stay under 64 MB.
    Path data = Files.createDirectories(dir.resolve("data").resolve("fashion-mnist"));
    Path from = GpuSamplesTest.SAMPLES.resolve("data").resolve("fashion-mnist");
    for (String split : new String[] {"train", "t10k"}) {
      int n = split.equals("train") ? TRAIN_EXAMPLES : TEST_EXAMPLES;
      idxHead(from.resolve(split + "-images-idx3-ubyte.gz"), data.resolve(split + "-images-idx3-ubyte.gz"), 16, 784, n);
      idxHead(from.resolve(split + "-labels-idx1-ubyte.gz"), data.resolve(split + "-labels-idx1-ubyte.gz"), 8, 1, n);
    }
    Map<String, Object> item = new LinkedHashMap<>();
    item.put("kind", "train");
    item.put("name", "LeNet-5 on Fashion-MNIST (" + TRAIN_EXAMPLES + " training, " + TEST_EXAMPLES + " test images)");
    item.put("data", "data/fashion-mnist");
    item.put("epochs", o.quick() ? 1 : 5);
    item.put("limit", o.quick() ? 256 : 0);
    item.put("seed", r.seed());
    item.put("lr", r.optimizer().lr());
    item.put("output", Session.primaryOutput(gpu.forward()));
    item.put("target", Session.targetField(r));
    item.put("threshold", Session.threshold(r));
    item.put("tolerance", 0.02);
    writeJson(d.resolve("item.json"), item);
    standIn(gpu.compiled(), false, emulated -> ModelCompiler.compile(prog, null, r, r.batch(), emulated,
        CudaBackend.DEFAULT_ARCH).compiled());
    log.printf("packed LeNet-5 training%n");
  }

  static final int TRAIN_EXAMPLES = 3000;
  static final int TEST_EXAMPLES = 1000;

  /** The first {@code n} records ({@code size} bytes each, after a {@code header}) of a gzipped IDX file. */
  static void idxHead(Path from, Path to, int header, int size, int n) throws IOException {
    byte[] all;
    try (var in = new java.util.zip.GZIPInputStream(Files.newInputStream(from))) {
      all = in.readNBytes(header + size * n);
    }
    if (all.length < header + size * n) {
      throw new IOException(from + " holds fewer than " + n + " records");
    }
    java.nio.ByteBuffer.wrap(all).putInt(4, n);
    try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(to))) {
      out.write(all);
    }
  }

  /** A benchmark: a model's source, the program timed, the batch, whether on TF32 tensor cores. */
  private record Bench(String name, String title, String source, String program, int batch, boolean tf32) {
    Bench(String name, String title, String source, String program, int batch) {
      this(name, title, source, program, batch, false);
    }
  }

  private List<Bench> benchmarks() throws IOException {
    String resnet = Files.readString(GpuSamplesTest.SAMPLES.resolve("resnet18-cifar.nn"));
    String lenet = Files.readString(GpuSamplesTest.SAMPLES.resolve("lenet5.nn"));
    if (o.quick()) {
      return List.of(
          new Bench("gemm-64", "GEMM 64×64×64", gemm(64), "predict", 64),
          new Bench("conv-8x3x3-16x16", "conv 3×3, 8→8 channels, 16×16, batch 2", conv(8, 16), "predict", 2),
          new Bench("lenet5-train", "LeNet-5 training step, batch 8", lenet, "train", 8),
          new Bench("gemm-128-tf32", "GEMM 128×128×128, TF32", gemm(128), "predict", 128, true));
    }
    return List.of(
        new Bench("gemm-1024", "GEMM 1024×1024×1024", gemm(1024), "predict", 1024),
        new Bench("gemm-2048", "GEMM 2048×2048×2048", gemm(2048), "predict", 2048),
        new Bench("gemm-4096", "GEMM 4096×4096×4096", gemm(4096), "predict", 4096),
        new Bench("gemm-4096-tf32", "GEMM 4096×4096×4096, TF32", gemm(4096), "predict", 4096, true),
        new Bench("conv-64x3x3-56x56", "conv 3×3, 64→64 channels, 56×56, batch 32", conv(64, 56), "predict", 32),
        new Bench("conv-256x3x3-14x14", "conv 3×3, 256→256 channels, 14×14, batch 32", conv(256, 14), "predict", 32),
        new Bench("lenet5-train", "LeNet-5 training step, batch 64", lenet, "train", 64),
        new Bench("resnet18-cifar-train", "ResNet-18 (CIFAR) training step, batch 128", resnet, "train", 128),
        new Bench("resnet18-cifar-train-tf32", "ResNet-18 (CIFAR) training step, batch 128, TF32", resnet, "train", 128,
            true));
  }

  /** {@code y = x·Wᵀ}, [n, n] by [n, n]: a square GEMM at batch n. */
  static String gemm(int n) {
    return "model Gemm {\n  input x: [" + n + "]\n  output y = x -> dense(" + n + ", bias=false)\n}\n";
  }

  /** A 3×3 convolution, c → c channels on s × s, padded to keep its size. */
  static String conv(int c, int s) {
    return "model Conv {\n  input x: [" + c + ", " + s + ", " + s + "]\n  output y = x -> conv2d(" + c
        + ", 3, padding=1, bias=false)\n}\n";
  }

  private void packBenchmarks() throws Exception {
    for (Bench b : benchmarks()) {
      Path d = dir.resolve("bench").resolve(b.name());
      Files.createDirectories(d);
      Files.writeString(d.resolve("model.nn"), b.source());
      Program prog = Program.parse(SourceFile.of(b.name() + ".nn", b.source()));
      Recipe r = b.program().equals("train") ? Elaborator.recipe(prog, null) : null;
      Map<String, Object> item = new LinkedHashMap<>();
      item.put("kind", "bench");
      item.put("name", b.title());
      item.put("program", b.program());
      item.put("seconds", o.quick() ? 0.05 : 2.0);
      item.put("batch", b.batch());
      item.put("tf32", b.tf32());
      Tf32Build build = () -> {
        ModelCompiler.Result gpu = ModelCompiler.compile(prog, null, r, b.batch(), new CudaBackend(b.tf32()),
            CudaBackend.DEFAULT_ARCH);
        folder(gpu.compiled(), gpu.manifest(), d.resolve("gpu"), "model.ptx");
        standIn(gpu.compiled(), b.tf32(), emulated -> ModelCompiler.compile(prog, null, r, b.batch(), emulated,
            CudaBackend.DEFAULT_ARCH).compiled());
        return ((CudaCompiled) gpu.compiled()).tensorCoreKernels();
      };
      int onTensorCores = b.tf32() ? compileTf32(build) : build.build();
      if (b.tf32()) {
        if (onTensorCores == 0) {
          throw new IllegalStateException("bench " + b.name() + ": no GEMM on the tensor cores");
        }
        item.put("tensorCoreKernels", onTensorCores);
      }
      writeJson(d.resolve("item.json"), item);
      log.printf("packed bench %s%n", b.name());
    }
  }

  /** What to compile for the stand-in: the same program or op case through the back end given. */
  interface Kernels {
    Compiled compile(EmulatedCudaBackend emulated) throws Exception;
  }

  /**
   * With {@code --stand-in}: the same kernels for this CPU with driver entries, named for the
   * stand-in driver by the hash of the PTX it will be given.
   */
  private void standIn(Compiled ptx, boolean tf32, Kernels kernels) throws Exception {
    if (!o.standIn()) {
      return;
    }
    kernels.compile(new EmulatedCudaBackend(true, tf32))
        .writeLibrary(dir.resolve("stand-in").resolve("kernels").resolve(fnv1a(ptx.text()) + ".so"));
  }

  /** The FNV-1a hash (64 bits, hex) of {@code text}'s UTF-8 bytes, as the stand-in driver computes it. */
  static String fnv1a(String text) {
    long h = 0xcbf29ce484222325L;
    for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
      h ^= b & 0xff;
      h *= 0x100000001b3L;
    }
    return String.format(Locale.ROOT, "%016x", h);
  }

  /** A compiled folder as {@code nnc compile} writes it: the library (or PTX and its launch table) and the manifest. */
  private static void folder(Compiled c, Manifest m, Path d, String lib) throws IOException {
    Files.createDirectories(d);
    c.writeLibrary(d.resolve(lib));
    if (c instanceof CudaCompiled cc) {
      Files.write(d.resolve(dev.nnc.runtime.cuda.CudaModule.FILE), DeviceOption.module(cc).launchTable());
    }
    m.withLibrary(new Manifest.Library(lib, Manifest.sha256(d.resolve(lib)))).write(d.resolve(Manifest.FILE));
  }

  private void writeJson(Path f, Object v) throws IOException {
    json.writerWithDefaultPrettyPrinter().writeValue(f.toFile(), v);
  }

  static String slug(String name) {
    String s = name.replaceAll("[^A-Za-z0-9]+", "-").replaceAll("^-|-$", "").toLowerCase(Locale.ROOT);
    return s.length() > 60 ? s.substring(0, 60) : s;
  }
}
