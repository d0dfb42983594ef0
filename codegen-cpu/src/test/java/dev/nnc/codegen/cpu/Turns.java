package dev.nnc.codegen.cpu;

import java.util.Arrays;

/**
 * The probes' timing of two versions taking turns ({@code -Dprobe.turns} turns of {@code
 * -Dprobe.per} runs each, after two turns of warm-up), so that a shared machine's drift hits both
 * alike. Not a test; {@code scripts/ab-builds} does the same for two builds of nnc.
 */
final class Turns {
  private Turns() {}

  /** Each version's run times (ns), sorted. */
  static long[][] alternate(Runnable[] versions, int defaultTurns, int defaultPer) {
    int turns = Integer.getInteger("probe.turns", defaultTurns);
    int per = Integer.getInteger("probe.per", defaultPer);
    long[][] times = new long[versions.length][turns * per];
    for (int t = -2; t < turns; t++) {
      for (int i = 0; i < versions.length; i++) {
        for (int k = 0; k < per; k++) {
          long t0 = System.nanoTime();
          versions[i].run();
          if (t >= 0) {
            times[i][t * per + k] = System.nanoTime() - t0;
          }
        }
      }
    }
    for (long[] s : times) {
      Arrays.sort(s);
    }
    return times;
  }

  static double medianMs(long[] sorted) {
    return sorted[sorted.length / 2] / 1e6;
  }

  static double bestMs(long[] sorted) {
    return sorted[0] / 1e6;
  }
}
