package dev.nnc.cli;

import dev.nnc.frontend.Recipe;
import dev.nnc.runtime.Metrics;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.Trainer;
import dev.nnc.runtime.data.Dataset;
import dev.nnc.runtime.data.FashionMnist;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code nnc eval}: accuracy, loss, per-class report and confusion matrix on the test split. */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = "Evaluate trained weights on the test data: loss, accuracy, per-class precision/recall/F1 and "
        + "the confusion matrix (like Keras' evaluate).")
final class EvalCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  @Mixin
  DeviceOption device;

  @Mixin
  Options.Run run;

  @Option(names = "--weights", paramLabel = "FILE", description = "weights to evaluate (default: runs/<model>/weights.safetensors)")
  Path weights;

  @Override
  public Integer call() throws Exception {
    device.require();
    Session s = Session.open(opts.file, opts.model);
    Recipe r = s.requireRecipe();
    Dataset[] data = s.data(r, run.data);
    ModelCompiler.Result res = device.compile(s, r, r.batch(), System.out);
    Path w = Session.existingWeights(weights, res.manifest().model());
    try (NativeModel m = device.load(res, run.threads())) {
      m.initParams(r.seed());
      s.checkVocabulary(w);
      Session.loadWeights(m, w);
      Trainer t = new Trainer(m, new Trainer.Config(1, false, r.seed(), r.optimizer().lr(),
          Session.schedule(r), null, false, Session.primaryOutput(res.forward()), Session.targetField(r),
          Session.threshold(r)), System.out);
      Trainer.Evaluation ev = t.evaluate(data[1]);
      System.out.printf("%s on %d test examples (weights %s)%n", res.manifest().model(), data[1].size(), w);
      if (r.data().kind().equals("text")) {
        System.out.printf("loss %.4f (%.3f bits per character, perplexity %.2f)  accuracy %.4f (the next character "
            + "the likeliest)%n", ev.loss(), ev.loss() / Math.log(2), Math.exp(ev.loss()), ev.accuracy());
        return 0;
      }
      int classes = classes(res, r);
      Metrics.Report rep = ev.report(classes);
      if (ev.pixels()) {
        System.out.printf("loss %.4f  pixel accuracy %.4f  mean IoU %.4f%n%n", ev.loss(), ev.accuracy(), rep.meanIou());
      } else {
        System.out.printf("loss %.4f  accuracy %.4f%n%n", ev.loss(), ev.accuracy());
      }
      String[] names = switch (r.data().kind()) {
        case "fashion_mnist" -> FashionMnist.CLASSES;
        case "shapes" -> dev.nnc.runtime.data.Shapes.CLASSES;
        case "words" -> Session.wordClasses(r.data(), run.data);
        default -> null;
      };
      System.out.print(rep.render(names));
    }
    return 0;
  }

  static int classes(ModelCompiler.Result res, Recipe r) {
    int[] shape = res.manifest().program(ModelCompiler.EVAL).output(Session.primaryOutput(res.forward())).shape();
    if (shape.length == 4) {
      return shape[1];  // [N, C, H, W]: a class per pixel
    }
    int w = shape.length > 1 ? shape[shape.length - 1] : 1;
    return w == 1 ? 2 : w;
  }
}
