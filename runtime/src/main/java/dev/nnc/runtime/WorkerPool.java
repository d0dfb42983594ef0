package dev.nnc.runtime;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A small pool that splits a kernel's iterations across cores. A training step is dozens of
 * kernel calls of tens of microseconds each, so handing out work must cost far less than that:
 * the caller publishes a job and works on it too; idle workers spin briefly for the next job
 * (about as long as a step's gaps between parallel kernels) before they park, so a call rarely
 * waits for a thread to wake. Chunks are claimed one at a time (several per thread), so uneven
 * items (a GEMM's edge blocks) balance. Threads get a large stack: generated GEMMs keep a tile
 * on the stack.
 */
public final class WorkerPool implements AutoCloseable {
  /** A slice of work: iterations {@code [lo, hi)}. */
  public interface Slice {
    void run(long lo, long hi) throws Throwable;
  }

  /** How long an idle worker spins before it parks; {@code -Dnnc.spin.micros}. */
  static final long SPIN_NANOS = Long.getLong("nnc.spin.micros", 200) * 1000;
  /** Chunks per thread: enough to even out unequal items, few enough to keep calls cheap. */
  static final int CHUNKS_PER_THREAD = 4;

  private static final class Job {
    final Slice slice;
    final long extent;
    final int chunks;
    final AtomicInteger next = new AtomicInteger();
    final AtomicInteger left;
    final AtomicReference<Throwable> error = new AtomicReference<>();

    Job(Slice slice, long extent, int chunks) {
      this.slice = slice;
      this.extent = extent;
      this.chunks = chunks;
      this.left = new AtomicInteger(chunks);
    }

    /** Claims and runs chunks until none are left to claim. */
    void help() {
      for (int c = next.getAndIncrement(); c < chunks; c = next.getAndIncrement()) {
        try {
          if (error.get() == null) {
            slice.run(extent * c / chunks, extent * (c + 1) / chunks);
          }
        } catch (Throwable t) {
          error.compareAndSet(null, t);
        } finally {
          left.decrementAndGet();
        }
      }
    }
  }

  private final class Worker extends Thread {
    volatile boolean parked;

    Worker(int i) {
      super(null, null, "nnc-worker-" + i, 64L << 20);
      setDaemon(true);
    }

    @Override
    public void run() {
      long seen = 0;
      while (!closed) {
        long deadline = System.nanoTime() + SPIN_NANOS;
        int spins = 0;
        while (generation == seen && !closed) {
          if ((++spins & 63) != 0 || System.nanoTime() < deadline) {
            Thread.onSpinWait();
            continue;
          }
          // Park; the caller unparks parked workers after it publishes a job. Set the flag, then
          // look again, so that a job published in between is not missed.
          parked = true;
          if (generation == seen && !closed) {
            LockSupport.park(this);
          }
          parked = false;
          deadline = System.nanoTime() + SPIN_NANOS;
        }
        seen = generation;
        Job j = job;
        if (j != null) {
          j.help();
        }
      }
    }
  }

  private final int threads;
  private final Worker[] workers;
  private volatile Job job;
  private volatile long generation;
  private volatile boolean closed;

  public WorkerPool(int threads) {
    this.threads = Math.max(1, threads);
    this.workers = new Worker[this.threads - 1];
    for (int i = 0; i < workers.length; i++) {
      workers[i] = new Worker(i + 1);
      workers[i].start();
    }
  }

  public int threads() {
    return threads;
  }

  /**
   * Runs {@code [0, extent)} in contiguous chunks on up to {@code parts} threads (the caller's
   * among them); returns when all are done, rethrowing the first failure. One caller at a time.
   */
  public synchronized void parallelFor(long extent, int parts, Slice slice) throws Throwable {
    int n = (int) Math.min(Math.min(parts, threads), extent);
    if (n <= 1 || closed) {
      slice.run(0, extent);
      return;
    }
    Job j = new Job(slice, extent, (int) Math.min(extent, (long) n * CHUNKS_PER_THREAD));
    job = j;
    generation = generation + 1;  // the only writer; volatile, so workers see the job with it
    for (Worker w : workers) {
      if (w.parked) {
        LockSupport.unpark(w);
      }
    }
    j.help();
    for (int spins = 1; j.left.get() > 0; spins++) {
      if ((spins & 1023) == 0) {
        Thread.yield();
      } else {
        Thread.onSpinWait();
      }
    }
    job = null;
    if (j.error.get() != null) {
      throw j.error.get();
    }
  }

  @Override
  public void close() {
    closed = true;
    for (Worker w : workers) {
      LockSupport.unpark(w);
    }
  }
}
