package dev.nnc.cli;

import dev.nnc.runtime.cuda.CudaDriver;
import java.util.List;
import picocli.CommandLine.Option;

/** {@code --device cpu|cuda}: where a command runs the model's kernels. */
final class DeviceOption {
  @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
      description = "where the kernels run: cpu (the default) or cuda (an NVIDIA GPU, through its driver)")
  String device;

  /** Refuses a device this build cannot run on, with what was found and what to use instead. */
  void require() {
    check(device, CudaDriver.LIBRARY_NAME);
  }

  static void check(String device, String driver) {
    switch (device) {
      case "cpu" -> { }
      case "cuda" -> {
        List<CudaDriver.Device> gpus;
        try {
          gpus = CudaDriver.devices(driver);
        } catch (CudaDriver.Unavailable e) {
          throw new UserError(e.getMessage());
        }
        throw new UserError("found " + gpus.stream().map(g -> g.name() + " (" + g.arch() + ")").toList()
            + ", but this build cannot run models on CUDA GPUs yet: it compiles them to PTX "
            + "(nnc compile --target cuda) and checks the GPU kernels on the CPU; use --device cpu");
      }
      default -> throw new UserError("--device " + device + " is not a device nnc knows; use cpu or cuda");
    }
  }
}
