package dev.nnc.frontend;

import dev.nnc.frontend.Val.CallV;
import dev.nnc.frontend.Val.ErrV;
import dev.nnc.frontend.Val.ListV;
import dev.nnc.frontend.Val.NumV;
import dev.nnc.frontend.Val.StrV;
import dev.nnc.frontend.Val.SymV;
import dev.nnc.grammar.NnParser;
import dev.nnc.grammar.NnParser.ExprContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Checks a {@code train} block: known settings, data source and its fields, optimizer and
 * hyper-parameters, schedule, early stopping, freezing. Values are evaluated as constants
 * (calls such as {@code adam(lr=1e-3)} stay symbolic); the loss is kept as an expression for
 * the elaborator.
 */
final class RecipeReader {
  private static final Set<String> RECIPE_KEYS = Set.of("data", "loss", "optimizer", "schedule", "batch", "epochs",
      "metrics", "l1", "l2", "clip_value", "clip_norm", "shuffle", "validation_split", "early_stopping", "seed",
      "freeze", "augment");

  private final Program program;
  private final Diagnostics diag;
  private final Function<ExprContext, Val> constant;

  RecipeReader(Program program, Diagnostics diag, Function<ExprContext, Val> constant) {
    this.program = program;
    this.diag = diag;
    this.constant = constant;
  }

  Recipe read(NnParser.TrainDeclContext t, NnParser.ModelDeclContext model) {
    Map<String, NnParser.SettingContext> settings = new LinkedHashMap<>();
    for (NnParser.SettingContext s : t.setting()) {
      String key = s.ID().getText();
      if (!RECIPE_KEYS.contains(key)) {
        String hint = Diagnostics.suggest(key, RECIPE_KEYS);
        diag.error(s.ID().getSymbol(), "unknown training setting `" + key + "`",
            hint != null ? hint : "settings are " + String.join(", ", new java.util.TreeSet<>(RECIPE_KEYS)));
        continue;
      }
      if (settings.containsKey(key)) {
        diag.error(s.ID().getSymbol(), "`" + key + "` is set twice", null);
      }
      settings.put(key, s);
    }
    Map<String, Val> v = new LinkedHashMap<>();
    settings.forEach((k, s) -> {
      if (!k.equals("loss")) {
        v.put(k, constant.apply(s.expr()));
      }
    });
    String firstInput = model.stmt().stream().filter(s -> s.inputStmt() != null)
        .map(s -> s.inputStmt().name.getText()).findFirst().orElse("x");
    DataSpec data = data(settings.get("data"), v.get("data"), firstInput, t);
    dev.nnc.ir.train.OptimizerSpec opt = optimizer(settings.get("optimizer"), v.get("optimizer"));
    Recipe.Schedule schedule = null;
    if (v.get("schedule") instanceof CallV c) {
      schedule = schedule(settings.get("schedule"), c);
    } else if (v.containsKey("schedule")) {
      diag.error(settings.get("schedule").expr(), "schedule must be step(...), exponential(...) or cosine(...)");
    }
    Recipe.EarlyStopping es = null;
    if (v.get("early_stopping") instanceof CallV c) {
      es = earlyStopping(settings.get("early_stopping"), c);
    } else if (v.get("early_stopping") instanceof NumV n) {
      es = new Recipe.EarlyStopping("val_loss", (int) n.value(), 0);
    }
    List<String> metrics = new ArrayList<>();
    if (v.get("metrics") instanceof ListV l) {
      for (Val m : l.items()) {
        String name = m instanceof SymV s ? s.name() : String.valueOf(m);
        if (!Set.of("accuracy", "loss").contains(name)) {
          diag.error(settings.get("metrics").expr(), "unknown metric `" + name + "`",
              "metrics are accuracy and loss; nnc eval prints precision, recall, F1 and the confusion matrix");
        }
        metrics.add(name);
      }
    } else if (v.containsKey("metrics")) {
      diag.error(settings.get("metrics").expr(), "metrics must be a list like [accuracy]");
    } else {
      metrics.add("accuracy");
    }
    List<String> freeze = new ArrayList<>();
    if (v.get("freeze") instanceof ListV l) {
      for (Val f : l.items()) {
        freeze.add(f instanceof SymV s ? s.name() : f instanceof StrV s ? s.value() : String.valueOf(f));
      }
    }
    int batchSize = positiveInt(settings, v, "batch", 32);
    int epochs = positiveInt(settings, v, "epochs", 10);
    double vs = number(settings, v, "validation_split", 0);
    if (vs < 0 || vs >= 1) {
      diag.error(settings.get("validation_split").expr(), "validation_split must be in [0, 1), got " + vs);
    }
    for (String key : List.of("l1", "l2", "clip_value", "clip_norm")) {
      double x = number(settings, v, key, 0);
      if (!(x >= 0) || Double.isInfinite(x)) {
        diag.error(settings.get(key).expr(), "`" + key + "` must be a finite number ≥ 0 (0 turns it off), got "
            + show(x));
      }
    }
    double seed = number(settings, v, "seed", 42);
    if (seed != Math.rint(seed) || Math.abs(seed) >= 0x1p63) {
      diag.error(settings.get("seed").expr(), "`seed` must be an integer, got " + show(seed));
    }
    return new Recipe(model.name.getText(), data, settings.containsKey("loss") ? settings.get("loss").expr() : null,
        opt, schedule, batchSize, epochs, metrics, number(settings, v, "l1", 0), number(settings, v, "l2", 0),
        number(settings, v, "clip_value", 0), number(settings, v, "clip_norm", 0), bool(settings, v, "shuffle", true),
        vs, es, (long) seed, freeze, augment(settings.get("augment"), v.get("augment"), model));
  }

