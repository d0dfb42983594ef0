package dev.nnc.cli;

import dev.nnc.frontend.Program;
import dev.nnc.frontend.SourceFile;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A quick manual look at where a model's inference time goes, kernel by kernel (not a test;
 * {@code nnc bench} is the measurement): {@code ConvSpeedProbe FILE BATCH} with
 * {@code -Dnnc.conv=LOWERING}.
 */
public final class ConvSpeedProbe {
  public static void main(String[] args) throws Exception {
    Program p = Program.parse(SourceFile.of(args[0], Files.readString(Path.of(args[0]))));
    int batch = Integer.parseInt(args[1]);
    ModelCompiler.Result res = ModelCompiler.compile(p, null, null, batch, Backend.find("cpu"));
    try (NativeModel m = new NativeModel(res.manifest(), KernelLibrary.ofAddresses(res.compiled().jit()), 2)) {
      m.initParams(5);
      long best = Long.MAX_VALUE;
      for (int rep = 0; rep < 200; rep++) {
        long t0 = System.nanoTime();
        m.run(ModelCompiler.PREDICT);
        best = Math.min(best, System.nanoTime() - t0);
      }
      m.startProfiling();
      for (int rep = 0; rep < 50; rep++) {
        m.run(ModelCompiler.PREDICT);
      }
      System.out.print(m.profileReport());
      System.out.printf("best %.3f ms%n", best / 1e6);
    }
  }
}
