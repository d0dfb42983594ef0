package dev.nnc.cli;

import dev.nnc.frontend.Recipe;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.data.Csv;
import dev.nnc.runtime.data.Dataset;
import dev.nnc.runtime.data.FashionMnist;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code nnc predict}: run the compiled inference program on examples and print its outputs. */
@Command(name = "predict", mixinStandardHelpOptions = true,
    description = "Run inference with trained weights on the first examples of the test data, or on the rows of a "
        + "CSV file of feature values (--input), and print the predictions.")
final class PredictCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  @Mixin
  DeviceOption device;

  @Mixin
  Options.Run run;

  @Option(names = "--weights", paramLabel = "FILE", description = "weights (default: runs/<model>/weights.safetensors)")
  Path weights;

  @Option(names = "--input", paramLabel = "CSV", description = "a CSV file with a header row of feature values")
  Path input;

  @Option(names = {"-n", "--count"}, converter = Positive.class, paramLabel = "N", description = "examples to predict from the test data (default 10)")
  int count = 10;

  @Override
  public Integer call() throws Exception {
    device.require();
    Session s = Session.open(opts.file, opts.model);
    Recipe r = s.requireRecipe();
    ModelCompiler.Result res = device.compile(s, r, r.batch(), null);
    Manifest.Program p = res.manifest().program(ModelCompiler.PREDICT);
    Manifest.Slot in = p.inputs().get(0);
    Dataset d;
    if (input != null) {
      if (!Files.isRegularFile(input)) {
        throw new UserError(input + ": no such file");
      }
      String first;
      try (var reader = Files.newBufferedReader(input, java.nio.charset.StandardCharsets.UTF_8)) {
        first = reader.readLine();
      }
      if (first == null || first.isBlank()) {
        throw new UserError(input + ": empty file; --input takes a CSV file with a header row and one example a row");
      }
      if (p.inputs().size() > 1) {
        throw new UserError(input + ": --input fills one input, and " + res.manifest().model() + " has "
            + p.inputs().size() + " (" + String.join(", ", p.inputs().stream().map(Manifest.Slot::name).toList())
            + "); leave --input out to predict on the recipe's data");
      }
      List<String> header = List.of(first.split(","));
      d = Csv.load(input, in.name(), header.stream().map(String::strip).toList(), null, List.of());
      long per = in.size() / res.manifest().batch();
      if (d.width(in.name()) != per) {
        throw new UserError(input + ": has " + d.width(in.name()) + " columns, the model's input `" + in.name()
            + "` takes " + per + " values per example");
      }
    } else {
      d = s.data(r, run.data)[1].head(count);
    }
    Path w = Session.existingWeights(weights, res.manifest().model());
    String out = Session.primaryOutput(res.forward());
    int batch = res.manifest().batch();
    try (NativeModel m = device.load(res, run.threads())) {
      m.initParams(r.seed());
      s.checkVocabulary(w);
      Session.loadWeights(m, w);
      int width = (int) (p.output(out).size() / batch);
      float[][] bufs = new float[p.inputs().size()][];
      for (int i = 0; i < bufs.length; i++) {
        bufs[i] = new float[(int) p.inputs().get(i).size()];
      }
      float[] o = new float[(int) p.output(out).size()];
      int[] order = new int[d.size()];
      for (int i = 0; i < order.length; i++) {
        order[i] = i;
      }
      boolean fm = r.data().kind().equals("fashion_mnist");
      for (int start = 0; start < d.size(); start += batch) {
        int n = Math.min(batch, d.size() - start);
        for (int i = 0; i < bufs.length; i++) {
          String name = p.inputs().get(i).name();
          d.gather(name, order, start, n, bufs[i]);
          NativeModel.padBatch(bufs[i], n, bufs[i].length / batch);
          m.setInput(ModelCompiler.PREDICT, name, bufs[i]);
        }
        m.run(ModelCompiler.PREDICT);
        m.output(ModelCompiler.PREDICT, out, o);
        for (int i = 0; i < n; i++) {
          System.out.println(line(start + i, o, i, width, fm, d, order));
        }
      }
    }
    return 0;
  }

  private static String line(int idx, float[] o, int row, int width, boolean fm, Dataset d, int[] order) {
    StringBuilder sb = new StringBuilder("#" + idx + ": ");
    if (width == 1) {
      sb.append(String.format("%.4f", o[row]));
    } else {
      // Probabilities: softmax of the row (outputs are logits unless the model ends in softmax).
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < width; j++) {
        max = Math.max(max, o[row * width + j]);
      }
      double sum = 0;
      for (int j = 0; j < width; j++) {
        sum += Math.exp(o[row * width + j] - max);
      }
      int best = dev.nnc.runtime.Metrics.predicted(o, row, width, 0.5);
      double prob = Math.exp(o[row * width + best] - max) / sum;
      sb.append("class ").append(best);
      if (fm) {
        sb.append(" (").append(FashionMnist.CLASSES[best]).append(')');
      }
      sb.append(String.format(", p=%.3f", prob));
    }
    if (d.has("label")) {
      int actual = (int) d.field("label")[order[idx]];
      sb.append("   true: ").append(actual).append(fm ? " (" + FashionMnist.CLASSES[actual] + ")" : "");
    }
    return sb.toString();
  }
}