  /**
   * {@code augment = [random_crop(padding=4), flip_horizontal, translate(pixels=2)]}: transforms
   * of the model's first input, which must be an image {@code [C, H, W]}.
   */
  private List<Recipe.Augmentation> augment(NnParser.SettingContext s, Val v, NnParser.ModelDeclContext model) {
    if (v == null) {
      return List.of();
    }
    List<Val> items = v instanceof ListV l ? l.items() : List.of(v);
    List<Recipe.Augmentation> out = new ArrayList<>();
    for (Val item : items) {
      String kind = item instanceof SymV sym ? sym.name() : item instanceof CallV c ? c.name() : null;
      List<Val> args = item instanceof CallV c ? new ArrayList<>(c.args()) : new ArrayList<>();
      if (item instanceof CallV c) {
        args.addAll(c.named().values());
      }
      String param = "random_crop".equals(kind) ? "padding" : "translate".equals(kind) ? "pixels" : null;
      if ("flip_horizontal".equals(kind) && args.isEmpty()) {
        out.add(new Recipe.Augmentation(kind, 0));
      } else if (param != null && args.size() == 1 && args.get(0) instanceof NumV n && n.integral() && n.value() >= 1
          && n.value() <= 1024 && (!(item instanceof CallV c) || c.named().isEmpty() || c.named().containsKey(param))) {
        out.add(new Recipe.Augmentation(kind, (int) n.value()));
      } else {
        diag.error(s.expr(), "unknown augmentation " + Val.describe(item),
            "use random_crop(padding=N), translate(pixels=N) or flip_horizontal, N a whole number ≥ 1");
      }
    }
    NnParser.InputStmtContext first = model.stmt().stream().filter(st -> st.inputStmt() != null)
        .map(NnParser.StmtContext::inputStmt).findFirst().orElse(null);
    if (first != null && first.shape().INT().size() != 3) {
      diag.error(s.expr(), "augment transforms images, but input `" + first.name.getText() + "` is "
          + first.shape().getText(), "augmentation needs a [C, H, W] input");
    }
    return out;
  }

