package dev.nnc.cli;

import dev.nnc.frontend.Recipe;
import dev.nnc.runtime.NativeModel;
import java.nio.file.Path;
import java.util.Map;

/**
 * A quick manual look at where a model's time goes, kernel by kernel (not a test; {@code nnc
 * bench} is the measurement): {@code ConvSpeedProbe FILE BATCH [train]}, with
 * {@code -Dnnc.conv=LOWERING} to force a convolution lowering. Prints the per-kernel profile and
 * the best and median time of the predict program, or of the training step with {@code train}
 * ({@code -Dprobe.reps=N} runs).
 */
public final class ConvSpeedProbe {
  public static void main(String[] args) throws Exception {
    Session s = Session.open(Path.of(args[0]), null);
    int batch = Integer.parseInt(args[1]);
    boolean train = args.length > 2 && args[2].equals("train");
    Recipe recipe = s.recipe == null ? null : s.recipe(1, batch);
    ModelCompiler.Result res = s.compile(recipe, batch, System.err);
    String program = train ? ModelCompiler.TRAIN : ModelCompiler.PREDICT;
    try (NativeModel m = Session.load(res, 2)) {
      m.initParams(5);
      Map<String, float[]> inputs = BenchCommand.inputs(res.manifest(), Session.primaryOutput(res.forward()), 5);
      BenchCommand.feed(m, res.manifest(), program, inputs);
      int reps = Integer.getInteger("probe.reps", train ? 10 : 100);
      long[] times = new long[reps];
      for (int rep = 0; rep < reps; rep++) {
        long t0 = System.nanoTime();
        m.run(program);
        times[rep] = System.nanoTime() - t0;
      }
      java.util.Arrays.sort(times);
      long best = times[0];
      m.startProfiling();
      for (int rep = 0; rep < reps / 2; rep++) {
        m.run(program);
      }
      System.out.print(m.profileReport());
      System.out.printf("best %.3f ms, median %.3f ms of %d%n", best / 1e6, times[reps / 2] / 1e6, reps);
    }
  }
}
