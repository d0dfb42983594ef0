package dev.nnc.cli;

import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Recipe;
import dev.nnc.runtime.SafeTensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code nnc neighbors}: the words nearest to a word by the cosine similarity of their rows in a
 * word embedding trained on {@code skipgram(…)} data (the vocabulary saved with the weights).
 */
@Command(name = "neighbors", mixinStandardHelpOptions = true,
    description = "Print the words nearest to WORD by cosine similarity in a word embedding trained on "
        + "skipgram(...) data (samples/word2vec.nn).")
final class NeighborsCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  @Parameters(index = "1", paramLabel = "WORD", description = "the word (lower case, as the vocabulary holds it)")
  String word;

  @Option(names = "-k", converter = Positive.class, paramLabel = "K", description = "how many neighbours (default 10)")
  int k = 10;

  @Option(names = "--weights", paramLabel = "FILE", description = "weights (default: runs/<model>/weights.safetensors)")
  Path weights;

  @Option(names = "--layer", paramLabel = "NAME",
      description = "the embedding layer whose rows are the word vectors (default: the model's first embedding or "
          + "embedding_bag, the input vectors)")
  String layer;

  @Override
  public Integer call() throws Exception {
    Session s = Session.open(opts.file, opts.model);
    Recipe r = s.requireRecipe();
    Elaborated e = Elaborator.elaborate(s.program, s.modelName, 1, LayerContext.Mode.INFER, null);
    if (!r.data().kind().equals("skipgram")) {
      throw new UserError(e.model() + " is trained on " + r.data().kind() + " data; neighbors reads a word embedding "
          + "trained on skipgram(\"file.txt\", …)");
    }
    Path w = Session.existingWeights(weights, e.model());
    String list = SafeTensors.metadata(w).get(Session.WORDS);
    if (list == null) {
      throw new UserError(w + " has no word vocabulary (it was not written by nnc train on skipgram data)");
    }
    List<String> words = new ArrayList<>(List.of("", ""));
    words.addAll(List.of(list.split("\n", -1)));
    String name = null;
    for (Elaborated.LayerInfo l : e.layers()) {
      if (layer != null ? l.path().equals(layer) : l.kind().equals("embedding") || l.kind().equals("embedding_bag")) {
        name = l.path() + ".weight";
        break;
      }
    }
    if (name == null) {
      throw new UserError(layer != null ? e.model() + " has no layer " + layer : e.model() + " has no embedding layer");
    }
    SafeTensors.Entry t = SafeTensors.read(w).get(name);
    // The table may have more rows than the text has words (ids past them are never used).
    if (t == null || t.shape().length != 2 || t.shape()[0] < words.size()) {
      throw new UserError(w + ": " + name + (t == null ? " is missing" : " is " + java.util.Arrays.toString(t.shape()))
          + ", not a table of the vocabulary's " + words.size() + " ids");
    }
    int id = words.indexOf(word.toLowerCase(Locale.ROOT));
    if (id < 2) {
      throw new UserError("`" + word + "` is not in the vocabulary of " + (words.size() - 2) + " words"
          + (words.size() - 2 > 0 ? " (rare words are left out: skipgram(…, vocab=N) keeps the N − 2 most frequent)"
              : ""));
    }
    int dim = t.shape()[1];
    float[] v = t.data();
    double[] norm = new double[words.size()];
    for (int i = 0; i < words.size(); i++) {
      double sq = 0;
      for (int d = 0; d < dim; d++) {
        sq += (double) v[i * dim + d] * v[i * dim + d];
      }
      norm[i] = Math.sqrt(sq);
    }
    List<double[]> scored = new ArrayList<>();
    for (int i = 2; i < words.size(); i++) {
      if (i == id) {
        continue;
      }
      double dot = 0;
      for (int d = 0; d < dim; d++) {
        dot += (double) v[i * dim + d] * v[id * dim + d];
      }
      scored.add(new double[] {dot / Math.max(1e-12, norm[i] * norm[id]), i});
    }
    scored.sort((a, b) -> Double.compare(b[0], a[0]));
    System.out.printf("nearest to \"%s\" (%s, %d words, cosine similarity):%n", words.get(id), name, words.size() - 2);
    for (int i = 0; i < Math.min(k, scored.size()); i++) {
      System.out.printf("%3d  %-20s %.4f%n", i + 1, words.get((int) scored.get(i)[1]), scored.get(i)[0]);
    }
    return 0;
  }
}