  private DataSpec data(NnParser.SettingContext s, Val v, String firstInput, NnParser.TrainDeclContext t) {
    if (v == null) {
      diag.error(t.name, "train recipe needs `data`", "e.g. `data = fashion_mnist` or `data = csv(\"f.csv\", label=\"y\")`");
      return DataSpec.fashionMnist(false);
    }
    String kind = v instanceof SymV sym ? sym.name() : v instanceof CallV c ? c.name() : null;
    Map<String, Val> named = v instanceof CallV c ? c.named() : Map.of();
    List<Val> pos = v instanceof CallV c ? c.args() : List.of();
    if ("fashion_mnist".equals(kind)) {
      if (!pos.isEmpty()) {
        diag.error(s.expr(), "fashion_mnist takes no positional arguments, got " + pos.size(),
            "it reads the installed data set (or the embedded subset); pass another folder with `nnc train --data DIR`");
      }
      boolean flatten = named.get("flatten") instanceof SymV f && f.name().equals("true");
      for (String k : named.keySet()) {
        if (!k.equals("flatten")) {
          diag.error(s.expr(), "fashion_mnist has no option `" + k + "`", "its option is flatten=true|false");
        }
      }
      return DataSpec.fashionMnist(flatten);
    }
    if ("synthetic".equals(kind)) {
      int examples = 256;
      for (Map.Entry<String, Val> e : named.entrySet()) {
        if (!e.getKey().equals("examples")) {
          diag.error(argument(s, e.getKey(), -1), "synthetic has no option `" + e.getKey() + "`",
              "its option is examples=N (random examples per split, default 256)");
        } else if (e.getValue() instanceof NumV n && n.integral() && n.value() >= 1 && n.value() <= 1_000_000) {
          examples = (int) n.value();
        } else {
          diag.error(argument(s, "examples", -1), "synthetic examples must be a whole number from 1 to 1,000,000, got "
              + Val.describe(e.getValue()), null);
        }
      }
      if (!pos.isEmpty()) {
        diag.error(s.expr(), "synthetic takes no positional arguments", "e.g. synthetic(examples=128)");
      }
      return DataSpec.synthetic(firstInput, examples);
    }
    if ("shapes".equals(kind)) {
      int examples = 2000;
      int size = 32;
      for (Map.Entry<String, Val> e : named.entrySet()) {
        switch (e.getKey()) {
          case "examples" -> examples = whole(s, e, 1, 1_000_000, false, examples,
              "shapes examples must be a whole number from 1 to 1,000,000", null);
          case "size" -> size = whole(s, e, 8, 512, false, size,
              "shapes size must be a whole number from 8 to 512", null);
          default -> diag.error(argument(s, e.getKey(), -1), "shapes has no option `" + e.getKey() + "`",
              "its options are examples=N (training images, default 2000) and size=S (pixels a side, default 32)");
        }
      }
      if (!pos.isEmpty()) {
        diag.error(s.expr(), "shapes takes no positional arguments", "e.g. shapes(examples=2000, size=32)");
      }
      return DataSpec.shapes(examples, size);
    }
    if ("words".equals(kind)) {
      if (pos.size() != 1 || !(pos.get(0) instanceof StrV path)) {
        diag.error(s.expr(), "words needs a directory", "e.g. words(\"data/words\", length=16): one word list per class");
        return DataSpec.fashionMnist(false);
      }
      int length = 16;
      int vocab = 0;
      int perClass = 0;
      double test = 0.1;
      for (Map.Entry<String, Val> e : named.entrySet()) {
        switch (e.getKey()) {
          case "length" -> length = whole(s, e, 1, 4096, false, length,
              "words length must be a whole number from 1 to 4096", "the characters kept per word");
          case "vocab" -> vocab = characterVocab(s, e, vocab, "words");
          case "per_class" -> perClass = whole(s, e, 0, 100_000_000, false, perClass,
              "words per_class must be a whole number ≥ 0", "0 keeps every word");
          case "test" -> test = fraction(s, e, test, "words test", "the share of each class held out for testing");
          default -> diag.error(argument(s, e.getKey(), -1), "words has no option `" + e.getKey() + "`",
              "its options are length=N, vocab=N, per_class=N and test=F");
        }
      }
      java.nio.file.Path dir = program.source().resolve(path.value());
      return DataSpec.words(dir.toString(), firstInput, new DataSpec.WordOptions(length, vocab, perClass, test));
    }
    if ("skipgram".equals(kind)) {
      if (pos.size() != 1 || !(pos.get(0) instanceof StrV path)) {
        diag.error(s.expr(), "skipgram needs a text file (or a directory of text files)",
            "e.g. skipgram(\"data/text/sample.txt\", window=2, negatives=5)");
        return DataSpec.fashionMnist(false);
      }
      int window = 2;
      int negatives = 5;
      int vocab = 0;
      double test = 0.1;
      boolean cbow = false;
      for (Map.Entry<String, Val> e : named.entrySet()) {
        switch (e.getKey()) {
          case "window" -> window = whole(s, e, 1, 100, false, window,
              "skipgram window must be a whole number from 1 to 100",
              "the words on each side of a word that count as its context");
          case "negatives" -> negatives = whole(s, e, 0, 100, false, negatives,
              "skipgram negatives must be a whole number from 0 to 100",
              "random words per pair that the model learns to tell apart");
          case "vocab" -> vocab = whole(s, e, 3, 10_000_000, true, vocab,
              "skipgram vocab must be 0 (every word) or a whole number from 3",
              "ids 0 and 1 are padding and the rarer words");
          case "test" -> test = fraction(s, e, test, "skipgram test", "the share of the text, from its end, held out");
          case "mode" -> {
            if (e.getValue() instanceof SymV m && (m.name().equals("skipgram") || m.name().equals("cbow"))) {
              cbow = m.name().equals("cbow");
            } else {
              diag.error(argument(s, "mode", -1), "skipgram mode must be skipgram or cbow, got "
                  + Val.describe(e.getValue()), null);
            }
          }
          default -> diag.error(argument(s, e.getKey(), -1), "skipgram has no option `" + e.getKey() + "`",
              "its options are window=N, negatives=N, vocab=N, mode=skipgram|cbow and test=F");
        }
      }
      java.nio.file.Path file = program.source().resolve(path.value());
      return DataSpec.skipgram(file.toString(), new DataSpec.SkipGramOptions(cbow, window, negatives, vocab, test));
    }
    if ("text".equals(kind)) {
      if (pos.size() != 1 || !(pos.get(0) instanceof StrV path)) {
        diag.error(s.expr(), "text needs a file (or a directory of text files)",
            "e.g. text(\"data/text/sample.txt\", length=60): windows of 60 characters, each with the next ones");
        return DataSpec.fashionMnist(false);
      }
      int length = 60;
      int vocab = 0;
      double test = 0.1;
      for (Map.Entry<String, Val> e : named.entrySet()) {
        switch (e.getKey()) {
          case "length" -> length = whole(s, e, 1, 100_000, false, length,
              "text length must be a whole number from 1 to 100,000",
              "the characters per window (the sequence the model reads)");
          case "vocab" -> vocab = characterVocab(s, e, vocab, "text");
          case "test" -> test = fraction(s, e, test,
              "text test", "the share of the windows, from the end, held out for testing");
          default -> diag.error(argument(s, e.getKey(), -1), "text has no option `" + e.getKey() + "`",
              "its options are length=N, vocab=N and test=F");
        }
      }
      java.nio.file.Path file = program.source().resolve(path.value());
      return DataSpec.text(file.toString(), firstInput, new DataSpec.WordOptions(length, vocab, 0, test));
    }
    if ("csv".equals(kind)) {
      if (pos.size() != 1 || !(pos.get(0) instanceof StrV path)) {
        diag.error(s.expr(), "csv needs a file name", "e.g. csv(\"data/xor.csv\", label=\"y\")");
        return DataSpec.fashionMnist(false);
      }
      for (String k : named.keySet()) {
        if (!Set.of("label", "target").contains(k)) {
          diag.error(argument(s, k, -1), "csv has no option `" + k + "`",
              "its options are label=\"column\" (classes) and target=[\"column\", ...] (values)");
        }
      }
      String label = named.get("label") instanceof StrV l ? l.value() : named.get("label") instanceof SymV l ? l.name() : null;
      List<String> targets = new ArrayList<>();
      if (named.get("target") instanceof ListV l) {
        for (Val x : l.items()) {
          targets.add(x instanceof StrV sv ? sv.value() : x instanceof SymV sy ? sy.name() : String.valueOf(x));
        }
      } else if (named.get("target") instanceof StrV sv) {
        targets.add(sv.value());
      }
      if ((label == null) == targets.isEmpty()) {
        diag.error(s.expr(), "csv needs either label=\"column\" (classes) or target=[\"column\", ...] (values)", null);
        return DataSpec.fashionMnist(false);
      }
      java.nio.file.Path file = program.source().resolve(path.value());
      List<String> header;
      try (var lines = java.nio.file.Files.lines(file)) {
        String first = lines.findFirst().orElse("");
        header = java.util.Arrays.stream(first.split(",")).map(String::strip).toList();
      } catch (java.io.IOException | java.io.UncheckedIOException ex) {
        diag.error(s.expr(), "cannot read " + file + ": " + ex.getMessage(), "the path is relative to the .nn file");
        return DataSpec.fashionMnist(false);
      }
      for (String c : label != null ? List.of(label) : targets) {
        if (!header.contains(c)) {
          diag.error(s.expr(), file.getFileName() + " has no column `" + c + "`", "its columns are " + header);
        }
      }
      return DataSpec.csv(file.toString(), firstInput, header, label, targets);
    }
    diag.error(s.expr(), "unknown data source " + Val.describe(v),
        "use fashion_mnist, fashion_mnist(flatten=true), csv(\"file.csv\", label=\"y\"), synthetic(examples=256), "
            + "shapes(examples=2000, size=32), words(\"dir\", length=16), text(\"file.txt\", length=60) or skipgram(\"file.txt\")");
    return DataSpec.fashionMnist(false);
  }

