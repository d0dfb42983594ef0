package dev.nnc.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/** The pool runs every iteration exactly once, on several threads, and reports failures. */
class WorkerPoolTest {
  @Test
  void everyIterationRunsOnceAcrossThreads() throws Throwable {
    try (WorkerPool pool = new WorkerPool(3)) {
      for (int extent : new int[] {1, 2, 3, 7, 12, 13, 1000}) {
        for (int call = 0; call < 50; call++) {  // back-to-back calls: workers pick up new jobs
          AtomicIntegerArray hits = new AtomicIntegerArray(extent);
          pool.parallelFor(extent, pool.threads(), (lo, hi) -> {
            assertTrue(0 <= lo && lo < hi && hi <= extent, lo + ".." + hi);
            for (long i = lo; i < hi; i++) {
              hits.incrementAndGet((int) i);
            }
          });
          for (int i = 0; i < extent; i++) {
            assertEquals(1, hits.get(i), "iteration " + i + " of " + extent);
          }
        }
      }
    }
  }

  @Test
  void workersShareTheWorkAfterTheyParked() throws Throwable {
    try (WorkerPool pool = new WorkerPool(2)) {
      Thread.sleep(WorkerPool.SPIN_NANOS / 1_000_000 + 50);  // the worker has parked by now
      Set<Thread> ran = ConcurrentHashMap.newKeySet();
      pool.parallelFor(8, 2, (lo, hi) -> {
        ran.add(Thread.currentThread());
        Thread.sleep(20);  // long enough for the woken worker to claim a chunk
      });
      assertEquals(2, ran.size(), "caller and worker both ran chunks: " + ran);
    }
  }

  @Test
  void eachThreadStartsOnItsOwnRangeAndTakesWhatIsLeftOfTheOthers() throws Throwable {
    try (WorkerPool pool = new WorkerPool(2)) {
      Thread caller = Thread.currentThread();
      for (int call = 0; call < 5; call++) {
        // Eight chunks: the caller's range 0..3, the worker's 4..7; chunk 0 and 4 are where each
        // starts. The worker's chunks are slow: the caller, done with its own, takes some of them.
        Thread[] ran = new Thread[8];
        pool.parallelFor(8, 2, (lo, hi) -> {
          ran[(int) lo] = Thread.currentThread();
          Thread.sleep(lo >= 4 ? 30 : 5);
        });
        assertSame(caller, ran[0], "the caller starts on its own range: " + java.util.Arrays.toString(ran));
        assertTrue(ran[4] != caller, "the worker starts on its own range: " + java.util.Arrays.toString(ran));
        int callers = 0;
        for (int c = 4; c < 8; c++) {
          callers += ran[c] == caller ? 1 : 0;
        }
        assertTrue(callers >= 1, "the caller took part of the worker's range: " + java.util.Arrays.toString(ran));
        assertTrue(callers <= 3, "the worker ran its own range too: " + java.util.Arrays.toString(ran));
      }
    }
  }

  @Test
  void firstFailureIsRethrownAndThePoolStaysUsable() throws Throwable {
    try (WorkerPool pool = new WorkerPool(2)) {
      IllegalStateException boom = new IllegalStateException("boom");
      Throwable t = assertThrows(IllegalStateException.class, () -> pool.parallelFor(100, 2, (lo, hi) -> {
        if (lo <= 60 && 60 < hi) {
          throw boom;
        }
      }));
      assertSame(boom, t);
      AtomicIntegerArray hits = new AtomicIntegerArray(10);
      pool.parallelFor(10, 2, (lo, hi) -> {
        for (long i = lo; i < hi; i++) {
          hits.incrementAndGet((int) i);
        }
      });
      for (int i = 0; i < 10; i++) {
        assertEquals(1, hits.get(i));
      }
    }
  }

  @Test
  void singleThreadRunsInline() throws Throwable {
    try (WorkerPool pool = new WorkerPool(1)) {
      Thread caller = Thread.currentThread();
      pool.parallelFor(5, 4, (lo, hi) -> {
        assertSame(caller, Thread.currentThread());
        assertEquals(0, lo);
        assertEquals(5, hi);
      });
    }
  }
}
