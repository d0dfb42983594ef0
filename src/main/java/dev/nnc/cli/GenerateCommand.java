package dev.nnc.cli;

import dev.nnc.frontend.Recipe;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import dev.nnc.runtime.SafeTensors;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code nnc generate}: samples text from a character-level language model trained on text data.
 * The model reads a window of character ids and gives, at every position, logits for the next
 * character; the prime fills the window from its start and the logits after its last character
 * are sampled, with the temperature (logits divided by T before the softmax; T = 0 takes the
 * most likely character). Once the text is longer than the window, the window holds its last
 * characters. The characters come from the weights' vocabulary (saved by {@code train}).
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
    description = "Sample text from a character-level language model (trained on text(...) data): the prime, "
        + "then N characters drawn from the model's next-character distribution at the given temperature.")
final class GenerateCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  @Option(names = "--weights", paramLabel = "FILE", description = "weights (default: runs/<model>/weights.safetensors)")
  Path weights;

  @Option(names = "--prime", paramLabel = "TEXT", description = "the text to start from (default: a line break)")
  String prime = "\n";

  @Option(names = {"-n", "--count"}, converter = Positive.class, paramLabel = "N",
      description = "characters to generate (default 400)")
  int count = 400;

  @Option(names = {"-t", "--temperature"}, paramLabel = "T",
      description = "logits are divided by T before the softmax: below 1 surer, above 1 more varied; 0 takes the "
          + "most likely character (default 0.8)")
  double temperature = 0.8;

  @Option(names = "--seed", paramLabel = "N", description = "the sampling's random seed (default 1)")
  long seed = 1;

  @Option(names = {"-j", "--threads"}, converter = Positive.class, paramLabel = "N",
      description = "threads (default 1: one character at a time is too little work to share)")
  int threads = 1;

  @Override
  public Integer call() throws Exception {
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new UserError("--temperature must be a finite number ≥ 0, got " + temperature);
    }
    if (prime.isEmpty()) {
      throw new UserError("--prime must not be empty: the model needs at least one character to start from");
    }
    Session s = Session.open(opts.file, opts.model);
    Recipe r = s.requireRecipe();
    ModelCompiler.Result res = s.compile(r, 1, null);
    String model = res.manifest().model();
    boolean stepwise = res.manifest().programs().containsKey(ModelCompiler.STEP);
    if (!r.data().kind().equals("text")) {
      throw new UserError(model + " is trained on " + r.data().kind() + " data; generate samples from a "
          + "character-level language model trained on text(\"file.txt\", …)");
    }
    Path w = Session.existingWeights(weights, model);
    String chars = SafeTensors.metadata(w).get(Session.VOCABULARY);
    if (chars == null) {
      throw new UserError(w + " has no vocabulary (it was not written by nnc train on text data); train the model "
          + "first");
    }
    int[] byId = new int[chars.codePointCount(0, chars.length()) + 2];
    byId[0] = -1;
    byId[1] = -1;
    int k = 2;
    for (int cp : chars.codePoints().toArray()) {
      byId[k++] = cp;
    }
    if (stepwise) {
      return stepwise(res, r, w, byId);
    }
    Manifest.Program p = res.manifest().program(ModelCompiler.PREDICT);
    if (p.inputs().size() != 1) {
      throw new UserError(model + " has " + p.inputs().size() + " inputs; generate drives a model with one "
          + "input of character ids");
    }
    Manifest.Slot in = p.inputs().get(0);
    String out = Session.primaryOutput(res.forward());
    int window = (int) in.size();
    long outSize = p.output(out).size();
    if (!in.integer() || outSize % window != 0) {
      throw new UserError(model + " does not map a window of " + window + " character ids to next-character "
          + "logits at every position (its output " + out + " has " + outSize + " values)");
    }
    int classes = (int) (outSize / window);
    StringBuilder text = new StringBuilder(prime);
    int[] ids = dev.nnc.runtime.data.Text.encode(prime, byId);
    int[] all = java.util.Arrays.copyOf(ids, ids.length + count);
    int n = ids.length;
    Random rnd = new Random(seed);
    float[] x = new float[window];
    float[] logits = new float[(int) outSize];
    try (NativeModel m = Session.load(res, threads)) {
      m.initParams(r.seed());
      Session.loadWeights(m, w);
      for (int step = 0; step < count; step++) {
        int from = Math.max(0, n - window);
        int len = n - from;
        java.util.Arrays.fill(x, 0);
        for (int i = 0; i < len; i++) {
          x[i] = Math.min(all[from + i], classes - 1);
        }
        m.setInput(ModelCompiler.PREDICT, in.name(), x);
        m.run(ModelCompiler.PREDICT);
        m.output(ModelCompiler.PREDICT, out, logits);
        int next = sample(logits, (len - 1) * classes, classes, temperature, rnd);
        all[n++] = next;
        text.appendCodePoint(next < byId.length && next >= 2 ? byId[next] : '\uFFFD');
      }
    }
    System.out.println(text);
    return 0;
  }

  /**
   * Generation through the step program: each character is one step of the recurrent layers,
   * their states carried from step to step (output {@code <layer>.h} back into input
   * {@code <layer>.h0}), so the whole text conditions every character and a character costs one
   * step whatever the text's length.
   */
  private int stepwise(ModelCompiler.Result res, Recipe r, Path w, int[] byId) throws Exception {
    Manifest.Program p = res.manifest().program(ModelCompiler.STEP);
    String out = Session.primaryOutput(res.forward());
    Manifest.Slot in = null;
    java.util.Map<String, float[]> states = new java.util.LinkedHashMap<>();
    for (Manifest.Slot sl : p.inputs()) {
      if (p.output(sl.name().substring(0, sl.name().length() - 1)) != null && sl.name().endsWith("0")) {
        states.put(sl.name(), new float[(int) sl.size()]);
      } else if (in == null && sl.integer() && sl.size() == 1) {
        in = sl;
      } else {
        throw new UserError(res.manifest().model() + "'s step program takes " + sl.name() + ", which is neither a "
            + "character id nor a recurrent state; generate drives a model with one input of character ids");
      }
    }
    if (in == null) {
      throw new UserError(res.manifest().model() + " has no input of character ids to generate from");
    }
    int classes = (int) p.output(out).size();
    float[] logits = new float[classes];
    StringBuilder text = new StringBuilder(prime);
    int[] ids = dev.nnc.runtime.data.Text.encode(prime, byId);
    Random rnd = new Random(seed);
    try (NativeModel m = Session.load(res, threads)) {
      m.initParams(r.seed());
      Session.loadWeights(m, w);
      int next = -1;
      for (int step = 0; step < ids.length + count - 1; step++) {
        int id = step < ids.length ? ids[step] : next;
        m.setInput(ModelCompiler.STEP, in.name(), new float[] {Math.min(id, classes - 1)});
        for (var st : states.entrySet()) {
          m.setInput(ModelCompiler.STEP, st.getKey(), st.getValue());
        }
        m.run(ModelCompiler.STEP);
        for (var st : states.entrySet()) {
          m.output(ModelCompiler.STEP, st.getKey().substring(0, st.getKey().length() - 1), st.getValue());
        }
        if (step >= ids.length - 1) {
          m.output(ModelCompiler.STEP, out, logits);
          next = sample(logits, 0, classes, temperature, rnd);
          text.appendCodePoint(next < byId.length ? byId[next] : '\uFFFD');
        }
      }
    }
    System.out.println(text);
    return 0;
  }

  /**
   * An id drawn from {@code softmax(logits[at … at+classes) / T)}, padding (0) and unknown (1)
   * left out; {@code T = 0}: the most likely.
   */
  static int sample(float[] logits, int at, int classes, double t, Random rnd) {
    int best = 2;
    for (int c = 3; c < classes; c++) {
      if (logits[at + c] > logits[at + best]) {
        best = c;
      }
    }
    if (t == 0) {
      return best;
    }
    double[] p = new double[classes];
    double sum = 0;
    for (int c = 2; c < classes; c++) {
      p[c] = Math.exp((logits[at + c] - logits[at + best]) / t);
      sum += p[c];
    }
    double u = rnd.nextDouble() * sum;
    for (int c = 2; c < classes; c++) {
      u -= p[c];
      if (u <= 0) {
        return c;
      }
    }
    return best;
  }
}