  /**
   * A data source's whole-number option in {@code [lo, hi]} (or 0 when {@code orZero}); otherwise an
   * error at it ({@code "<what>, got …"}, with the hint) and {@code fallback}.
   */
  private int whole(NnParser.SettingContext s, Map.Entry<String, Val> e, long lo, long hi, boolean orZero,
      int fallback, String what, String hint) {
    if (e.getValue() instanceof NumV n && n.integral()
        && ((orZero && n.value() == 0) || (n.value() >= lo && n.value() <= hi))) {
      return (int) n.value();
    }
    diag.error(argument(s, e.getKey(), -1), what + ", got " + Val.describe(e.getValue()), hint);
    return fallback;
  }

  /** A data source's {@code test} fraction in {@code [0, 1)}; otherwise an error at it and {@code fallback}. */
  private double fraction(NnParser.SettingContext s, Map.Entry<String, Val> e, double fallback, String what,
      String hint) {
    if (e.getValue() instanceof NumV n && n.value() >= 0 && n.value() < 1) {
      return n.value();
    }
    diag.error(argument(s, e.getKey(), -1), what + " must be a fraction in [0, 1), got " + Val.describe(e.getValue()),
        hint);
    return fallback;
  }

  /** The {@code vocab} option of character data ({@code words}, {@code text}): 0, or 3 to 1,000,000 ids. */
  private int characterVocab(NnParser.SettingContext s, Map.Entry<String, Val> e, int fallback, String source) {
    return whole(s, e, 3, 1_000_000, true, fallback, source + " vocab must be 0 (every character) or a whole number "
        + "from 3 to 1,000,000", "ids 0 and 1 are padding and unknown");
  }

