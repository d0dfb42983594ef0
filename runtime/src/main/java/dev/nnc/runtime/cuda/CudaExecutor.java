package dev.nnc.runtime.cuda;

import dev.nnc.runtime.Executor;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.ModelTooLargeException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * A model's kernels on an NVIDIA GPU: the arena in device memory, the PTX module loaded by the
 * driver, each schedule call a {@code cuLaunchKernel} of its entry point with the grid and block
 * of the launch table, on the context's default stream (so launches and copies run in order).
 * Executors of one {@link CudaModule} on one GPU share its loaded module. The host copy of the
 * arena that {@link dev.nnc.runtime.NativeModel} reads and writes is copied
 * in where it was written (inputs, weights) and out where it is read (outputs, weights), and a
 * loop's counter is copied in before each step: nothing else crosses the bus.
 *
 * <p>Not thread-safe, like the model it runs; whichever thread calls it gets the GPU's context
 * made current first.
 */
public final class CudaExecutor implements Executor {
  private final CudaDriver driver;
  private final CudaDriver.Device device;
  private final CudaModule module;
  private final MemorySegment host;
  private final MemorySegment context;
  private final Arena memory = Arena.ofShared();
  private final MemorySegment counter;
  private long arena;
  private Loaded loaded;
  private boolean closed;

  /**
   * A PTX module loaded in a GPU's primary context, shared by every executor of the same
   * {@link CudaModule} there (a model's arenas: the driver JIT-compiles the PTX once), unloaded
   * when the last of them closes.
   */
  private static final class Loaded {
    final MemorySegment module;
    final Map<String, MemorySegment> functions = new HashMap<>();
    int users;

    Loaded(MemorySegment module) {
      this.module = module;
    }
  }

  /** A module's identity: the driver, the GPU and the very {@link CudaModule} object. */
  private record Key(CudaDriver driver, int device, CudaModule module) {
    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && k.driver == driver && k.device == device && k.module == module;
    }

