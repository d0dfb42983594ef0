package dev.nnc.runtime;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A small pool that splits a kernel's iterations across cores. A training step is dozens of
 * kernel calls of tens of microseconds each, so handing out work must cost far less than that:
 * the caller publishes a job and works on it too; idle workers spin briefly for the next job
 * (about as long as a step's gaps between parallel kernels) before they park, so a call rarely
 * waits for a thread to wake. Each thread owns a contiguous range of the chunks (several per
 * thread) and claims its own first, one at a time, then what is left of the others' ranges: the
 * same thread gets the same iterations call after call (a recurrence's steps find the rows they
 * wrote in their own core's cache; docs/benchmarks.md), and
 * uneven items (a GEMM's edge blocks) still balance. Threads get a large stack: generated GEMMs
 * keep a tile on the stack.
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
    /** Ints between two participants' cursors: one 64-byte cache line each. */
    private static final int PAD = 16;

    final Slice slice;
    final long extent;
    final int chunks;
    final int parts;
    /** Participant {@code p}'s next chunk of its own range, at {@code p · PAD}. */
    final AtomicIntegerArray next;
    final AtomicInteger left;
    final AtomicReference<Throwable> error = new AtomicReference<>();

    Job(Slice slice, long extent, int chunks, int parts) {
      this.slice = slice;
      this.extent = extent;
      this.chunks = chunks;
      this.parts = parts;
      this.next = new AtomicIntegerArray(parts * PAD);
      for (int p = 0; p < parts; p++) {
        next.set(p * PAD, first(p));
      }
      this.left = new AtomicInteger(chunks);
    }

    /** The first chunk of participant {@code p}'s range; {@code first(p + 1)} ends it. */
    int first(int p) {
      return (int) ((long) chunks * p / parts);
    }

    /**
     * Participant {@code me} (the caller 0, worker {@code i} i) runs the chunks of its own range
     * first, then takes what is left of the others'. The same participant thus gets the same
     * iterations in every call of the same extent (a recurrence's step after step: the rows it
     * wrote are still in its core's cache), and uneven chunks still balance.
     */
    void help(int me) {
      for (int k = 0; k < parts; k++) {
        int p = (me + k) % parts;
        int end = first(p + 1);
        for (int c = next.getAndIncrement(p * PAD); c < end; c = next.getAndIncrement(p * PAD)) {
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
  }

  private final class Worker extends Thread {
    volatile boolean parked;

    final int index;

    Worker(int i) {
      super(null, null, "nnc-worker-" + i, 64L << 20);
      index = i;
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
          j.help(index % j.parts);
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
    Job j = new Job(slice, extent, (int) Math.min(extent, (long) n * CHUNKS_PER_THREAD), n);
    job = j;
    generation = generation + 1;  // the only writer; volatile, so workers see the job with it
    for (Worker w : workers) {
      if (w.parked) {
        LockSupport.unpark(w);
      }
    }
    j.help(0);
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