  private dev.nnc.ir.train.OptimizerSpec optimizer(NnParser.SettingContext s, Val v) {
    if (v == null) {
      return dev.nnc.ir.train.OptimizerSpec.of("adam", Map.of());
    }
    String name = v instanceof SymV sym ? sym.name() : v instanceof CallV c ? c.name() : null;
    Map<String, Double> defaults = name == null ? null : dev.nnc.ir.train.OptimizerSpec.defaults(name);
    if (defaults == null) {
      String hint = name == null ? null : Diagnostics.suggest(name, dev.nnc.ir.train.OptimizerSpec.names());
      diag.error(s.expr(), "unknown optimizer " + Val.describe(v),
          hint != null ? hint : "use one of " + dev.nnc.ir.train.OptimizerSpec.names());
      return dev.nnc.ir.train.OptimizerSpec.of("adam", Map.of());
    }
    Map<String, Double> given = new LinkedHashMap<>();
    if (v instanceof CallV c) {
      List<String> keys = new ArrayList<>(defaults.keySet());
      for (int i = 0; i < c.args().size(); i++) {
        if (i < keys.size()) {
          given.put(keys.get(i), hyper(s, c.args().get(i), keys.get(i)));
          checkRange(argument(s, null, i), name, keys.get(i), given.get(keys.get(i)));
        } else {
          diag.error(argument(s, null, i), name + " takes at most " + keys.size() + " positional hyper-parameters "
              + keys, "name the others, e.g. " + name + "(" + keys.get(0) + "=0.01)");
        }
      }
      for (Map.Entry<String, Val> e : c.named().entrySet()) {
        if (!defaults.containsKey(e.getKey())) {
          String hint = Diagnostics.suggest(e.getKey(), defaults.keySet());
          diag.error(s.expr(), name + " has no hyper-parameter `" + e.getKey() + "`",
              hint != null ? hint : "its hyper-parameters are " + defaults.keySet());
          continue;
        }
        given.put(e.getKey(), hyper(s, e.getValue(), e.getKey()));
        checkRange(argument(s, e.getKey(), -1), name, e.getKey(), given.get(e.getKey()));
      }
    }
    dev.nnc.ir.train.OptimizerSpec spec = dev.nnc.ir.train.OptimizerSpec.of(name, given);
    if (spec.hyper().getOrDefault("nesterov", 0.0) != 0 && !(spec.hyper().getOrDefault("momentum", 0.0) > 0)) {
      diag.error(argument(s, "nesterov", -1), "Nesterov momentum needs a momentum > 0",
          "add momentum=0.9 (for example), or drop nesterov");
    }
    return spec;
  }

