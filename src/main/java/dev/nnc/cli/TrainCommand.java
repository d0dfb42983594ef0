package dev.nnc.cli;

import dev.nnc.frontend.Recipe;
import dev.nnc.runtime.Checkpoint;
import dev.nnc.runtime.History;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.SafeTensors;
import dev.nnc.runtime.Trainer;
import dev.nnc.runtime.data.Dataset;
import java.io.PrintStream;
import java.nio.file.Files;
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
  DeviceOption device;

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

  @Option(names = "--resume", paramLabel = "DIR", description = "continue the run in DIR (an earlier -o folder) from "
      + "its last checkpoint, DIR/checkpoints/last.safetensors; the results go to DIR")
  Path resume;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    device.require();
    PrintStream log = System.out;
    Session s = Session.open(opts.file, opts.model);
    Recipe r = s.recipe(epochs, batch);
    if (resume != null && out != null && !resume.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
      throw new UserError("--resume " + resume + " continues that run in its own folder; leave out -o " + out);
    }
    Path lastCheckpoint = resume == null ? null : resume.resolve(Checkpoint.DIR).resolve(Checkpoint.LAST);
    if (lastCheckpoint != null && !Files.isRegularFile(lastCheckpoint)) {
      throw new UserError(lastCheckpoint + ": no such checkpoint; --resume takes the -o folder of a run that "
          + "finished at least one epoch");
    }
    Path dir = resume != null ? resume : out != null ? out : Session.defaultRunDir(s.program.model(s.modelName).name.getText());
    Session.prepareOutputDir(dir);
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
    ModelCompiler.Result res = device.compile(s, r, r.batch(), log);
    String model = res.manifest().model();
    String fingerprint = fingerprint(s, r, res, train.size());
    try (NativeModel m = device.load(res, run.threads())) {
      m.initParams(r.seed());
      if (weights != null) {
        Session.loadWeights(m, weights);
      }
      Trainer.EarlyStopping es = r.earlyStopping() == null ? null
          : new Trainer.EarlyStopping(r.earlyStopping().monitor(), r.earlyStopping().patience(),
              r.earlyStopping().minDelta());
      // The best checkpoint follows early stopping's metric, else val_loss (loss without validation).
      String monitor = es != null ? es.monitor() : val != null ? "val_loss" : "loss";
      Trainer.Progress from = Trainer.Progress.start();
      double[] monitorBest = {Double.NaN};
      if (lastCheckpoint != null) {
        Checkpoint.Saved saved = Checkpoint.restore(lastCheckpoint, m, fingerprint);
        from = saved.progress();
        monitorBest[0] = saved.monitorBest();
        log.printf("resuming %s from %s after epoch %d of %d%n", model, lastCheckpoint, from.epochs(), r.epochs());
      }
      log.printf("training %s on %s, %s, batch %d, %d epochs, on %s%n", model,
          Session.dataDescription(r, run.data, train), r.optimizer().name(), r.batch(), r.epochs(), m.where());
      Trainer t = new Trainer(m, new Trainer.Config(r.epochs(), r.shuffle(), r.seed(), r.optimizer().lr(),
          Session.schedule(r), es, !quiet && System.console() != null, Session.primaryOutput(res.forward()),
          Session.targetField(r), Session.threshold(r), Session.augment(r), r.data().featureField()), log);
      if (profile) {
        m.startProfiling();
      }
      Path checkpoints = dir.resolve(Checkpoint.DIR);
      boolean lowerIsBetter = History.Epoch.lowerIsBetter(monitor);
      long t0 = System.nanoTime();
      Trainer.Progress done = t.fit(train, val, from, p -> {
        History.Epoch last = p.history().epochs().get(p.history().epochs().size() - 1);
        double v = last.metric(monitor);
        boolean improved = Double.isNaN(monitorBest[0]) || (lowerIsBetter ? v < monitorBest[0] : v > monitorBest[0]);
        if (improved && !Double.isNaN(v)) {
          monitorBest[0] = v;
        }
        Checkpoint.Saved saved = new Checkpoint.Saved(p, monitor, monitorBest[0]);
        if (improved && !Double.isNaN(v)) {
          Checkpoint.save(checkpoints.resolve(Checkpoint.BEST), m, saved, fingerprint);
        }
        // Last, after best: a kill in between leaves a last checkpoint one epoch behind, never ahead.
        Checkpoint.save(checkpoints.resolve(Checkpoint.LAST), m, saved, fingerprint);
      });
      History h = done.history();
      if (profile) {
        log.print(m.profileReport());
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      Trainer.Evaluation test = t.evaluate(data[1]);
      if (r.data().kind().equals("text")) {
        // A language model: the loss per character, in bits, and how often the next character is the likeliest.
        log.printf("test: loss %.4f (%.3f bits per character)  accuracy %.4f  (%d windows, accuracy over characters)%n",
            test.loss(), test.loss() / Math.log(2), test.accuracy(), data[1].size());
      } else if (test.pixels()) {
        // Segmentation: pixel accuracy and the mean intersection over union of the classes.
        double miou = test.report(EvalCommand.classes(res, r)).meanIou();
        log.printf("test: loss %.4f  accuracy %.4f  mean IoU %.4f  (%d examples, accuracy over pixels)%n",
            test.loss(), test.accuracy(), miou, data[1].size());
      } else {
        log.printf("test: loss %.4f  accuracy %.4f  (%d examples)%n", test.loss(), test.accuracy(), data[1].size());
      }
      Path w = dir.resolve(RunFiles.WEIGHTS);
      SafeTensors.write(w, Session.weights(m), s.weightMetadata(model));
      h.writeCsv(dir.resolve(RunFiles.HISTORY));
      h.writePlot(dir.resolve(RunFiles.CURVES), model);
      // Written last: names the set (weights, history, curves) by content, so that a reader
      // never takes files of two runs for one (a kill while the files above were written).
      RunFiles.seal(dir, model);
      log.printf("trained in %.1fs; wrote %s, %s and %s (checkpoints in %s)%n", secs, w, dir.resolve(RunFiles.HISTORY),
          dir.resolve(RunFiles.CURVES), checkpoints);
    }
    return 0;
  }

  /**
   * What a checkpoint must agree with to be resumed exactly: the model's text (tokens, so not
   * its comments or layout), its parameters, the recipe's values except the epoch count (a run
   * may be extended), the size of the training set, and the vocabulary and classes of words data.
   */
  private static String fingerprint(Session s, Recipe r, ModelCompiler.Result res, int trainSize) {
    java.util.List<String> parts = new java.util.ArrayList<>();
    parts.add(s.program.model(s.modelName).getText());
    s.program.blocks().values().forEach(b -> parts.add(b.getText()));
    res.manifest().params().forEach(p -> parts.add(p.name() + java.util.Arrays.toString(p.shape()) + p.role()
        + p.init() + p.initValue()));
    parts.add(r.optimizer().name() + r.optimizer().hyper());
    parts.add(r.schedule() == null ? "constant" : r.schedule().kind() + r.schedule().args()
        + (r.schedule().kind().equals("cosine") && !r.schedule().args().containsKey("epochs") ? r.epochs() : ""));
    parts.add(r.loss() == null ? "" : r.loss().getText());
    parts.add(r.batch() + "/" + r.seed() + "/" + r.l1() + "/" + r.l2() + "/" + r.clipValue() + "/" + r.clipNorm() + "/"
        + r.shuffle() + "/" + r.validationSplit() + "/" + r.freeze() + "/" + r.earlyStopping() + "/" + r.data().kind()
        + "/" + trainSize);
    // Words data: ids mean characters only through the vocabulary (added only then, so that
    // checkpoints of other data keep their fingerprints).
    if (!s.vocabulary().isEmpty()) {
      parts.add(s.vocabulary().toString());
    }
    return Checkpoint.fingerprint(parts);
  }
}
