package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code nnc bench} measures the two engines in turns: each gets its warm-up and then at least
 * {@code --time} seconds of counted runs, and after the warm-ups the engines alternate several
 * times instead of one running all its runs before the other.
 */
class BenchTurnsTest {
  @Test
  void enginesTakeTurnsAndEachRunsForTheTime() {
    BenchCommand bench = new BenchCommand();
    bench.time = 1.0;
    List<Character> order = new ArrayList<>();
    Runnable ours = () -> work(order, 'n');
    Runnable theirs = () -> work(order, 'b');
    BenchCommand.Timing[] t = bench.measure(ours, theirs);
    // Counted runs of about 2 ms for 1 s each: a few hundred (the warm-up and each turn's first run are not counted).
    assertTrue(t[0].runs() >= 5 && t[1].runs() >= 5, t[0].runs() + " and " + t[1].runs() + " runs");
    assertTrue(t[0].runs() * 2.0 >= 1.0 * 1000 / 3 && t[1].runs() * 2.0 >= 1.0 * 1000 / 3,
        t[0].runs() + " and " + t[1].runs() + " runs in 1 s each");
    assertTrue(t[0].median() >= 1.9 && t[1].median() >= 1.9, t[0].median() + " and " + t[1].median() + " ms");
    // After the two warm-ups (all of nnc's, then all of the baseline's), the runs switch engine
    // at every turn: with turns of 0.25 s, at least 3 times more.
    int switches = 0;
    for (int i = 1; i < order.size(); i++) {
      switches += order.get(i) != order.get(i - 1) ? 1 : 0;
    }
    assertTrue(switches >= 1 + 2 * (int) (bench.time / BenchCommand.TURN_SECONDS) - 1, switches + " switches");
    assertEquals('n', order.get(0));
  }

  @Test
  void withoutABaselineOnlyNncRuns() {
    BenchCommand bench = new BenchCommand();
    bench.time = 0.3;
    List<Character> order = new ArrayList<>();
    BenchCommand.Timing[] t = bench.measure(() -> work(order, 'n'), null);
    assertNull(t[1]);
    assertTrue(order.stream().allMatch(c -> c == 'n'));
    assertTrue(t[0].runs() >= 5, t[0].runs() + " runs");
  }

  private static void work(List<Character> order, char who) {
    order.add(who);
    long end = System.nanoTime() + 2_000_000L;
    while (System.nanoTime() < end) {
      Thread.onSpinWait();
    }
  }
}
