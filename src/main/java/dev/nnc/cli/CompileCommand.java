package dev.nnc.cli;

import com.palantir.javapoet.JavaFile;
import dev.nnc.frontend.Recipe;
import dev.nnc.codegen.cpu.Llvm;
import dev.nnc.codegen.cuda.CudaBackend;
import dev.nnc.codegen.cuda.CudaCompiled;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.AtomicFiles;
import dev.nnc.runtime.LoadedModel;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.SafeTensors;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code nnc compile}: ahead of time, a shared library, weights, manifest and a typed Java class. */
@Command(name = "compile", mixinStandardHelpOptions = true,
    description = "Compile ahead of time into a folder: the shared library (lib<model>.so; with --target cuda a PTX "
        + "module, <model>.ptx), its weights (weights.safetensors), a manifest (manifest.json) and, with --java, a "
        + "typed Java class that loads them.")
final class CompileCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  @Option(names = {"-o", "--out"}, paramLabel = "DIR", required = true, description = "output folder")
  Path out;

  @Option(names = "--java", paramLabel = "CLASS", description = "also generate this Java class (e.g. org.example.Mlp)")
  String javaClass;

  @Option(names = "--weights", paramLabel = "FILE", description = "weights to ship (default: freshly initialised)")
  Path weights;

  @Option(names = "--cpu", paramLabel = "CPU", defaultValue = "native",
      description = "the CPU the library is for: native (this machine, every extension it has; the default), "
          + "or a portable level: x86-64, x86-64-v2, x86-64-v3 (AVX2+FMA), x86-64-v4 (AVX-512)")
  String cpu;

  @Option(names = "--target", paramLabel = "TARGET", defaultValue = "cpu",
      description = "cpu: a shared library for this or a portable x86-64 CPU (the default); cuda: a PTX module for "
          + "NVIDIA GPUs (<model>.ptx, its launches in launches.json)")
  String target;

  @Option(names = "--gpu", paramLabel = "ARCH",
      description = "with --target cuda, the GPU architecture: sm_80 (the default; newer GPUs' drivers compile it "
          + "forward), or sm_70, sm_75, sm_86, sm_89, sm_90")
  String gpu;

  @Option(names = "--tf32", description = "with --target cuda, run the large matrix products (GEMMs whose result "
      + "holds a 64 x 64 tile) on the tensor cores in TF32: inputs rounded to 10 bits of mantissa, sums in FP32; "
      + "results within 2^-10 of sum|a*b| of FP32's; sm_80 and newer")
  boolean tf32;

  @Option(names = "--batch", converter = Positive.class, paramLabel = "N", description = "examples per native call (default: the recipe's batch)")
  Integer batch;

  @Override
  public Integer call() throws Exception {
    if (javaClass != null && !javaClass.matches("([A-Za-z_$][A-Za-z0-9_$]*\\.)*[A-Za-z_$][A-Za-z0-9_$]*")) {
      throw new UserError("--java needs a Java class name like org.example.Mlp, not '" + javaClass + "'");
    }
    if (!cpu.equals(Backend.NATIVE) && !Llvm.PORTABLE.contains(cpu)) {
      throw new UserError("--cpu " + cpu + " is not a target nnc knows; use native (this machine) or one of "
          + String.join(", ", Llvm.PORTABLE));
    }
    boolean cuda = switch (target) {
      case "cpu" -> false;
      case "cuda" -> true;
      default -> throw new UserError("--target " + target + " is not a target nnc knows; use cpu or cuda");
    };
    if (!cuda && tf32) {
      throw new UserError("--tf32 needs --target cuda (the tensor cores of an NVIDIA GPU)");
    }
    if (cuda && tf32) {
      try {
        CudaBackend.checkTf32(true, gpu != null ? gpu : CudaBackend.DEFAULT_ARCH);
      } catch (IllegalArgumentException e) {
        throw new UserError(e.getMessage());
      }
    }
    if (!cuda && gpu != null) {
      throw new UserError("--gpu " + gpu + " needs --target cuda");
    }
    if (cuda && !cpu.equals(Backend.NATIVE)) {
      throw new UserError("--cpu " + cpu + " is for --target cpu; a GPU target takes --gpu");
    }
    if (cuda && gpu != null && !CudaBackend.ARCHES.contains(gpu)) {
      throw new UserError("--gpu " + gpu + " is not a GPU architecture nnc knows; use one of "
          + String.join(", ", CudaBackend.ARCHES));
    }
    Session s = Session.open(opts.file, opts.model);
    Session.prepareOutputDir(out);
    Recipe r = s.recipe;
    int b = batch != null ? batch : r != null ? r.batch() : 1;
    ModelCompiler.Result res = cuda
        ? s.compile(r, b, System.out, new CudaBackend(tf32), gpu != null ? gpu : CudaBackend.DEFAULT_ARCH)
        : s.compile(r, b, System.out, cpu);
    String model = res.manifest().model();
    String lib = cuda ? model.toLowerCase(java.util.Locale.ROOT) + ".ptx"
        : "lib" + model.toLowerCase(java.util.Locale.ROOT) + ".so";
    // Check the weights before anything is written, so bad weights leave no partial folder.
    Map<String, SafeTensors.Entry> given = weights != null ? SafeTensors.readFor(res.manifest(), weights) : Map.of();
    // The folder is one set: the library, weights and class first, each whole, then the manifest,
    // which names the library's SHA-256. A compile that fails half-way leaves the old manifest,
    // and loading refuses the new library beside it instead of running a mixed set.
    Files.createDirectories(out);
    AtomicFiles.write(out.resolve(lib), tmp -> res.compiled().writeLibrary(tmp));
    if (cuda) {
      AtomicFiles.write(out.resolve(LAUNCHES), DeviceOption.module((CudaCompiled) res.compiled()).launchTable());
    }
    Manifest manifest = res.manifest().withLibrary(new Manifest.Library(lib, Manifest.sha256(out.resolve(lib))));
    Map<String, float[]> values = NativeModel.Initializers.all(manifest, r != null ? r.seed() : 42);
    Map<String, SafeTensors.Entry> ship = new java.util.LinkedHashMap<>();
    for (var p : manifest.params()) {
      if (p.saved()) {
        ship.put(p.name(), given.getOrDefault(p.name(), new SafeTensors.Entry(p.shape(), values.get(p.name()))));
      }
    }
    SafeTensors.write(out.resolve(LoadedModel.WEIGHTS), ship, Map.of("model", model));
    Path src = null;
    if (javaClass != null) {
      JavaFile jf = JavaClassGenerator.generate(javaClass, manifest);
      src = out.resolve("java").resolve(jf.packageName().replace('.', '/')).resolve(jf.typeSpec().name() + ".java");
      AtomicFiles.write(src, jf.toString().getBytes(StandardCharsets.UTF_8));
    }
    manifest.write(out.resolve(Manifest.FILE));
    System.out.println("wrote " + out.resolve(lib) + (cuda ? " (PTX for " + manifest.target().cpu() + "), " + LAUNCHES
        : " (for CPU " + manifest.target().cpu() + ")") + ", " + LoadedModel.WEIGHTS + ", " + Manifest.FILE);
    if (src != null) {
      System.out.println("wrote " + src + " (compile it with the nnc-runtime jar on the class path)");
    }
    return 0;
  }

  /** The launch table of a PTX module: per kernel of the schedules, its entry point, geometry and arguments. */
  static final String LAUNCHES = dev.nnc.runtime.cuda.CudaModule.FILE;
}