    @Override
    public int hashCode() {
      return System.identityHashCode(driver) * 31 + device * 17 + System.identityHashCode(module);
    }
  }

  private static final Map<Key, Loaded> LOADED = new HashMap<>();

  private static synchronized Loaded load(CudaDriver driver, CudaDriver.Device device, CudaModule module) {
    Loaded l = LOADED.computeIfAbsent(new Key(driver, device.index(), module), k -> new Loaded(
        driver.loadModule(module.ptx(), "the model's PTX for " + module.arch() + " on " + device)));
    l.users++;
    return l;
  }

  private static synchronized MemorySegment function(CudaDriver driver, Loaded l, String entry) {
    return l.functions.computeIfAbsent(entry, e -> driver.function(l.module, e));
  }

  /** Drops one user of {@code l}; unloads it when none is left. */
  private static synchronized void release(CudaDriver driver, CudaDriver.Device device, CudaModule module, Loaded l) {
    if (--l.users == 0) {
      LOADED.remove(new Key(driver, device.index(), module));
      driver.unloadModule(l.module);
    }
  }

  /**
   * Opens GPU {@code device} of {@code driver}, allocates the arena there (the size of
   * {@code host}, the model's host copy) with host's contents, and loads {@code module}.
   * {@link ModelTooLargeException} when the GPU's free memory cannot hold the arena;
   * {@link CudaDriver.Failure} when the driver refuses anything else.
   */
  public CudaExecutor(CudaDriver driver, CudaDriver.Device device, CudaModule module, MemorySegment host,
      Manifest manifest) {
    this.driver = driver;
    this.device = device;
    this.module = module;
    this.host = host;
    this.context = driver.retainPrimaryContext(device.index());
    try {
      long bytes = host.byteSize();
      long free = driver.memoryInfo()[0];
      ModelTooLargeException.checkFits(manifest, bytes, free, device.toString());
      arena = driver.allocate(bytes);
      driver.copyToDevice(arena, host, bytes);
      loaded = load(driver, device, module);
      counter = memory.allocate(ValueLayout.JAVA_FLOAT);
    } catch (RuntimeException | Error e) {
      close();
      throw e;
    }
  }

  @Override
  public Launch bind(Manifest.Call c) {
    CudaModule.Kernel k = module.kernels().get(c.symbol());
    if (k == null) {
      throw new IllegalStateException("the launch table has no kernel " + c.symbol() + " of the manifest: they come "
          + "from different builds; compile the model again");
    }
    if (k.blocks() != c.extent() || k.blocks() > Integer.MAX_VALUE || k.threads() < 1
        || k.threads() > CudaModule.MAX_THREADS) {
      throw new IllegalStateException("kernel " + c.symbol() + ": the launch table says " + k.blocks() + " blocks of "
          + k.threads() + " threads, the manifest " + c.extent() + " blocks; compile the model again");
    }
    MemorySegment fn = function(driver, loaded, k.entry());
    long[] offsets = k.offsets();
    for (long o : offsets) {
      if (o >= host.byteSize() / Float.BYTES) {
        throw new IllegalStateException("kernel " + c.symbol() + " takes arena offset " + o + ", outside the arena of "
            + host.byteSize() / Float.BYTES + " floats; compile the model again");
      }
    }
    // cuLaunchKernel's arguments: an array of pointers, one to each argument's value.
    MemorySegment values = memory.allocate(ValueLayout.JAVA_LONG, 1 + offsets.length);
    MemorySegment params = memory.allocate(ValueLayout.ADDRESS, 1 + offsets.length);
    values.setAtIndex(ValueLayout.JAVA_LONG, 0, arena);
    for (int i = 0; i < offsets.length; i++) {
      values.setAtIndex(ValueLayout.JAVA_LONG, 1 + i, offsets[i]);
    }
    for (int i = 0; i <= offsets.length; i++) {
      params.setAtIndex(ValueLayout.ADDRESS, i, values.asSlice((long) i * Long.BYTES, Long.BYTES));
    }
    return new GpuLaunch(c.symbol(), fn, (int) k.blocks(), k.threads(), params);
  }

  /** A kernel's launch with its arguments bound. */
  private final class GpuLaunch implements Launch {
    private final String symbol;
    private final MemorySegment fn;
    private final int blocks;
    private final int threads;
    private final MemorySegment params;

    GpuLaunch(String symbol, MemorySegment fn, int blocks, int threads, MemorySegment params) {
      this.symbol = symbol;
      this.fn = fn;
      this.blocks = blocks;
      this.threads = threads;
      this.params = params;
    }

    @Override
    public String symbol() {
      return symbol;
    }

    @Override
    public void run() {
      open();
      int status = driver.launch(fn, blocks, threads, params);
      if (status != 0) {
        throw driver.failure("launching kernel " + symbol + " (" + blocks + " blocks of " + threads + " threads)",
            status, "");
      }
    }
  }

  @Override
  public void setCounter(long offset, float value) {
    open();
    counter.set(ValueLayout.JAVA_FLOAT, 0, value);
    driver.copyToDevice(arena + offset * Float.BYTES, counter, Float.BYTES);
  }

  @Override
  public void written(long offset, long count) {
    open();
    driver.copyToDevice(arena + offset * Float.BYTES, host.asSlice(offset * Float.BYTES, count * Float.BYTES),
        count * Float.BYTES);
  }

  @Override
  public void reading(long offset, long count) {
    open();
    driver.copyToHost(host.asSlice(offset * Float.BYTES, count * Float.BYTES), arena + offset * Float.BYTES,
        count * Float.BYTES);
  }

  /** Waits until every launch so far has finished (a driver failure in one surfaces here). */
  @Override
  public void synchronize() {
    open();
    driver.synchronize();
  }

  /** One host thread issues the launches. */
  @Override
  public int threads() {
    return 1;
  }

  @Override
  public String where() {
    return device.toString();
  }

  private void open() {
    if (closed) {
      throw new IllegalStateException("the model's GPU executor is closed");
    }
    driver.makeCurrent(context);
  }

  /** Frees the arena, unloads the module and releases the context; the first failure is thrown after all are tried. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    RuntimeException first = null;
    try {
      driver.makeCurrent(context);
      if (loaded != null) {
        release(driver, device, module, loaded);
      }
    } catch (RuntimeException e) {
      first = e;
    }
    try {
      if (arena != 0) {
        driver.free(arena);
      }
    } catch (RuntimeException e) {
      first = first == null ? e : first;
    }
    try {
      driver.releasePrimaryContext(device.index());
    } catch (RuntimeException e) {
      first = first == null ? e : first;
    }
    memory.close();
    if (first != null) {
      throw first;
    }
  }
}
