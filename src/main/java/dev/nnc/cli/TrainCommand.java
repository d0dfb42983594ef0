package dev.nnc.cli;

import dev.nnc.frontend.Recipe;
import dev.nnc.runtime.History;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.SafeTensors;
import dev.nnc.runtime.Trainer;
import dev.nnc.runtime.data.Dataset;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code nnc train}: compile the training step to native code and run the recipe. */
@Command(name = "train", mixinStandardHelpOptions = true,
    description = "Compile the model's training step (forward, backward, optimizer) to native code and train it "
        + "as its recipe says; save weights, history (CSV) and training curves (PNG).")
final class TrainCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  @Mixin
  Options.Run run;

  @Option(names = "--epochs", converter = Positive.class, paramLabel = "N", description = "override the recipe's epochs")
  Integer epochs;

  @Option(names = "--batch", converter = Positive.class, paramLabel = "N", description = "override the recipe's batch size")
  Integer batch;

  @Option(names = "--limit", converter = Positive.class, paramLabel = "N", description = "train on the first N training examples only")
  Integer limit;

  @Option(names = "--weights", paramLabel = "FILE", description = "start from these weights (safetensors)")
  Path weights;

  @Option(names = {"-o", "--out"}, paramLabel = "DIR", description = "where to write weights, history and curves "
      + "(default: runs/<model>)")
  Path out;

  @Option(names = {"-q", "--quiet"}, description = "no progress bar; one line per epoch")
  boolean quiet;

  @Option(names = "--profile", description = "time every native kernel and print where the time went")
  boolean profile;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintStream log = System.out;
    Session s = Session.open(opts.file, opts.model);
    Recipe r = s.recipe(epochs, batch);
    Dataset[] data = s.data(r, run.data);
    Dataset train = data[0];
    if (limit != null) {
      train = train.head(limit);
    }
    Dataset val = null;
    if (r.validationSplit() > 0) {
      Dataset[] split = train.split(r.validationSplit(), r.seed());
      train = split[0];
      val = split[1];
    }
    ModelCompiler.Result res = s.compile(r, r.batch(), log);
    String model = res.manifest().model();
    Path dir = out != null ? out : Session.defaultRunDir(model);
    try (NativeModel m = Session.load(res, run.threads())) {
      m.initParams(r.seed());
      if (weights != null) {
        Session.loadWeights(m, weights);
      }
      log.printf("training %s on %s, %s, batch %d, %d epochs, %d threads%n", model,
          Session.dataDescription(r, run.data, train), r.optimizer().name(), r.batch(), r.epochs(), m.threads());
      Trainer.EarlyStopping es = r.earlyStopping() == null ? null
          : new Trainer.EarlyStopping(r.earlyStopping().monitor(), r.earlyStopping().patience(),
              r.earlyStopping().minDelta());
      Trainer t = new Trainer(m, new Trainer.Config(r.epochs(), r.shuffle(), r.seed(), r.optimizer().lr(),
          Session.schedule(r), es, !quiet && System.console() != null, Session.primaryOutput(res.forward()),
          Session.targetField(r), Session.threshold(r)), log);
      if (profile) {
        m.startProfiling();
      }
      long t0 = System.nanoTime();
      History h = t.fit(train, val);
      if (profile) {
        log.print(m.profileReport());
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      Trainer.Evaluation test = t.evaluate(data[1]);
      log.printf("test: loss %.4f  accuracy %.4f  (%d examples)%n", test.loss(), test.accuracy(), data[1].size());
      Path w = dir.resolve("weights.safetensors");
      SafeTensors.write(w, Session.weights(m), Map.of("model", model, "format", "nnc"));
      h.writeCsv(dir.resolve("history.csv"));
      h.writePlot(dir.resolve("curves.png"), model);
      log.printf("trained in %.1fs; wrote %s, %s and %s%n", secs, w, dir.resolve("history.csv"),
          dir.resolve("curves.png"));
    }
    return 0;
  }
}
