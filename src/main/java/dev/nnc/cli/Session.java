package dev.nnc.cli;

import dev.nnc.frontend.CompileException;
import dev.nnc.frontend.DataSpec;
import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.Node;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.SafeTensors;
import dev.nnc.runtime.Trainer;
import dev.nnc.runtime.data.Csv;
import dev.nnc.runtime.data.Dataset;
import dev.nnc.runtime.data.FashionMnist;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** One {@code .nn} file being worked on: parsed, checked, compiled, with its data. */
final class Session {
  final SourceFile source;
  final Program program;
  final String modelName;
  final Recipe recipe;

  private Session(SourceFile source, Program program, String modelName, Recipe recipe) {
    this.source = source;
    this.program = program;
    this.modelName = modelName;
    this.recipe = recipe;
  }

  static Session open(Path file, String model) throws CompileException {
    SourceFile src;
    try {
      src = SourceFile.read(file);
    } catch (NoSuchFileException e) {
      throw new UserError(file + ": no such file");
    } catch (SourceFile.MalformedSourceException e) {
      throw new UserError(e.getMessage());
    } catch (IOException e) {
      throw new UserError(file + ": cannot read (" + e.getMessage() + ")");
    }
    Program p = Program.parse(src);
    if (model != null && !p.models().containsKey(model)) {
      throw new UserError("no model named '" + model + "' in " + file + " (it defines " + p.models().keySet() + ")");
    }
    Recipe r = Elaborator.recipe(p, model);
    // Warnings (values never used) once per command, before anything is compiled.
    Elaborated e = Elaborator.elaborate(p, model, 1, LayerContext.Mode.INFER, null);
    for (var w : e.warnings()) {
      System.err.print(w.render(src, "warning"));
    }
    System.err.flush();
    return new Session(src, p, model, r);
  }

  Recipe requireRecipe() {
    if (recipe == null) {
      throw new UserError(source.name() + " has no `train` block for its model; add one (see docs/language.md)");
    }
    return recipe;
  }

  /** The recipe with command-line overrides applied. */
  Recipe recipe(Integer epochs, Integer batch) {
    Recipe r = requireRecipe();
    return new Recipe(r.model(), r.data(), r.loss(), r.optimizer(), r.schedule(), batch != null ? batch : r.batch(),
        epochs != null ? epochs : r.epochs(), r.metrics(), r.l1(), r.l2(), r.clipValue(), r.clipNorm(), r.shuffle(),
        r.validationSplit(), r.earlyStopping(), r.seed(), r.freeze(), r.augment());
  }

  Elaborated forward(int batch) throws CompileException {
    return Elaborator.elaborate(program, modelName, batch, LayerContext.Mode.INFER, null);
  }

  ModelCompiler.Result compile(Recipe r, int batch, PrintStream log) throws CompileException {
    return compile(r, batch, log, Backend.NATIVE);
  }

  ModelCompiler.Result compile(Recipe r, int batch, PrintStream log, String cpu) throws CompileException {
    long t0 = System.nanoTime();
    ModelCompiler.Result res = ModelCompiler.compile(program, modelName, r, batch, Backend.find("cpu"), cpu);
    int kernels = res.manifest().programs().values().stream().mapToInt(p -> p.calls().size()).sum();
    if (log != null) {
      String report = res.compiled().report();
      log.printf("compiled %s: %d programs, %d native kernels, arena %.1f MiB, in %.1fs%s%n", res.manifest().model(),
          res.manifest().programs().size(), kernels, res.manifest().arenaFloats() * 4 / 1048576.0,
          (System.nanoTime() - t0) / 1e9, report.isEmpty() ? "" : " (" + report + ")");
    }
    return res;
  }

  static NativeModel load(ModelCompiler.Result res, int threads) {
    return new NativeModel(res.manifest(), KernelLibrary.ofAddresses(res.compiled().jit()), threads);
  }

  /** Train and test data for the recipe's data source; {@code override} replaces its location. */
  Dataset[] data(Recipe r, Path override) throws IOException, CompileException {
    DataSpec d = r.data();
    switch (d.kind()) {
      case "fashion_mnist" -> {
        Path embedded = source.resolve("data/fashion-mnist");
        Path dir = FashionMnist.locate(override, embedded);
        FashionMnist.Splits s = FashionMnist.load(dir, d.flatten());
        return new Dataset[] {s.train(), s.test()};
      }
      case "csv" -> {
        Path file = override != null ? override : Path.of(d.path());
        Dataset all = Csv.load(file, d.featureField(), d.featureColumns(), d.labelColumn(), d.targetColumns(),
            d.labelColumn() == null ? 0 : classes(r));
        return new Dataset[] {all, all};
      }
      case "synthetic" -> {
        if (override != null) {
          throw new UserError("--data does not apply to synthetic data (it has no files)");
        }
        Elaborated train = Elaborator.elaborate(program, modelName, 1, LayerContext.Mode.TRAIN, r);
        Node in = train.graph().input(d.featureField());
        int[] shape = in.shape().dropFirst().dims();
        int classes = Math.max(1, classes(train));
        return new Dataset[] {Dataset.synthetic(d.examples(), d.featureField(), shape, classes, r.seed()),
            Dataset.synthetic(d.examples(), d.featureField(), shape, classes, r.seed() + 1)};
      }
      case "shapes" -> {
        if (override != null) {
          throw new UserError("--data does not apply to shapes data (it is generated)");
        }
        return new Dataset[] {dev.nnc.runtime.data.Shapes.generate(d.examples(), d.size(), r.seed()),
            dev.nnc.runtime.data.Shapes.generate(Math.max(1, d.examples() / 5), d.size(), r.seed() + 1)};
      }
      default -> throw new UserError("unknown data source " + d.kind());
    }
  }

