package dev.nnc.runtime;

import dev.nnc.runtime.data.Augment;
import dev.nnc.runtime.data.Dataset;
import java.io.PrintStream;
import java.util.List;
import java.util.SplittableRandom;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * The training loop, like Keras' {@code fit}: epochs of seeded-shuffled batches through the
 * compiled train step, validation through the compiled eval program, a progress bar with the
 * running loss and accuracy, learning-rate schedules and early stopping.
 */
public final class Trainer {
  public static final String TRAIN = "train";
  public static final String EVAL = "eval";

  /** Learning rate per epoch (0-based) from the base rate. */
  public interface Schedule {
    double lr(int epoch, double base);

    static Schedule constant() {
      return (e, b) -> b;
    }

    static Schedule step(int every, double gamma) {
      return (e, b) -> b * Math.pow(gamma, Math.floor((double) e / Math.max(1, every)));
    }

    static Schedule exponential(double gamma) {
      return (e, b) -> b * Math.pow(gamma, e);
    }

    static Schedule cosine(int epochs, double minLr) {
      return (e, b) -> minLr + (b - minLr) * (1 + Math.cos(Math.PI * Math.min(e, epochs) / Math.max(1, epochs))) / 2;
    }
  }

  /** Stop when {@code monitor} has not improved by {@code minDelta} for {@code patience} epochs. */
  public record EarlyStopping(String monitor, int patience, double minDelta) {}

  /**
   * How to train; {@code augment}, when not null, transforms the training batches of the input
   * {@code augmentField} (evaluation never).
   */
  public record Config(int epochs, boolean shuffle, long seed, double lr, Schedule schedule,
      EarlyStopping earlyStopping, boolean progress, String output, String target, double threshold,
      dev.nnc.runtime.data.Augment augment, String augmentField) {
    public Config(int epochs, boolean shuffle, long seed, double lr, Schedule schedule, EarlyStopping earlyStopping,
        boolean progress, String output, String target, double threshold) {
      this(epochs, shuffle, seed, lr, schedule, earlyStopping, progress, output, target, threshold, null, null);
    }
  }

  /**
   * Loss and accuracy over a dataset, with the predicted and true class of each example — or,
   * for segmentation ({@code pixels}: a class per pixel), of each pixel, accuracy being the
   * fraction of pixels right.
   */
  public record Evaluation(double loss, double accuracy, int[] predicted, int[] actual, boolean pixels) {
    public Evaluation(double loss, double accuracy, int[] predicted, int[] actual) {
      this(loss, accuracy, predicted, actual, false);
    }

    public Metrics.Report report(int classes) {
      int[][] cm = new int[classes][classes];
      for (int i = 0; i < predicted.length; i++) {
        if (actual[i] < classes && predicted[i] < classes) {
          cm[actual[i]][predicted[i]]++;
        }
      }
      return new Metrics.Report(cm, accuracy, pixels);
    }
  }

  private final NativeModel model;
  private final Config cfg;
  private final PrintStream out;
  private final int batch;

  public Trainer(NativeModel model, Config cfg, PrintStream out) {
    this.model = model;
    this.cfg = cfg;
    this.out = out;
    this.batch = model.manifest().batch();
  }

  private List<Manifest.Slot> inputs(String program) {
    return model.manifest().program(program).inputs();
  }

  private void checkFields(Dataset d, String program) throws DataException {
    for (Manifest.Slot s : inputs(program)) {
      if (!d.has(s.name())) {
        throw new DataException("the data has no field '" + s.name() + "' that the model's " + program
            + " program needs (it has " + d.fieldNames() + ")");
      }
      long per = s.size() / batch;
      if (d.width(s.name()) != per) {
        throw new DataException("field '" + s.name() + "' has " + d.width(s.name()) + " values per example, the model "
            + "expects " + per);
      }
    }
  }

  /**
   * Where training stands after an epoch: what a checkpoint holds besides the arena (weights and
   * optimizer state). {@code epochs} done so far; the history; early stopping's best monitored
   * value and epochs since it improved; whether early stopping ended the run.
   */
  public record Progress(int epochs, History history, double best, int sinceBest, boolean stopped) {
    public static Progress start() {
      return new Progress(0, new History(), Double.NaN, 0, false);
    }
  }

  /** Called after each epoch, when the arena holds that epoch's weights and optimizer state. */
  public interface EpochListener {
    void epochDone(Progress p) throws java.io.IOException;
  }

