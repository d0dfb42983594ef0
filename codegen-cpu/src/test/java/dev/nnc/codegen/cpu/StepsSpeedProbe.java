package dev.nnc.codegen.cpu;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Recurrence;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.util.Random;

/**
 * A quick manual timing (not a test) of a recurrence's forward and backward loops, fused
 * (one kernel per loop over blocks of rows) and step by step, in one process, the two taking
 * turns of a few runs each so that the machine's drift hits both alike. Arguments: cell, batch,
 * steps, hidden, threads (default lstm 64 60 128 2); prints each one's median and best
 * ({@code -Dprobe.profile=true}: and the step-by-step kernels' profile).
 */
public final class StepsSpeedProbe {
  public static void main(String[] args) {
    String cell = args.length > 0 ? args[0] : "lstm";
    int batch = args.length > 1 ? Integer.parseInt(args[1]) : 64;
    int steps = args.length > 2 ? Integer.parseInt(args[2]) : 60;
    int hid = args.length > 3 ? Integer.parseInt(args[3]) : 128;
    int threads = args.length > 4 ? Integer.parseInt(args[4]) : 2;
    Recurrence op = new Recurrence(Recurrence.Cell.parse(cell), hid, false, false);
    Graph g = RecurrenceJitTest.graph(op, batch, steps);
    CpuBackend[] backends = {new CpuBackend(), new CpuBackend().stepByStep()};
    String[] names = {"fused", "step by step"};
    NativeModel[] models = new NativeModel[2];
    Random r = new Random(1);
    for (int i = 0; i < 2; i++) {
      CpuHarness.Built b = CpuHarness.build(g, backends[i]);
      models[i] = new NativeModel(b.manifest(), KernelLibrary.ofAddresses(b.compiled().jit()), threads);
      for (Node n : g.inputs()) {
        float[] v = new float[Math.toIntExact(n.shape().size())];
        for (int j = 0; j < v.length; j++) {
          v[j] = (float) (r.nextGaussian() * 0.3);
        }
        models[i].setInput("p", ((Input) n.op()).name(), v);
      }
    }
    long[][] times = Turns.alternate(new Runnable[] {() -> models[0].run("p"), () -> models[1].run("p")}, 40, 5);
    if (Boolean.getBoolean("probe.profile")) {
      // Where a step goes: the step-by-step schedule's kernels one by one.
      models[1].startProfiling();
      for (int k = 0; k < 20; k++) {
        models[1].run("p");
      }
      System.out.print(models[1].profileReport());
    }
    for (int i = 0; i < 2; i++) {
      System.out.printf("%-13s median %.3f ms, best %.3f ms%n", names[i], Turns.medianMs(times[i]),
          Turns.bestMs(times[i]));
      models[i].close();
    }
  }
}
