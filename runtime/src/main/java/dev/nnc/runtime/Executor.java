package dev.nnc.runtime;

import java.lang.foreign.MemorySegment;

/**
 * Where a model's arena lives and its kernels run: the device boundary of the runtime.
 * {@link NativeModel} keeps a host copy of the arena (inputs, outputs and weights are read and
 * written there) and tells the executor which part it wrote and which part it is about to read;
 * the executor launches the schedules' calls and sets the loops' counters. On the CPU
 * ({@link HostExecutor}) the host copy is the arena itself and those notices cost nothing; a GPU
 * executor keeps the arena in device memory and copies the ranges named.
 */
public interface Executor extends AutoCloseable {
  /** A schedule's call, bound to the code that runs it. */
  interface Launch {
    String symbol();

    void run();
  }

  /** Binds call {@code c} of a program (no loop head). */
  Launch bind(Manifest.Call c);

  /** Before the next launches: the loop counter at arena float {@code offset} is {@code value}. */
  void setCounter(long offset, float value);

  /** The host copy's floats {@code [offset, offset + count)} were written; the kernels must see them. */
  void written(long offset, long count);

  /** The host copy's floats {@code [offset, offset + count)} are about to be read; they must hold what the kernels wrote. */
  void reading(long offset, long count);

  /** Returns when every launch so far has finished (a GPU runs them asynchronously; the CPU, as it is called). */
  default void synchronize() {}

  /** Threads (or their equivalent) the kernels run on. */
  int threads();

  /** Where the kernels run, for people: {@code 2 CPU threads}, {@code GPU 0, NVIDIA H100 (sm_90, 81559 MiB)}. */
  default String where() {
    return threads() + (threads() == 1 ? " CPU thread" : " CPU threads");
  }

  @Override
  void close();

  /** The CPU: the host arena is the kernels' memory; calls are native functions split over a worker pool. */
  final class HostExecutor implements Executor {
    /** Work below this many flops per call runs on the calling thread alone. */
    static final double PARALLEL_THRESHOLD = 200_000;

    private final MemorySegment mem;
    private final KernelLibrary library;
    private final WorkerPool pool;
    private final java.lang.foreign.FunctionDescriptor fd = java.lang.foreign.FunctionDescriptor.ofVoid(
        java.lang.foreign.ValueLayout.ADDRESS, java.lang.foreign.ValueLayout.JAVA_LONG,
        java.lang.foreign.ValueLayout.JAVA_LONG);

    public HostExecutor(MemorySegment mem, KernelLibrary library, int threads) {
      this.mem = mem;
      this.library = library;
      this.pool = new WorkerPool(threads);
    }

    @Override
    public Launch bind(Manifest.Call c) {
      java.lang.invoke.MethodHandle h = java.lang.foreign.Linker.nativeLinker().downcallHandle(library.symbol(c.symbol()), fd);
      return new HostLaunch(c.symbol(), h, c.extent(), c.cost(), mem, pool);
    }

    @Override
    public void setCounter(long offset, float value) {
      mem.set(java.lang.foreign.ValueLayout.JAVA_FLOAT, offset * Float.BYTES, value);
    }

    @Override
    public void written(long offset, long count) {}

    @Override
    public void reading(long offset, long count) {}

    @Override
    public int threads() {
      return pool.threads();
    }

    @Override
    public void close() {
      pool.close();
    }
  }

  /** A native function over iterations {@code [0, extent)}, split over the pool when it is worth it. */
  record HostLaunch(String symbol, java.lang.invoke.MethodHandle handle, long extent, double cost, MemorySegment mem,
      WorkerPool pool) implements Launch {
    @Override
    public void run() {
      try {
        boolean parallel = extent > 1 && extent * cost >= HostExecutor.PARALLEL_THRESHOLD;
        if (parallel) {
          pool.parallelFor(extent, pool.threads(), (lo, hi) -> {
            handle.invokeExact(mem, lo, hi);
          });
        } else {
          handle.invokeExact(mem, 0L, extent);
        }
      } catch (Error | RuntimeException e) {
        throw e;
      } catch (Throwable t) {
        throw new IllegalStateException("kernel " + symbol + " failed", t);
      }
    }
  }
}
