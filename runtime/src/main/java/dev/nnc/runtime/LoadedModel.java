package dev.nnc.runtime;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A model compiled ahead of time, loaded from the folder {@code nnc compile} wrote, and safe to
 * call from many threads at once — the class a generated model class wraps.
 *
 * <p>The contract: {@link #predict} may be called concurrently from any number of threads;
 * concurrent calls run in parallel, each on its own activation arena (a <em>context</em>), over
 * the weights of the model. {@link #trainStep}, {@link #setLearningRate} and {@link #close}
 * are exclusive: they wait for the predictions in flight, and predictions that start later see
 * the new weights. So every prediction is computed entirely with the weights of one point in
 * time, between two training steps, and never with half-updated ones.
 *
 * <p>How: one arena, the primary, owns the weights and the optimizer state and runs the
 * training step on the worker pool; a caller of {@code predict} takes an idle context (the
 * primary first, so a single caller keeps all cores), or creates one (single-threaded, with its
 * own arena) up to one per core; a context whose copy of the weights is older than the last
 * training step copies them first. Contexts are reused, so memory grows only with the number of
 * concurrent callers, up to {@code contexts} arenas.
 */
public final class LoadedModel implements AutoCloseable {
  public static final String PREDICT = "predict";
  public static final String TRAIN = "train";

  private static final class Context {
    final NativeModel model;
    /** The weights' version this context holds. */
    long version;

    Context(NativeModel model, long version) {
      this.model = model;
      this.version = version;
    }
  }

  private final Manifest manifest;
  /** A new arena of the model with its kernels, on the device it was compiled for ({@code threads}: the CPU's). */
  private final java.util.function.IntFunction<NativeModel> arenas;
  private final NativeModel primary;
  private final int maxContexts;
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private final LinkedBlockingDeque<Context> idle = new LinkedBlockingDeque<>();
  private final List<Context> contexts = new ArrayList<>();
  /** Bumped (under the write lock) whenever the weights change. */
  private long version;
  private boolean closed;

  private LoadedModel(Manifest manifest, java.util.function.IntFunction<NativeModel> arenas, NativeModel primary,
      int maxContexts) {
    this.manifest = manifest;
    this.arenas = arenas;
    this.primary = primary;
    this.maxContexts = Math.max(1, maxContexts);
    Context c = new Context(primary, 0);
    contexts.add(c);
    idle.add(c);
  }

  /**
   * Loads {@code dir}: its manifest, the library it names (checked against the manifest's hash
   * and the host CPU), and its weights (every one present, with its shape). A folder compiled for
   * a GPU ({@code nnc compile --target cuda}) runs on the first GPU the CUDA driver shows, each
   * context with its arena in the GPU's memory; without a driver or a GPU able to run its PTX,
   * {@link IllegalStateException} says so and what to do.
   *
   * @param threads threads of the primary arena's worker pool (training, and a lone caller's predictions)
   * @param contexts the most arenas that run predictions at once (concurrent callers beyond it wait)
   */
  public static LoadedModel load(Path dir, int threads, int contexts) throws IOException {
    Manifest m = Manifest.read(dir.resolve(Manifest.FILE));
    java.util.function.IntFunction<NativeModel> arenas;
    if (m.target() != null && m.target().triple().equals(dev.nnc.runtime.cuda.CudaModels.TRIPLE)) {
      arenas = dev.nnc.runtime.cuda.CudaModels.open(m, dir);
    } else {
      KernelLibrary lib = m.openLibrary(dir);
      arenas = t -> new NativeModel(m, lib, t);
    }
    // Weights are read and checked before anything native is allocated.
    Map<String, SafeTensors.Entry> weights = SafeTensors.readFor(m, dir.resolve(WEIGHTS));
    NativeModel nm = arenas.apply(threads);
    try {
      nm.initParams(0);
      weights.forEach((name, e) -> nm.setParam(name, e.data()));
    } catch (RuntimeException | Error e) {
      nm.close();
      throw e;
    }
    return new LoadedModel(m, arenas, nm, contexts);
  }

  /** Where the model's kernels run: CPU threads, or the GPU. */
  public String where() {
    return primary.where();
  }

  /** The weights file of a compiled folder. */
  public static final String WEIGHTS = "weights.safetensors";

  public Manifest manifest() {
    return manifest;
  }

  /**
   * Runs the predict program over {@code n} examples (any n ≥ 1; split into batches, the last
   * padded). {@code inputs} are in the order of the program's inputs, each n × (values per
   * example); returns the first output, n × its values per example. Safe to call concurrently.
   */
  public float[] predict(float[]... inputs) {
    Manifest.Program p = manifest.program(PREDICT);
    int batch = manifest.batch();
    if (inputs.length != p.inputs().size()) {
      throw new IllegalArgumentException("predict takes " + p.inputs().size() + " inputs "
          + p.inputs().stream().map(Manifest.Slot::name).toList() + ", got " + inputs.length);
    }
    int n = -1;
    for (int i = 0; i < inputs.length; i++) {
      Manifest.Slot s = p.inputs().get(i);
      long per = s.size() / batch;
      if (inputs[i] == null || inputs[i].length == 0 || inputs[i].length % per != 0) {
        throw new IllegalArgumentException("input " + s.name() + " has " + (inputs[i] == null ? 0 : inputs[i].length)
            + " values, not a positive multiple of " + per);
      }
      int ni = (int) (inputs[i].length / per);
      if (n >= 0 && ni != n) {
        throw new IllegalArgumentException("input " + s.name() + " holds " + ni + " examples, "
            + p.inputs().get(0).name() + " holds " + n);
      }
      n = ni;
    }
    Manifest.Slot out = p.outputs().get(0);
    int outPer = (int) (out.size() / batch);
    float[] result = new float[n * outPer];
    lock.readLock().lock();
    try {
      ensureOpen();
      Context c = acquire();
      try {
        if (c.version != version) {
          c.model.copyWeightsFrom(primary);
          c.version = version;
        }
        float[] outBuf = new float[batch * outPer];
        float[][] inBufs = new float[inputs.length][];
        for (int i = 0; i < inputs.length; i++) {
          inBufs[i] = new float[(int) p.inputs().get(i).size()];
        }
        for (int start = 0; start < n; start += batch) {
          int k = Math.min(batch, n - start);
          for (int i = 0; i < inputs.length; i++) {
            int per = (int) (p.inputs().get(i).size() / batch);
            System.arraycopy(inputs[i], start * per, inBufs[i], 0, k * per);
            NativeModel.padBatch(inBufs[i], k, per);
            c.model.setInput(PREDICT, p.inputs().get(i).name(), inBufs[i]);
          }
          c.model.run(PREDICT);
          c.model.output(PREDICT, out.name(), outBuf);
          System.arraycopy(outBuf, 0, result, start * outPer, k * outPer);
        }
      } finally {
        idle.offerFirst(c);
      }
    } finally {
      lock.readLock().unlock();
    }
    return result;
  }

  /** An idle context, a new one while fewer than {@code maxContexts} exist, or the next to come free. */
  private Context acquire() {
    Context c = idle.pollFirst();
    if (c != null) {
      return c;
    }
    synchronized (contexts) {
      if (contexts.size() < maxContexts) {
        // Single-threaded: concurrent callers already use the cores.
        c = new Context(arenas.apply(1), -1);
        contexts.add(c);
        return c;
      }
    }
    try {
      return idle.takeFirst();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for a free context of " + manifest.model(), e);
    }
  }

  /** The step program of a model with recurrent layers (see {@link #step}). */
  public static final String STEP = "step";

  /**
   * The step program's inputs that hold a recurrent state, in order: each {@code X0} is given back
   * by the output {@code X} of the same step (empty without a step program).
   */
  public List<String> stepStates() {
    if (!manifest.programs().containsKey(STEP)) {
      return List.of();
    }
    Manifest.Program p = manifest.program(STEP);
    return p.inputs().stream().map(Manifest.Slot::name)
        .filter(n -> n.endsWith("0") && p.output(n.substring(0, n.length() - 1)) != null).toList();
  }

  /** The step program's inputs that are not states (one element of each sequence), in order. */
  public List<String> stepInputs() {
    List<String> states = stepStates();
    return manifest.program(STEP).inputs().stream().map(Manifest.Slot::name).filter(n -> !states.contains(n)).toList();
  }

  /**
   * One step of a model with recurrent layers for exactly {@code BATCH} sequences: {@code inputs}
   * are one element of each (the step program's inputs that are not states, in order),
   * {@code states} the recurrent states in the order of {@link #stepStates} (zeros to start a
   * sequence), replaced by the states after this step. Returns the first output (the step's
   * logits). The states belong to the caller, so calls for different sequences may run
   * concurrently, each on its own context, like {@link #predict}.
   */
  public float[] step(float[][] states, float[]... inputs) {
    if (!manifest.programs().containsKey(STEP)) {
      throw new IllegalStateException("model " + manifest.model() + " has no step program (no recurrent layers, or "
          + "a bidirectional one)");
    }
    Manifest.Program p = manifest.program(STEP);
    List<String> stateNames = stepStates();
    List<String> inputNames = stepInputs();
    if (states.length != stateNames.size() || inputs.length != inputNames.size()) {
      throw new IllegalArgumentException("step takes " + stateNames.size() + " states " + stateNames + " and "
          + inputNames.size() + " inputs " + inputNames + ", got " + states.length + " and " + inputs.length);
    }
    lock.readLock().lock();
    try {
      ensureOpen();
      Context c = acquire();
      try {
        if (c.version != version) {
          c.model.copyWeightsFrom(primary);
          c.version = version;
        }
        for (int i = 0; i < inputs.length; i++) {
          c.model.setInput(STEP, inputNames.get(i), inputs[i]);
        }
        for (int i = 0; i < states.length; i++) {
          c.model.setInput(STEP, stateNames.get(i), states[i]);
        }
        c.model.run(STEP);
        for (int i = 0; i < states.length; i++) {
          String out = stateNames.get(i);
          c.model.output(STEP, out.substring(0, out.length() - 1), states[i]);
        }
        return c.model.output(STEP, p.outputs().get(0).name());
      } finally {
        idle.offerFirst(c);
      }
    } finally {
      lock.readLock().unlock();
    }
  }

  /**
   * One compiled training step on exactly {@code BATCH} examples, inputs in the order of the train
   * program's; integer inputs (labels) as whole numbers within their bound. Returns the batch's
   * mean loss. Exclusive: waits for predictions in flight.
   */
  public float trainStep(float[]... inputs) {
    Manifest.Program p = manifest.program(TRAIN);
    if (inputs.length != p.inputs().size()) {
      throw new IllegalArgumentException("trainStep takes " + p.inputs().size() + " inputs "
          + p.inputs().stream().map(Manifest.Slot::name).toList() + ", got " + inputs.length);
    }
    lock.writeLock().lock();
    try {
      ensureOpen();
      // Every input is checked before any is copied in, so a rejected call changes nothing.
      for (int i = 0; i < inputs.length; i++) {
        primary.checkInput(TRAIN, p.inputs().get(i).name(), inputs[i]);
      }
      for (int i = 0; i < inputs.length; i++) {
        primary.setInput(TRAIN, p.inputs().get(i).name(), inputs[i]);
      }
      primary.run(TRAIN);
      version++;
      return primary.output(TRAIN, "loss")[0];
    } finally {
      lock.writeLock().unlock();
    }
  }

  public void setLearningRate(double lr) {
    if (!(lr >= 0) || Double.isInfinite(lr)) {
      throw new IllegalArgumentException("learning rate must be a finite number ≥ 0, got " + lr);
    }
    lock.writeLock().lock();
    try {
      ensureOpen();
      primary.setParam("lr", new float[] {(float) lr});
    } finally {
      lock.writeLock().unlock();
    }
  }

  /** The weights (trainable and frozen, not optimizer state), by {@code nnc summary} names. */
  public Map<String, SafeTensors.Entry> weights() {
    lock.readLock().lock();
    try {
      ensureOpen();
      Map<String, SafeTensors.Entry> w = new LinkedHashMap<>();
      for (Manifest.ParamSlot s : manifest.params()) {
        if (s.saved()) {
          w.put(s.name(), new SafeTensors.Entry(s.shape(), primary.param(s.name())));
        }
      }
      return w;
    } finally {
      lock.readLock().unlock();
    }
  }

  /** Writes the weights as safetensors (whole or not at all). */
  public void saveWeights(Path file) throws IOException {
    SafeTensors.write(file, weights(), Map.of("model", manifest.model()));
  }

  /** Number of arenas created so far (for tests and monitoring). */
  public int contexts() {
    synchronized (contexts) {
      return contexts.size();
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("model " + manifest.model() + " is closed");
    }
  }

  /** Waits for calls in flight, then frees every arena; later calls fail with IllegalStateException. */
  @Override
  public void close() {
    lock.writeLock().lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      synchronized (contexts) {
        for (Context c : contexts) {
          c.model.close();
        }
      }
    } finally {
      lock.writeLock().unlock();
    }
  }
}
