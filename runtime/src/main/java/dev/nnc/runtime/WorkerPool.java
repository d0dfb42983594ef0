package dev.nnc.runtime;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A small pool that splits a kernel's iterations across cores. The caller runs the first slice
 * itself; workers take the others. Threads get a large stack: generated GEMMs pack their A block
 * on the stack.
 */
public final class WorkerPool implements AutoCloseable {
  /** A slice of work: iterations {@code [lo, hi)}. */
  public interface Slice {
    void run(long lo, long hi) throws Throwable;
  }

  private record Job(Slice slice, long lo, long hi, CountDownLatch done, AtomicReference<Throwable> error) {}

  private final int threads;
  private final LinkedBlockingQueue<Job> queue = new LinkedBlockingQueue<>();
  private final Thread[] workers;
  private volatile boolean closed;

  public WorkerPool(int threads) {
    this.threads = Math.max(1, threads);
    this.workers = new Thread[this.threads - 1];
    for (int i = 0; i < workers.length; i++) {
      workers[i] = new Thread(null, this::work, "nnc-worker-" + (i + 1), 64L << 20);
      workers[i].setDaemon(true);
      workers[i].start();
    }
  }

  public int threads() {
    return threads;
  }

  private void work() {
    while (!closed) {
      Job j;
      try {
        j = queue.take();
      } catch (InterruptedException e) {
        return;
      }
      try {
        j.slice().run(j.lo(), j.hi());
      } catch (Throwable t) {
        j.error().compareAndSet(null, t);
      } finally {
        j.done().countDown();
      }
    }
  }

  /** Runs {@code [0, extent)} in up to {@code parts} contiguous slices; returns when all are done. */
  public void parallelFor(long extent, int parts, Slice slice) throws Throwable {
    int n = (int) Math.min(Math.min(parts, threads), extent);
    if (n <= 1) {
      slice.run(0, extent);
      return;
    }
    CountDownLatch done = new CountDownLatch(n - 1);
    AtomicReference<Throwable> error = new AtomicReference<>();
    for (int i = 1; i < n; i++) {
      queue.add(new Job(slice, extent * i / n, extent * (i + 1) / n, done, error));
    }
    try {
      slice.run(0, extent / n);
    } finally {
      done.await();
    }
    if (error.get() != null) {
      throw error.get();
    }
  }

  @Override
  public void close() {
    closed = true;
    for (Thread t : workers) {
      t.interrupt();
    }
  }
}
