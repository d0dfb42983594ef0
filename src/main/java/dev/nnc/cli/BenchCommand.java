package dev.nnc.cli;

import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Recipe;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code nnc bench}: times inference and one training step of the generated code beside the same
 * network in a library engine (libtorch), built from the same graph with the same weights, inputs
 * and threads, after checking that both compute the same outputs.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "Time inference and one training step of the generated code beside the same network in "
        + "libtorch (built from the same graph, same weights, inputs and threads), after checking that both "
        + "compute the same outputs; prints milliseconds and the speed-up.")
final class BenchCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  @Mixin
  DeviceOption device;

  @Option(names = "--batch", converter = Positive.class, paramLabel = "N",
      description = "batch size (default: the recipe's, else 1)")
  Integer batch;

  @Option(names = "--threads", converter = Positive.class, paramLabel = "T",
      description = "threads for both engines (default: all cores)")
  Integer threads;

  @Option(names = "--vs", paramLabel = "ENGINE", defaultValue = "torch",
      description = "the engine beside nnc: torch (libtorch), or none to time nnc alone (default: ${DEFAULT-VALUE})")
  String vs;

  @Option(names = "--time", paramLabel = "SECONDS", defaultValue = "2",
      description = "measuring time per workload and engine, after a warm-up of at least 1 s and 3 runs; "
          + "the engines take turns of 0.25 s (default: ${DEFAULT-VALUE})")
  double time;

  @Option(names = "--seed", defaultValue = "1", description = "seed of the weights and inputs (default: ${DEFAULT-VALUE})")
  long seed;

  /** Relative tolerance of the output check (f32 engines with different summation orders). */
  static final double TOLERANCE = 1e-3;

  @Override
  public Integer call() throws Exception {
    device.require();
    if (!(time > 0) || time > 3600) {
      throw new UserError("--time must be between 0 and 3600 seconds, got " + time);
    }
    Session s = Session.open(opts.file, opts.model);
    Recipe r = s.recipe;
    int b = batch != null ? batch : r != null ? r.batch() : 1;
    int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    Baseline engine = vs.equals("none") ? null : find(vs);
    Recipe recipe = r == null ? null : s.recipe(1, b);
    ModelCompiler.Result res = device.compile(s, recipe, b, System.out);
    String out = Session.primaryOutput(res.forward());
    try (NativeModel nnc = device.load(res, t)) {
      nnc.initParams(seed);
      Map<String, float[]> inputs = inputs(res.manifest(), out, seed);
      // Programs share the arena beyond the parameters: a program's inputs are set before it
      // runs after another program (its inputs then stay put across its own runs).
      Runnable predict = () -> {
        feed(nnc, res.manifest(), ModelCompiler.PREDICT, inputs);
        nnc.run(ModelCompiler.PREDICT);
      };
      Runnable step = () -> {
        feed(nnc, res.manifest(), ModelCompiler.TRAIN, inputs);
        nnc.run(ModelCompiler.TRAIN);
      };
      boolean train = res.manifest().programs().containsKey(ModelCompiler.TRAIN);
      System.out.printf("bench %s: batch %d, %s%s%n", res.manifest().model(), b,
          device.cuda() ? nnc.where() : t + " thread" + (t == 1 ? "" : "s"),
          engine == null ? "" : ", beside " + engine.describe());
      // A GPU runs the launches asynchronously: a timed run ends when its kernels have.
      Runnable infer = () -> {
        nnc.run(ModelCompiler.PREDICT);
        nnc.synchronize();
      };
      Runnable trainStep = () -> {
        nnc.run(ModelCompiler.TRAIN);
        nnc.synchronize();
      };
      if (engine == null) {
        report(rows(row("inference", predict, infer, null),
            train ? row("training step", step, trainStep, null) : null));
        return 0;
      }
      Map<String, float[]> weights = new LinkedHashMap<>();
      for (Manifest.ParamSlot p : res.manifest().params()) {
        if (p.saved()) {
          weights.put(p.name(), nnc.param(p.name()));
        }
      }
      Elaborated inference = Elaborator.elaborate(s.program, s.modelName, b, LayerContext.Mode.INFER, null);
      Elaborated training = recipe == null ? null
          : Elaborator.elaborate(s.program, s.modelName, b, LayerContext.Mode.TRAIN, recipe);
      Baseline.Model built;
      try {
        built = engine.build(new Baseline.Spec(inference, training, recipe, weights, t));
      } catch (UnsupportedOperationException e) {
        throw new UserError(opts.file + ": " + e.getMessage());
      }
      try (Baseline.Model base = built) {
        inputs.forEach(base::setInput);
        System.out.println(base.summary());
        check(nnc, predict, step, base, out, train);
        report(rows(row("inference", predict, infer, () -> base.infer(out)),
            train ? row("training step", step, trainStep, base::trainStep) : null));
      }
    }
    return 0;
  }

  static Baseline find(String name) {
    List<String> found = new ArrayList<>();
    for (Baseline b : ServiceLoader.load(Baseline.class)) {
      if (b.name().equals(name)) {
        return b;
      }
      found.add(b.name());
    }
    if (found.isEmpty()) {
      throw new UserError("nnc bench --vs " + name + " needs the libtorch baseline, which is in the bench module "
          + "(the compiler itself never loads libtorch): run ./nnc bench from the source tree, which builds bench/ "
          + "on first use, or --vs none to time nnc alone");
    }
    throw new UserError("no baseline engine named '" + name + "'; available: " + String.join(", ", found)
        + ", or none");
  }

  /** Random inputs by name: normal features, class numbers for integer inputs (labels). */
  static Map<String, float[]> inputs(Manifest m, String primary, long seed) {
    Map<String, float[]> in = new LinkedHashMap<>();
    int[] os = m.program(ModelCompiler.PREDICT).output(primary).shape();
    int classes = os.length > 1 && os[os.length - 1] > 1 ? os[os.length - 1] : 2;
    Random rnd = new Random(seed);
    for (Manifest.Program p : m.programs().values()) {
      for (Manifest.Slot s : p.inputs()) {
        if (in.containsKey(s.name())) {
          continue;
        }
        float[] v = new float[(int) s.size()];
        int bound = s.integer() ? (s.bound() > 0 ? s.bound() : classes) : 0;
        // Integers in the slot's range [min, bound): token ids and classes from 0, sequence lengths from 1.
        int min = s.integer() ? Math.min(s.min(), bound - 1) : 0;
        for (int i = 0; i < v.length; i++) {
          v[i] = s.integer() ? min + rnd.nextInt(bound - min) : (float) rnd.nextGaussian();
        }
        in.put(s.name(), v);
      }
    }
    return in;
  }

  /** Both engines compute the same function, or the timings mean nothing. */
  static void feed(NativeModel nnc, Manifest m, String program, Map<String, float[]> inputs) {
    for (Manifest.Slot sl : m.program(program).inputs()) {
      nnc.setInput(program, sl.name(), inputs.get(sl.name()));
    }
  }

  static void check(NativeModel nnc, Runnable predict, Runnable step, Baseline.Model base, String out,
      boolean train) {
    predict.run();
    float[] ours = nnc.output(ModelCompiler.PREDICT, out);
    float[] theirs = base.infer(out);
    double worst = 0;
    for (int i = 0; i < ours.length; i++) {
      double d = Math.abs(ours[i] - theirs[i]) / Math.max(1, Math.abs(theirs[i]));
      if (!(d <= TOLERANCE)) {
        throw new IllegalStateException("nnc and the baseline differ at " + out + "[" + i + "]: " + ours[i] + " vs "
            + theirs[i] + " (the baseline's translation of the model or the compiler is wrong; please report it)");
      }
      worst = Math.max(worst, d);
    }
    String line = String.format("check: %s agree (%d values, largest difference %.1e relative)", out, ours.length,
        worst);
    if (train) {
      step.run();
      double ourLoss = nnc.output(ModelCompiler.TRAIN, dev.nnc.passes.TrainingGraph.LOSS)[0];
      double theirLoss = base.trainStep();
      if (base.deterministicTraining()) {
        if (!(Math.abs(ourLoss - theirLoss) <= TOLERANCE * Math.max(1, Math.abs(theirLoss)))) {
          throw new IllegalStateException(String.format("nnc and the baseline differ in the first training step's "
              + "loss: %.6f vs %.6f (please report it)", ourLoss, theirLoss));
        }
        line += String.format("; first training step loss %.5f and %.5f", ourLoss, theirLoss);
      } else {
        line += "; training losses not compared (dropout draws different masks)";
      }
    }
    System.out.println(line);
  }

  /** A workload: {@code first} sets nnc's inputs and runs once, then {@code nnc} is timed, and {@code base}. */
  record Row(String name, Runnable first, Runnable nnc, Runnable base) {}

  /** The rows that are there (a model without a recipe has no training step). */
  static List<Row> rows(Row... rows) {
    List<Row> out = new ArrayList<>();
    for (Row r : rows) {
      if (r != null) {
        out.add(r);
      }
    }
    return out;
  }

  static Row row(String name, Runnable first, Runnable nnc, Runnable base) {
    return new Row(name, first, nnc, base);
  }

  /** Median and the 10th–90th percentile spread of a workload's run times in ms. */
  record Timing(double median, double low, double high, int runs) {
    String text() {
      return ms(median) + " (" + ms(low) + "–" + ms(high) + ")";
    }

    /** Milliseconds to four significant digits, never in exponent form (0.0004213, 12.35, 1126). */
    static String ms(double v) {
      return new java.math.BigDecimal(v).round(new java.math.MathContext(4)).stripTrailingZeros().toPlainString();
    }
  }

  /**
   * Seconds each engine runs in one turn: the engines take turns until each has run for
   * {@code --time}, so that the machine's drift (on shared machines the same work varies by tens
   * of percent over seconds) falls on both alike instead of on whichever ran second.
   */
  static final double TURN_SECONDS = 0.25;

  /** Warm-up: at least 3 runs and 1 s, while the JVM's compiler threads settle. */
  static void warm(Runnable work) {
    long start = System.nanoTime();
    int warm = 0;
    while (warm < 3 || System.nanoTime() - start < 1_000_000_000L) {
      work.run();
      warm++;
    }
  }

  /**
   * One turn of {@code work}: a run that is not counted (it brings the engine's data back into
   * the caches the other engine used), then runs for {@link #TURN_SECONDS}; returns the seconds measured.
   */
  static double turn(Runnable work, List<Double> ms, double seconds) {
    work.run();
    long t0 = System.nanoTime();
    do {
      long a = System.nanoTime();
      work.run();
      ms.add((System.nanoTime() - a) / 1e6);
    } while (System.nanoTime() - t0 < (long) (seconds * 1e9));
    return (System.nanoTime() - t0) / 1e9;
  }

  /**
   * The timings of {@code nnc} and of {@code base} (null: none), each warmed up, then in turns
   * until each has run at least {@code --time} seconds and 5 times.
   */
  Timing[] measure(Runnable nnc, Runnable base) {
    warm(nnc);
    if (base != null) {
      warm(base);
    }
    List<Double> ours = new ArrayList<>();
    List<Double> theirs = new ArrayList<>();
    double spentOurs = 0;
    double spentTheirs = 0;
    double slice = Math.min(TURN_SECONDS, time);
    while (spentOurs < time || ours.size() < 5 || base != null && (spentTheirs < time || theirs.size() < 5)) {
      if (spentOurs < time || ours.size() < 5) {
        spentOurs += turn(nnc, ours, slice);
      }
      if (base != null && (spentTheirs < time || theirs.size() < 5)) {
        spentTheirs += turn(base, theirs, slice);
      }
    }
    return new Timing[] {timing(ours), base == null ? null : timing(theirs)};
  }

  static Timing timing(List<Double> ms) {
    double[] v = ms.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    return new Timing(v[v.length / 2], v[(int) (v.length * 0.1)], v[Math.min(v.length - 1, (int) (v.length * 0.9))],
        v.length);
  }

  void report(List<Row> rows) {
    List<String[]> lines = new ArrayList<>();
    lines.add(new String[] {"", "nnc ms (p10–p90)", "baseline ms (p10–p90)", "speed-up"});
    for (Row r : rows) {
      r.first().run();
      Timing[] t = measure(r.nnc(), r.base());
      Timing ours = t[0];
      if (r.base() == null) {
        lines.add(new String[] {r.name(), ours.text(), "—", "—"});
        continue;
      }
      Timing theirs = t[1];
      lines.add(new String[] {r.name(), ours.text(), theirs.text(),
          String.format("%.2fx", theirs.median() / ours.median())});
    }
    int[] w = new int[4];
    for (String[] l : lines) {
      for (int i = 0; i < 4; i++) {
        w[i] = Math.max(w[i], l[i].length());
      }
    }
    for (String[] l : lines) {
      System.out.printf("%-" + w[0] + "s  %" + w[1] + "s  %" + w[2] + "s  %" + w[3] + "s%n", (Object[]) l);
    }
    System.out.println("(medians of runs after a warm-up, the engines taking turns; speed-up = baseline median / nnc median)");
  }
}