  public History fit(Dataset train, Dataset val) throws DataException {
    try {
      return fit(train, val, Progress.start(), p -> { }).history();
    } catch (DataException e) {
      throw e;
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Trains from {@code from} (a fresh start, or a checkpoint's progress with the arena restored):
   * the shuffling generator is advanced past the epochs already done, so that a resumed run sees
   * the same batches as one that never stopped, and the learning rate follows the schedule from
   * the epoch reached.
   */
  public Progress fit(Dataset train, Dataset val, Progress from, EpochListener listener) throws java.io.IOException {
    checkFields(train, TRAIN);
    if (val != null) {
      checkFields(val, EVAL);
    }
    if (train.size() < batch) {
      throw new DataException("the training set has " + train.size() + " examples, fewer than one batch of " + batch
          + "; lower the batch size (`batch` in the recipe, or --batch)");
    }
    History h = from.history();
    SplittableRandom rnd = new SplittableRandom(cfg.seed());
    for (int e = 0; e < from.epochs(); e++) {
      Dataset.permutation(train.size(), rnd);  // the orders of the epochs already trained
    }
    // The last batch of an epoch may be partial: it is completed with the epoch's first examples
    // (the compiled step has a fixed batch), so every example trains once per epoch; metrics count
    // each example once.
    int steps = (train.size() + batch - 1) / batch;
    int[] stepOrder = new int[batch];
    List<Manifest.Slot> ins = inputs(TRAIN);
    float[][] buffers = new float[ins.size()][];
    for (int i = 0; i < ins.size(); i++) {
      buffers[i] = new float[(int) ins.get(i).size()];
    }
    Manifest.Slot outSlot = model.manifest().program(TRAIN).output(cfg.output());
    int outWidth = (int) (outSlot.size() / batch);
    float[] outBuf = new float[(int) outSlot.size()];
    float[] targetBuf = null;
    int targetWidth = train.width(cfg.target());
    // Segmentation: an integer class per pixel; accuracy counts pixels (or a sequence's steps).
    boolean pixels = train.isInteger(cfg.target()) && targetWidth > 1;
    boolean classesLast = classesLast(outSlot);
    double best = from.best();
    int sinceBest = from.sinceBest();
    boolean lowerIsBetter = cfg.earlyStopping() == null || History.Epoch.lowerIsBetter(cfg.earlyStopping().monitor());
    if (from.stopped()) {
      return from;
    }
    for (int epoch = from.epochs(); epoch < cfg.epochs(); epoch++) {
      long t0 = System.nanoTime();
      double lr = cfg.schedule().lr(epoch, cfg.lr());
      model.setParam("lr", new float[] {(float) lr});
      int[] order = Dataset.permutation(train.size(), rnd);
      if (!cfg.shuffle()) {
        for (int i = 0; i < order.length; i++) {
          order[i] = i;
        }
      }
      double lossSum = 0;
      long correct = 0;
      String title = String.format("epoch %" + String.valueOf(cfg.epochs()).length() + "d/%d", epoch + 1, cfg.epochs());
      // The bar is replaced by the epoch's summary line when the epoch ends, as in Keras.
      ProgressBar bar = cfg.progress() ? new ProgressBarBuilder().setTaskName(title).setInitialMax(steps)
          .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(200).clearDisplayOnFinish()
          .setConsumer(new me.tongfei.progressbar.ConsoleProgressBarConsumer(out)).build() : null;
      try {
        long seen = 0;
        for (int s = 0; s < steps; s++) {
          int fresh = Math.min(batch, train.size() - s * batch);
          System.arraycopy(order, s * batch, stepOrder, 0, fresh);
          System.arraycopy(order, 0, stepOrder, fresh, batch - fresh);
          for (int i = 0; i < ins.size(); i++) {
            train.gather(ins.get(i).name(), stepOrder, 0, batch, buffers[i]);
            if (cfg.augment() != null && ins.get(i).name().equals(cfg.augmentField())) {
              cfg.augment().apply(buffers[i], batch, train.shape(cfg.augmentField()), Augment.random(cfg.seed(), epoch, s));
            }
            model.setInput(TRAIN, ins.get(i).name(), buffers[i]);
          }
          model.run(TRAIN);
          float loss = model.output(TRAIN, "loss")[0];
          if (!Float.isFinite(loss)) {
            throw new DataException("the loss became " + loss + " at epoch " + (epoch + 1) + ", step " + (s + 1)
                + ": lower the learning rate or add clip_norm to the recipe");
          }
          lossSum += (double) loss * fresh;
          seen += fresh;
          model.output(TRAIN, cfg.output(), outBuf);
          if (targetBuf == null) {
            targetBuf = new float[batch * targetWidth];
          }
          train.gather(cfg.target(), stepOrder, 0, batch, targetBuf);
          for (int r = 0; r < fresh; r++) {
            if (pixels) {
              correct += Metrics.correctPixels(outBuf, r, outWidth, targetBuf, targetWidth, classesLast);
            } else if (Metrics.predicted(outBuf, r, outWidth, cfg.threshold())
                == Metrics.actual(targetBuf, r, targetWidth, train.isInteger(cfg.target()))) {
              correct++;
            }
          }
          if (bar != null) {
            bar.step();
            bar.setExtraMessage(String.format("loss %.4f acc %.4f", lossSum / seen,
                (double) correct / (seen * (pixels ? targetWidth : 1))));
          }
        }
      } finally {
        if (bar != null) {
          bar.close();
        }
      }
      double loss = lossSum / train.size();
      double acc = (double) correct / ((double) train.size() * (pixels ? targetWidth : 1));
      double vl = Double.NaN;
      double va = Double.NaN;
      if (val != null && val.size() > 0) {
        Evaluation ev = evaluate(val);
        vl = ev.loss();
        va = ev.accuracy();
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      h.add(new History.Epoch(epoch + 1, loss, acc, vl, va, lr, secs));
      out.println(String.format("%s  loss %.4f  accuracy %.4f%s  lr %.3g  %.1fs", title, loss, acc,
          Double.isNaN(vl) ? "" : String.format("  val_loss %.4f  val_accuracy %.4f", vl, va), lr, secs));
      if (cfg.earlyStopping() != null) {
        double m = h.epochs().getLast().metric(cfg.earlyStopping().monitor());
        boolean improved = Double.isNaN(best)
            || (lowerIsBetter ? m < best - cfg.earlyStopping().minDelta() : m > best + cfg.earlyStopping().minDelta());
        if (improved) {
          best = m;
          sinceBest = 0;
        } else if (++sinceBest >= cfg.earlyStopping().patience()) {
          out.println("early stopping: " + cfg.earlyStopping().monitor() + " has not improved for "
              + cfg.earlyStopping().patience() + " epochs");
          Progress p = new Progress(epoch + 1, h, best, sinceBest, true);
          listener.epochDone(p);
          return p;
        }
      }
      listener.epochDone(new Progress(epoch + 1, h, best, sinceBest, false));
    }
    return new Progress(Math.max(from.epochs(), cfg.epochs()), h, best, sinceBest, false);
  }

  /**
   * Whether an output's class scores are its last axis, a class per step of a sequence
   * ({@code [T, C]} per example), rather than its first, a class per pixel ({@code [C, H, W]}).
   */
  static boolean classesLast(Manifest.Slot out) {
    return out.shape().length == 3;
  }

  /** Runs the eval program over {@code d} in batches (the last one padded) and scores it. */
  public Evaluation evaluate(Dataset d) throws DataException {
    checkFields(d, EVAL);
    List<Manifest.Slot> ins = inputs(EVAL);
    float[][] buffers = new float[ins.size()][];
    for (int i = 0; i < ins.size(); i++) {
      buffers[i] = new float[(int) ins.get(i).size()];
    }
    int[] order = new int[d.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Manifest.Slot outSlot = model.manifest().program(EVAL).output(cfg.output());
    int outWidth = (int) (outSlot.size() / batch);
    int targetWidth = d.width(cfg.target());
    float[] outBuf = new float[(int) outSlot.size()];
    float[] lossBuf = new float[batch];
    float[] targetBuf = new float[batch * targetWidth];
    boolean pixels = d.isInteger(cfg.target()) && targetWidth > 1;
    boolean classesLast = classesLast(outSlot);
    int unit = pixels ? targetWidth : 1;
    if ((long) d.size() * unit > Integer.MAX_VALUE - 8) {
      throw new DataException("too many pixels to score at once: " + d.size() + " images of " + unit + " pixels");
    }
    int[] predicted = new int[d.size() * unit];
    int[] actual = new int[d.size() * unit];
    double lossSum = 0;
    long correct = 0;
    for (int start = 0; start < d.size(); start += batch) {
      int n = Math.min(batch, d.size() - start);
      for (int i = 0; i < ins.size(); i++) {
        d.gather(ins.get(i).name(), order, start, n, buffers[i]);
        NativeModel.padBatch(buffers[i], n, buffers[i].length / batch);
        model.setInput(EVAL, ins.get(i).name(), buffers[i]);
      }
      model.run(EVAL);
      model.output(EVAL, "loss_per_example", lossBuf);
      model.output(EVAL, cfg.output(), outBuf);
      d.gather(cfg.target(), order, start, n, targetBuf);
      for (int r = 0; r < n; r++) {
        lossSum += lossBuf[r];
        if (pixels) {
          Metrics.pixelClasses(outBuf, r, outWidth, targetWidth, predicted, (start + r) * unit, classesLast);
          for (int p = 0; p < unit; p++) {
            actual[(start + r) * unit + p] = (int) targetBuf[r * unit + p];
            correct += predicted[(start + r) * unit + p] == actual[(start + r) * unit + p] ? 1 : 0;
          }
          continue;
        }
        predicted[start + r] = Metrics.predicted(outBuf, r, outWidth, cfg.threshold());
        actual[start + r] = Metrics.actual(targetBuf, r, targetWidth, d.isInteger(cfg.target()));
        if (predicted[start + r] == actual[start + r]) {
          correct++;
        }
      }
    }
    return new Evaluation(lossSum / d.size(), (double) correct / ((double) d.size() * unit), predicted, actual, pixels);
  }
}