  /**
   * The class count the recipe's labels index ({@code [0, classes)}), from the ops that read the
   * label input of the training graph (see {@code Op.indexBound}); 0 when nothing bounds it.
   */
  int classes(Recipe r) throws CompileException {
    return classes(Elaborator.elaborate(program, modelName, 1, LayerContext.Mode.TRAIN, r));
  }

  /** {@link #classes(Recipe)} of a model already elaborated for training. */
  private static int classes(Elaborated train) {
    Node label = train.graph().inputs().stream()
        .filter(n -> ((dev.nnc.ir.ops.Input) n.op()).name().equals("label")).findFirst().orElse(null);
    return label == null ? 0 : ModelCompiler.indexBound(train.graph(), label);
  }

  /** The recipe's augmentation for the runtime; null when it has none. */
  static dev.nnc.runtime.data.Augment augment(Recipe r) {
    if (r.augment().isEmpty()) {
      return null;
    }
    java.util.List<dev.nnc.runtime.data.Augment.Transform> ts = new java.util.ArrayList<>();
    for (Recipe.Augmentation a : r.augment()) {
      ts.add(switch (a.kind()) {
        case "random_crop" -> new dev.nnc.runtime.data.Augment.RandomCrop(a.amount());
        case "translate" -> new dev.nnc.runtime.data.Augment.Translate(a.amount());
        case "flip_horizontal" -> new dev.nnc.runtime.data.Augment.FlipHorizontal();
        default -> throw new IllegalStateException("augmentation " + a.kind());
      });
    }
    return new dev.nnc.runtime.data.Augment(ts);
  }

  static String dataDescription(Recipe r, Path override, Dataset train) {
    return r.data().kind() + " (" + train.size() + " training examples"
        + (override != null ? ", from " + override : "") + ")";
  }

  /** The output the metrics read: the model's first. */
  static String primaryOutput(Elaborated e) {
    return e.outputs().keySet().iterator().next();
  }

  static String targetField(Recipe r) {
    return r.data().fields().containsKey("label") ? "label" : "target";
  }

  /** 0 when the loss takes logits (bce_logits), else 0.5 on probabilities. */
  static double threshold(Recipe r) {
    return r.loss() != null && r.loss().getText().contains("bce_logits") ? 0.0 : 0.5;
  }

  static Trainer.Schedule schedule(Recipe r) {
    if (r.schedule() == null) {
      return Trainer.Schedule.constant();
    }
    Map<String, Double> a = r.schedule().args();
    return switch (r.schedule().kind()) {
      case "step" -> Trainer.Schedule.step((int) (double) a.getOrDefault("every", 10.0), a.getOrDefault("gamma", 0.1));
      case "exponential" -> Trainer.Schedule.exponential(a.getOrDefault("gamma", 0.95));
      case "cosine" -> Trainer.Schedule.cosine((int) (double) a.getOrDefault("epochs", (double) r.epochs()),
          a.getOrDefault("min_lr", 0.0));
      default -> throw new UserError("unknown schedule " + r.schedule().kind());
    };
  }

  /** Weights (trainable and frozen), by their summary names. */
  static Map<String, SafeTensors.Entry> weights(NativeModel m) {
    Map<String, SafeTensors.Entry> w = new LinkedHashMap<>();
    for (var p : m.manifest().params()) {
      if (p.saved()) {
        w.put(p.name(), new SafeTensors.Entry(p.shape(), m.param(p.name())));
      }
    }
    return w;
  }

  static void loadWeights(NativeModel m, Path file) throws IOException {
    RunFiles.verify(file);
    SafeTensors.readFor(m.manifest(), file).forEach((name, e) -> m.setParam(name, e.data()));
  }

  /**
   * Creates the output folder (and checks it can be written) before anything is compiled or
   * trained, so that a bad -o fails in a second, not after the work.
   */
  static void prepareOutputDir(Path dir) throws IOException {
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new UserError(dir + " exists and is not a folder; -o names the folder to write to");
    }
    Files.createDirectories(dir);
    if (!Files.isWritable(dir)) {
      throw new UserError(dir + ": permission denied (cannot write there)");
    }
  }

  static Path defaultRunDir(String model) {
    return Path.of("runs", model.toLowerCase(java.util.Locale.ROOT));
  }

  static Path existingWeights(Path explicit, String model) {
    Path p = explicit != null ? explicit : defaultRunDir(model).resolve("weights.safetensors");
    if (!Files.isRegularFile(p)) {
      throw new UserError(p + ": no such weights file; train first (`nnc train`) or pass --weights");
    }
    return p;
  }
}
