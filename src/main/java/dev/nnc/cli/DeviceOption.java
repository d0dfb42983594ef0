package dev.nnc.cli;

import dev.nnc.codegen.cuda.CudaBackend;
import dev.nnc.codegen.cuda.CudaCompiled;
import dev.nnc.frontend.CompileException;
import dev.nnc.frontend.Recipe;
import dev.nnc.passes.backend.NativeCall;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.cuda.CudaDriver;
import dev.nnc.runtime.cuda.CudaExecutor;
import dev.nnc.runtime.cuda.CudaModule;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code --device cpu|cuda}: where a command runs the model's kernels. On {@code cuda} the model is
 * compiled to PTX for the first GPU the driver shows (the driver's {@code CUDA_VISIBLE_DEVICES}
 * picks another) and run through {@link CudaExecutor}; nothing of CUDA is touched on {@code cpu}.
 */
final class DeviceOption {
  @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
      description = "where the kernels run: cpu (the default) or cuda (an NVIDIA GPU, through its driver; "
          + "CUDA_VISIBLE_DEVICES chooses which)")
  String device;

  @Option(names = "--tf32", description = "with --device cuda, run the large matrix products on the GPU's tensor "
      + "cores in TF32 (inputs rounded to 10 bits of mantissa, sums in FP32; results within 2^-10 of sum|a*b| of "
      + "FP32's; compute capability 8.0 and newer)")
  boolean tf32;

  private CudaDriver driver;
  private CudaDriver.Device gpu;

  /** Opens the device, or refuses it with what was found and what to use instead. */
  void require() {
    if (tf32 && !device.equals("cuda")) {
      throw new UserError("--tf32 needs --device cuda (the tensor cores of an NVIDIA GPU)");
    }
    String library = CudaDriver.configuredLibrary();
    List<CudaDriver.Device> gpus = check(device, library);
    if (!gpus.isEmpty()) {
      try {
        driver = CudaDriver.open(library);
      } catch (CudaDriver.Unavailable e) {
        throw new UserError(e.getMessage());
      }
      gpu = gpus.get(0);
      try {
        CudaBackend.checkTf32(tf32, arch(gpu));
      } catch (IllegalArgumentException e) {
        throw new UserError(gpu + " has no TF32 tensor cores (compute capability 8.0 and newer have them); "
            + "leave out --tf32");
      }
    }
  }

  /** Checks {@code device} with driver library {@code library}; for cuda, its GPUs, the first of which must run nnc's PTX. */
  static List<CudaDriver.Device> check(String device, String library) {
    switch (device) {
      case "cpu" -> {
        return List.of();
      }
      case "cuda" -> {
        List<CudaDriver.Device> gpus;
        try {
          gpus = CudaDriver.devices(library);
        } catch (CudaDriver.Unavailable e) {
          throw new UserError(e.getMessage());
        }
        arch(gpus.get(0));
        return gpus;
      }
      default -> throw new UserError("--device " + device + " is not a device nnc knows; use cpu or cuda");
    }
  }

  boolean cuda() {
    return gpu != null;
  }

  /**
   * The PTX architecture for GPU {@code d}: the newest nnc emits that the GPU runs (sm_86 on an
   * 8.6 GPU, sm_90 on 9.0 and on newer GPUs, whose driver JIT-compiles it forward).
   */
  static String arch(CudaDriver.Device d) {
    int cc = d.major() * 10 + d.minor();
    String best = null;
    for (String a : CudaBackend.ARCHES) {
      if (Integer.parseInt(a.substring(3)) <= cc) {
        best = a;
      }
    }
    if (best == null) {
      throw new UserError(d + " is older than nnc's oldest GPU target, " + CudaBackend.ARCHES.get(0)
          + "; use --device cpu");
    }
    return best;
  }

  /** The model compiled for this device (the GPU's PTX on cuda). */
  ModelCompiler.Result compile(Session s, Recipe r, int batch, PrintStream log) throws CompileException {
    if (!cuda()) {
      return s.compile(r, batch, log);
    }
    return s.compile(r, batch, log, new CudaBackend(tf32), arch(gpu));
  }

  /** The compiled model in memory, on this device ({@code threads}: the CPU's worker threads). */
  NativeModel load(ModelCompiler.Result res, int threads) {
    if (!cuda()) {
      return Session.load(res, threads);
    }
    CudaModule module = module((CudaCompiled) res.compiled());
    return new NativeModel(res.manifest(), mem -> new CudaExecutor(driver, gpu, module, mem, res.manifest()));
  }

  /** The runtime's view of a PTX module: per call of the schedules, its entry point, geometry and arguments. */
  static CudaModule module(CudaCompiled c) {
    Map<String, CudaModule.Kernel> kernels = new LinkedHashMap<>();
    for (List<NativeCall> calls : c.schedules().values()) {
      for (NativeCall k : calls) {
        if (k.repeat() == null) {
          kernels.put(k.symbol(), new CudaModule.Kernel(c.entry(k.symbol()), k.extent(), c.threads(k.symbol()),
              c.arguments(k.symbol())));
        }
      }
    }
    return new CudaModule(c.arch(), c.text(), kernels);
  }
}
