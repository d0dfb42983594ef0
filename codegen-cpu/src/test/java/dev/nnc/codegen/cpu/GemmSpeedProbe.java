package dev.nnc.codegen.cpu;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Param;
import dev.nnc.runtime.NativeModel;
import java.util.List;

/**
 * A quick manual timing of the generated GEMM (not a test; the JMH suite in bench/ is the
 * measurement): {@code GemmSpeedProbe THREADS [M N K]}, {@code -Dprobe.transA/transB=true} for
 * transposed operands, {@code -Dprobe.inputB=true} for a computed B. With {@code
 * -Dprobe.ab=PROPERTY,A,B} the product is compiled under two values of a property code
 * generation reads as it runs, and the two take turns in one process (medians and bests).
 */
public final class GemmSpeedProbe {
  public static void main(String[] args) {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    int[][] shapes = args.length > 3
        ? new int[][] {{Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3])}}
        : new int[][] {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}};
    String ab = System.getProperty("probe.ab");
    for (int[] mnk : shapes) {
      if (ab != null) {
        alternate(mnk, threads, ab.split(","));
        continue;
      }
      try (NativeModel m = CpuHarness.compile(graph(mnk), threads)) {
        m.setInput("p", "a", GemmTest.rand(new java.util.Random(1), mnk[0] * mnk[2]));
        long best = Long.MAX_VALUE;
        for (int rep = 0; rep < Integer.getInteger("probe.reps", 30); rep++) {
          long t0 = System.nanoTime();
          m.run("p");
          best = Math.min(best, System.nanoTime() - t0);
        }
        m.startProfiling();
        for (int rep = 0; rep < 10; rep++) {
          m.run("p");
        }
        System.out.print(m.profileReport());
        double gflops = 2.0 * mnk[0] * mnk[1] * mnk[2] / best;
        System.out.printf("sgemm %dx%dx%d: best %.3f ms, %.1f GFLOP/s%n", mnk[0], mnk[1], mnk[2], best / 1e6, gflops);
      }
    }
  }

  private static Graph graph(int[] mnk) {
    int n = mnk[1];
    Graph.Builder b = Graph.builder("g");
    boolean ta = Boolean.getBoolean("probe.transA");
    boolean tb = Boolean.getBoolean("probe.transB");
    Node a = b.addTyped(new Input("a"), List.of(), TensorType.f32(ta ? Shape.of(mnk[2], mnk[0]) : Shape.of(mnk[0], mnk[2])));
    // -Dprobe.inputB=true: B is computed (packed on every call, or read in place), not a weight.
    Shape bs = tb ? Shape.of(n, mnk[2]) : Shape.of(mnk[2], n);
    Node w = Boolean.getBoolean("probe.inputB") ? b.addTyped(new Input("w"), List.of(), TensorType.f32(bs))
        : b.addTyped(new Param("w", Param.Role.WEIGHT, Init.ZEROS), List.of(), TensorType.f32(bs));
    b.output("y", b.add(new MatMul(ta, tb), a, w));
    return b.build();
  }

  /** Two compilations of one product under {@code prop = values[1], values[2]}, taking turns. */
  private static void alternate(int[] mnk, int threads, String[] spec) {
    NativeModel[] models = new NativeModel[2];
    for (int i = 0; i < 2; i++) {
      System.setProperty(spec[0], spec[1 + i]);
      models[i] = CpuHarness.compile(graph(mnk), threads);
      models[i].setInput("p", "a", GemmTest.rand(new java.util.Random(1), mnk[0] * mnk[2]));
    }
    long[][] times = Turns.alternate(new Runnable[] {() -> models[0].run("p"), () -> models[1].run("p")}, 30, 5);
    for (int i = 0; i < 2; i++) {
      System.out.printf("sgemm %dx%dx%d %s=%s: median %.3f ms, best %.3f ms (%.1f GFLOP/s)%n", mnk[0], mnk[1], mnk[2],
          spec[0], spec[1 + i], Turns.medianMs(times[i]), Turns.bestMs(times[i]),
          2.0 * mnk[0] * mnk[1] * mnk[2] / (Turns.medianMs(times[i]) * 1e6));
      models[i].close();
    }
  }
}