  /**
   * The valid range of each hyper-parameter, as PyTorch's optimizers check them: a learning rate,
   * epsilon, momentum, decay or accumulator is finite and ≥ 0; Adam's betas lie in [0, 1);
   * Adadelta's rho in [0, 1].
   */
  private void checkRange(org.antlr.v4.runtime.ParserRuleContext at, String optimizer, String key, double v) {
    String rule = switch (key) {
      case "beta1", "beta2" -> v >= 0 && v < 1 ? null : "in [0, 1)";
      case "rho" -> v >= 0 && v <= 1 ? null : "in [0, 1]";
      case "nesterov" -> v == 0 || v == 1 ? null : "true or false";
      default -> v >= 0 && Double.isFinite(v) ? null : "a finite number ≥ 0";
    };
    if (rule != null) {
      diag.error(at, "`" + key + "` of " + optimizer + " must be " + rule + ", got " + show(v),
          key.equals("lr") ? "typical learning rates are 1e-4 to 1e-1" : null);
    }
  }

  private static String show(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
  }

  /**
   * Where an argument of the call in setting {@code s} is written: the named one {@code key}, or
   * the positional one at {@code position}; the whole setting when it is not a call.
   */
  private static org.antlr.v4.runtime.ParserRuleContext argument(NnParser.SettingContext s, String key, int position) {
    if (s.expr() instanceof NnParser.PrimaryExprContext p && p.primary() instanceof NnParser.CallExprContext c) {
      int pos = 0;
      for (NnParser.ArgContext a : c.call().arg()) {
        if (key != null && a.ID() != null && a.ID().getText().equals(key)) {
          return a;
        }
        if (key == null && a.ID() == null && pos++ == position) {
          return a;
        }
      }
    }
    return s.expr();
  }

  private double hyper(NnParser.SettingContext s, Val v, String key) {
    if (v instanceof NumV n) {
      return n.value();
    }
    if (v instanceof ErrV) {
      return 0;  // already reported where it failed
    }
    if (v instanceof SymV b && (b.name().equals("true") || b.name().equals("false"))) {
      return b.name().equals("true") ? 1 : 0;
    }
    diag.error(s.expr(), "`" + key + "` must be a number, got " + Val.describe(v));
    return 0;
  }

