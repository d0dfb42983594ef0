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
import java.util.List;
import java.util.Map;

/** One {@code .nn} file being worked on: parsed, checked, compiled, with its data. */
final class Session {
  final SourceFile source;
  final Program program;
  final String modelName;
  final Recipe recipe;
  /**
   * The vocabulary and classes of the last {@code words} data read ({@code data}): saved in the
   * weights' metadata by {@code train}, checked against them by {@code eval} and {@code predict}.
   */
  private Map<String, String> vocabulary = Map.of();

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
    return compile(r, batch, log, Backend.find("cpu"), cpu);
  }

  /** Through {@code backend}, for its target {@code cpu} (a GPU architecture for the CUDA back end). */
  ModelCompiler.Result compile(Recipe r, int batch, PrintStream log, Backend backend, String cpu)
      throws CompileException {
    long t0 = System.nanoTime();
    ModelCompiler.Result res = ModelCompiler.compile(program, modelName, r, batch, backend, cpu);
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
        // A model input of token ids (int[…] into an embedding): the columns are checked against its rows.
        Elaborated train = Elaborator.elaborate(program, modelName, 1, LayerContext.Mode.TRAIN, r);
        Node in = train.graph().input(d.featureField());
        int ids = in != null && in.dtype() == dev.nnc.ir.DType.I32 ? ModelCompiler.indexBound(train.graph(), in) : 0;
        Dataset all = Csv.load(file, d.featureField(), d.featureColumns(), d.labelColumn(), d.targetColumns(),
            d.labelColumn() == null ? 0 : classes(train), ids);
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
      case "words" -> {
        Path dir = override != null ? override : Path.of(d.path());
        DataSpec.WordOptions o = d.words();
        dev.nnc.runtime.data.Words.Loaded w = dev.nnc.runtime.data.Words.load(dir, d.featureField(), o.length(),
            o.vocab(), o.perClass(), o.test(), r.seed());
        Elaborated train = Elaborator.elaborate(program, modelName, 1, LayerContext.Mode.TRAIN, r);
        int classes = classes(train);
        if (classes > 0 && classes != w.classes().size()) {
          throw new UserError(dir + " has " + w.classes().size() + " word lists (" + String.join(", ", w.classes())
              + ") but the model has " + classes + " classes: one word list per class");
        }
        Node in = train.graph().input(d.featureField());
        int vocab = in == null ? 0 : ModelCompiler.indexBound(train.graph(), in);
        if (vocab > 0 && w.vocabulary() > vocab) {
          throw new UserError("the words in " + dir + " need a vocabulary of " + w.vocabulary()
              + " ids (padding, unknown and " + (w.vocabulary() - 2) + " characters) but the model's embedding takes "
              + vocab + ": use embedding(" + w.vocabulary() + ", …), or words(…, vocab=" + vocab
              + ") to read the rarest characters as unknown");
        }
        StringBuilder chars = new StringBuilder();
        for (int i = 2; i < w.characters().length; i++) {
          chars.appendCodePoint(w.characters()[i]);
        }
        vocabulary = Map.of(VOCABULARY, chars.toString(), CLASSES, String.join("\n", w.classes()));
        return new Dataset[] {w.train(), w.test()};
      }
      case "text" -> {
        Path file = override != null ? override : Path.of(d.path());
        DataSpec.WordOptions o = d.words();
        dev.nnc.runtime.data.Text.Loaded t = dev.nnc.runtime.data.Text.load(file, d.featureField(), o.length(),
            o.vocab(), o.test());
        Elaborated train = Elaborator.elaborate(program, modelName, 1, LayerContext.Mode.TRAIN, r);
        Node in = train.graph().input(d.featureField());
        int vocab = in == null ? 0 : ModelCompiler.indexBound(train.graph(), in);
        if (vocab > 0 && t.vocabulary() > vocab) {
          throw new UserError("the text " + file + " needs a vocabulary of " + t.vocabulary() + " ids (padding, unknown "
              + "and " + (t.vocabulary() - 2) + " characters) but the model's embedding takes " + vocab + ": use "
              + "embedding(" + t.vocabulary() + ", …), or text(…, vocab=" + vocab + ") to read the rarest characters "
              + "as unknown");
        }
        int classes = classes(train);
        if (classes > 0 && classes < t.vocabulary()) {
          throw new UserError("the model predicts " + classes + " classes but the text " + file + " has "
              + t.vocabulary() + " character ids: its last dense layer needs " + t.vocabulary() + " units, one per id");
        }
        StringBuilder chars = new StringBuilder();
        for (int i = 2; i < t.characters().length; i++) {
          chars.appendCodePoint(t.characters()[i]);
        }
        vocabulary = Map.of(VOCABULARY, chars.toString());
        return new Dataset[] {t.train(), t.test()};
      }
      case "skipgram" -> {
        Path file = override != null ? override : Path.of(d.path());
        DataSpec.SkipGramOptions o = d.skipgram();
        dev.nnc.runtime.data.SkipGram.Loaded w = dev.nnc.runtime.data.SkipGram.load(file, o.cbow(), o.window(),
            o.negatives(), o.vocab(), o.test(), r.seed());
        Elaborated train = Elaborator.elaborate(program, modelName, 1, LayerContext.Mode.TRAIN, r);
        for (String field : List.of(dev.nnc.runtime.data.SkipGram.CENTER, dev.nnc.runtime.data.SkipGram.CONTEXT)) {
          Node in = train.graph().input(field);
          if (in == null) {
            throw new UserError("skipgram data gives `center` and `context` word ids; the model has no input `" + field
                + "`");
          }
          int vocab = ModelCompiler.indexBound(train.graph(), in);
          if (vocab > 0 && w.vocabulary() > vocab) {
            throw new UserError("the text " + file + " has a vocabulary of " + w.vocabulary() + " ids (padding, rare "
                + "words and " + (w.vocabulary() - 2) + " words) but the embedding of `" + field + "` takes " + vocab
                + ": use embedding(" + w.vocabulary() + ", …), or skipgram(…, vocab=" + vocab + ") to keep the most "
                + "frequent words");
          }
        }
        vocabulary = Map.of(WORDS, String.join("\n", w.words().subList(2, w.words().size())));
        return new Dataset[] {w.train(), w.test()};
      }
      default -> throw new UserError("unknown data source " + d.kind());
    }
  }

  /** The class names of word-list data: the file names in its directory (or {@code override}). */
  static String[] wordClasses(DataSpec d, Path override) throws IOException {
    List<String> out = new java.util.ArrayList<>();
    for (Path f : dev.nnc.runtime.data.Words.classFiles(override != null ? override : Path.of(d.path()))) {
      out.add(dev.nnc.runtime.data.Words.className(f));
    }
    return out.toArray(String[]::new);
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

  /** Metadata keys of the weights of a model trained on {@code words}: its characters by id (from id 2), its classes. */
  static final String VOCABULARY = "vocabulary";
  /** Of a model trained on skipgram data: its words by id (from id 2), one a line. */
  static final String WORDS = "words";
  static final String CLASSES = "classes";

  /** The vocabulary and classes of the words data read last (empty for other data), in a fixed order. */
  Map<String, String> vocabulary() {
    return vocabulary.isEmpty() ? Map.of() : new java.util.TreeMap<>(vocabulary);
  }

  /** The metadata {@code train} writes with the weights: the model, and the vocabulary of words data. */
  Map<String, String> weightMetadata(String model) {
    Map<String, String> meta = new LinkedHashMap<>(vocabulary);
    meta.put("model", model);
    meta.put("format", "nnc");
    return meta;
  }

  /**
   * Refuses weights trained on another vocabulary or other classes than the words data just read:
   * the ids would mean other characters, and the outputs other classes.
   */
  void checkVocabulary(Path weights) throws IOException {
    if (vocabulary.isEmpty()) {
      return;
    }
    Map<String, String> meta = SafeTensors.metadata(weights);
    String hadWords = meta.get(WORDS);
    if (hadWords != null && vocabulary.containsKey(WORDS) && !hadWords.equals(vocabulary.get(WORDS))) {
      throw new UserError(weights + " was trained on a vocabulary of " + (hadWords.split("\n", -1).length + 2)
          + " word ids, but this text gives " + (vocabulary.get(WORDS).split("\n", -1).length + 2) + " other ones: "
          + "the ids would mean other words; use the text (and skipgram(…) options) it was trained with");
    }
    String had = meta.get(VOCABULARY);
    if (had != null && !had.equals(vocabulary.get(VOCABULARY))) {
      throw new UserError(weights + " was trained on a vocabulary of " + (had.codePointCount(0, had.length()) + 2)
          + " ids (\"" + had + "\"), but these word lists give " + (vocabulary.get(VOCABULARY).codePointCount(0,
          vocabulary.get(VOCABULARY).length()) + 2) + " (\"" + vocabulary.get(VOCABULARY) + "\"): the ids would "
          + "mean other characters; use the word lists (and words(…) options) it was trained with");
    }
    String classes = meta.get(CLASSES);
    if (classes != null && !classes.equals(vocabulary.get(CLASSES))) {
      throw new UserError(weights + " was trained on the classes " + classes.replace("\n", ", ")
          + " but these word lists are " + vocabulary.get(CLASSES).replace("\n", ", ")
          + ": use the word lists it was trained with");
    }
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
