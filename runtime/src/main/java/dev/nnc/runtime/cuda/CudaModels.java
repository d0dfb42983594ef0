package dev.nnc.runtime.cuda;

import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.IntFunction;

/** Compiled folders of GPU code ({@code nnc compile --target cuda}) opened for {@link dev.nnc.runtime.LoadedModel}. */
public final class CudaModels {
  /** The target triple of a manifest for GPU code (the CUDA back end's). */
  public static final String TRIPLE = "nvptx64-nvidia-cuda";

  private CudaModels() {}

  /**
   * The arenas of the model in {@code dir} (manifest {@code m}), each on the configured driver's
   * first GPU: the PTX checked against the manifest, its launch table read, the driver opened and
   * the GPU checked to run PTX of the folder's architecture. {@link IllegalStateException} when
   * there is no driver or GPU for it, with the fix.
   */
  public static IntFunction<NativeModel> open(Manifest m, Path dir) throws IOException {
    Path ptx = m.checkedLibrary(dir);
    CudaModule module = CudaModule.read(ptx, dir.resolve(CudaModule.FILE));
    CudaDriver driver;
    CudaDriver.Device gpu;
    try {
      driver = CudaDriver.open();
      gpu = driver.gpus().get(0);
    } catch (CudaDriver.Unavailable u) {
      throw new IllegalStateException(dir + " holds GPU code (PTX for " + module.arch() + ") and "
          + u.getMessage().replace("; use --device cpu", "") + "; compile the model for the CPU (nnc compile "
          + "--target cpu) to run it here");
    }
    checkArch(module.arch(), gpu, dir);
    return threads -> new NativeModel(m, mem -> new CudaExecutor(driver, gpu, module, mem, m));
  }

  /** Refuses PTX for a newer architecture than {@code gpu}'s (the driver JIT-compiles PTX forward, never back). */
  static void checkArch(String arch, CudaDriver.Device gpu, Path dir) {
    int need;
    try {
      need = Integer.parseInt(arch.substring(arch.indexOf('_') + 1));
    } catch (RuntimeException e) {
      throw new IllegalStateException(dir + ": the launch table's architecture '" + arch + "' is not a GPU "
          + "architecture (sm_80); compile the model again");
    }
    if (gpu.major() * 10 + gpu.minor() < need) {
      throw new IllegalStateException(dir + " holds PTX for " + arch + ", newer than " + gpu + " runs; compile the "
          + "model with --gpu " + gpu.arch() + " (or an older architecture)");
    }
  }
}