  private Recipe.Schedule schedule(NnParser.SettingContext s, CallV c) {
    Map<String, List<String>> keys = Map.of("step", List.of("every", "gamma"), "exponential", List.of("gamma"),
        "cosine", List.of("epochs", "min_lr"));
    if (!keys.containsKey(c.name())) {
      diag.error(s.expr(), "unknown schedule `" + c.name() + "`", "use step(every=, gamma=), exponential(gamma=) or cosine(epochs=)");
      return null;
    }
    Map<String, Double> args = new LinkedHashMap<>();
    for (Map.Entry<String, Val> e : c.named().entrySet()) {
      if (!keys.get(c.name()).contains(e.getKey())) {
        diag.error(s.expr(), c.name() + " has no parameter `" + e.getKey() + "`", "its parameters are " + keys.get(c.name()));
      } else {
        double x = hyper(s, e.getValue(), e.getKey());
        args.put(e.getKey(), x);
        boolean ok = switch (e.getKey()) {
          case "every", "epochs" -> x >= 1 && x == Math.rint(x) && x <= Integer.MAX_VALUE;
          case "gamma" -> x > 0 && Double.isFinite(x);
          default -> x >= 0 && Double.isFinite(x);
        };
        if (!ok) {
          diag.error(argument(s, e.getKey(), -1), "`" + e.getKey() + "` of " + c.name() + " must be "
              + switch (e.getKey()) {
                case "every", "epochs" -> "a positive integer";
                case "gamma" -> "a finite number > 0";
                default -> "a finite number ≥ 0";
              } + ", got " + show(x));
        }
      }
    }
    return new Recipe.Schedule(c.name(), args);
  }

  private Recipe.EarlyStopping earlyStopping(NnParser.SettingContext s, CallV c) {
    String monitor = "val_loss";
    int patience = 3;
    double minDelta = 0;
    for (Map.Entry<String, Val> e : c.named().entrySet()) {
      switch (e.getKey()) {
        case "monitor" -> monitor = e.getValue() instanceof SymV m ? m.name() : e.getValue() instanceof StrV m ? m.value() : "";
        case "patience" -> {
          double p = hyper(s, e.getValue(), "patience");
          if (p < 0 || p != Math.rint(p) || p > Integer.MAX_VALUE) {
            diag.error(argument(s, "patience", -1), "`patience` must be an integer ≥ 0, got " + show(p));
          }
          patience = (int) p;
        }
        case "min_delta" -> {
          minDelta = hyper(s, e.getValue(), "min_delta");
          if (!(minDelta >= 0) || Double.isInfinite(minDelta)) {
            diag.error(argument(s, "min_delta", -1), "`min_delta` must be a finite number ≥ 0, got " + show(minDelta));
          }
        }
        default -> diag.error(s.expr(), "early_stopping has no parameter `" + e.getKey() + "`",
            "its parameters are monitor, patience, min_delta");
      }
    }
    if (!Set.of("loss", "accuracy", "val_loss", "val_accuracy").contains(monitor)) {
      diag.error(s.expr(), "early_stopping cannot monitor `" + monitor + "`", "monitor loss, accuracy, val_loss or val_accuracy");
    }
    return new Recipe.EarlyStopping(monitor, patience, minDelta);
  }

  private double number(Map<String, NnParser.SettingContext> s, Map<String, Val> v, String key, double fallback) {
    Val x = v.get(key);
    if (x == null || x instanceof ErrV) {
      return fallback;
    }
    if (x instanceof NumV n) {
      return n.value();
    }
    diag.error(s.get(key).expr(), "`" + key + "` must be a number, got " + Val.describe(x));
    return fallback;
  }

  private int positiveInt(Map<String, NnParser.SettingContext> s, Map<String, Val> v, String key, int fallback) {
    double d = number(s, v, key, fallback);
    if (d != Math.rint(d) || d < 1 || d > Integer.MAX_VALUE) {
      diag.error(s.get(key).expr(), "`" + key + "` must be a positive integer, got " + (d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d)));
      return fallback;
    }
    return (int) d;
  }

  private boolean bool(Map<String, NnParser.SettingContext> s, Map<String, Val> v, String key, boolean fallback) {
    Val x = v.get(key);
    if (x == null) {
      return fallback;
    }
    if (x instanceof SymV b && (b.name().equals("true") || b.name().equals("false"))) {
      return b.name().equals("true");
    }
    diag.error(s.get(key).expr(), "`" + key + "` must be true or false");
    return fallback;
  }
}
