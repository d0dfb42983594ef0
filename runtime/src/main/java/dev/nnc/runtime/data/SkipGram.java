package dev.nnc.runtime.data;

import dev.nnc.runtime.DataException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Word2Vec training pairs from a UTF-8 text ({@link Text#read}: a file or a directory): the text's
 * words (runs of letters, digits and apostrophes, lower-cased), a vocabulary by frequency (id 0
 * padding, 1 the words left out, then the words from the most frequent; {@code vocab} > 0 keeps
 * the {@code vocab − 2} most frequent), and per word and each word within {@code window} of it one
 * example with {@code negatives} words drawn from the unigram distribution raised to ¾
 * (Mikolov et al.), seeded.
 *
 * <ul>
 *   <li>skip-gram: {@code center: int[1]} the word, {@code context: int[1 + negatives]} the
 *       neighbour then the negatives, {@code label: [1 + negatives]} 1 then 0s;
 *   <li>CBOW: {@code context: int[2·window]} the words around (0 past the text's ends),
 *       {@code center: int[1 + negatives]} the word then the negatives, {@code label} as above.
 * </ul>
 * The last {@code test} fraction of the text's positions gives the test examples.
 */
public final class SkipGram {
  private SkipGram() {}

  /** The splits and the words by id (ids 0 and 1: empty). */
  public record Loaded(Dataset train, Dataset test, List<String> words, long tokens) {
    public int vocabulary() {
      return words.size();
    }
  }

  private static final Pattern WORD = Pattern.compile("[\\p{L}\\p{N}']+");

  /** The text's words, lower-cased. */
  static List<String> tokens(String text) {
    List<String> out = new ArrayList<>();
    Matcher m = WORD.matcher(text);
    while (m.find()) {
      out.add(m.group().toLowerCase(Locale.ROOT));
    }
    return out;
  }

  public static Loaded load(Path path, boolean cbow, int window, int negatives, int vocab, double testFraction,
      long seed) throws IOException {
    if (window < 1 || negatives < 0 || vocab < 0 || vocab == 1 || vocab == 2 || !(testFraction >= 0 && testFraction < 1)) {
      throw new IllegalArgumentException("skipgram: window " + window + ", negatives " + negatives + ", vocab " + vocab);
    }
    List<String> tokens = tokens(Text.read(path));
    Map<String, Long> counts = new HashMap<>();
    for (String t : tokens) {
      counts.merge(t, 1L, Long::sum);
    }
    List<String> byFreq = new ArrayList<>(counts.keySet());
    byFreq.sort((a, b) -> counts.get(a).equals(counts.get(b)) ? a.compareTo(b) : Long.compare(counts.get(b), counts.get(a)));
    if (vocab > 0 && byFreq.size() > vocab - 2) {
      byFreq = byFreq.subList(0, vocab - 2);
    }
    List<String> words = new ArrayList<>(List.of("", ""));
    words.addAll(byFreq);
    if (words.size() < 3) {
      throw new DataException(path + ": no words to learn from");
    }
    Map<String, Integer> ids = new HashMap<>();
    for (int i = 2; i < words.size(); i++) {
      ids.put(words.get(i), i);
    }
    int[] seq = new int[tokens.size()];
    for (int i = 0; i < seq.length; i++) {
      seq[i] = ids.getOrDefault(tokens.get(i), 1);
    }
    // Negatives: a table of ids drawn in proportion to count^0.75, sampled uniformly.
    double[] weight = new double[words.size()];
    double total = 0;
    for (int i = 2; i < words.size(); i++) {
      weight[i] = Math.pow(counts.get(words.get(i)), 0.75);
      total += weight[i];
    }
    int[] table = new int[Math.max(1000, 20 * words.size())];
    int w = 2;
    double acc = weight[2] / total;
    for (int i = 0; i < table.length; i++) {
      while ((i + 0.5) / table.length > acc && w < words.size() - 1) {
        w++;
        acc += weight[w] / total;
      }
      table[i] = w;
    }
    Random rnd = new Random(seed);
    int split = (int) Math.round(seq.length * (1 - testFraction));
    Builder train = new Builder(cbow, window, negatives);
    Builder test = new Builder(cbow, window, negatives);
    for (int i = 0; i < seq.length; i++) {
      if (seq[i] < 2) {
        continue;
      }
      Builder into = i < split ? train : test;
      if (cbow) {
        float[] ctx = new float[2 * window];
        int k = 0;
        boolean any = false;
        for (int d = -window; d <= window; d++) {
          if (d == 0) {
            continue;
          }
          int j = i + d;
          int id = j >= 0 && j < seq.length && seq[j] >= 2 ? seq[j] : 0;
          any |= id != 0;
          ctx[k++] = id;
        }
        if (any) {
          into.add(ctx, target(seq[i], negatives, table, rnd));
        }
      } else {
        for (int d = -window; d <= window; d++) {
          int j = i + d;
          if (d != 0 && j >= 0 && j < seq.length && seq[j] >= 2) {
            into.add(new float[] {seq[i]}, target(seq[j], negatives, table, rnd));
          }
        }
      }
    }
    if (train.size() == 0) {
      throw new DataException(path + ": no pairs of words within " + window + " of each other");
    }
    return new Loaded(train.build(), test.size() > 0 ? test.build() : train.build(), List.copyOf(words), tokens.size());
  }

  /** The true word, then {@code negatives} words drawn from the table (never the true word). */
  private static float[] target(int id, int negatives, int[] table, Random rnd) {
    float[] t = new float[1 + negatives];
    t[0] = id;
    for (int k = 1; k <= negatives; k++) {
      int n;
      int tries = 0;
      do {
        n = table[rnd.nextInt(table.length)];
      } while (n == id && ++tries < 10);
      t[k] = n;
    }
    return t;
  }

  private static final class Builder {
    final boolean cbow;
    final int window;
    final int negatives;
    final List<float[]> inputs = new ArrayList<>();
    final List<float[]> targets = new ArrayList<>();

    Builder(boolean cbow, int window, int negatives) {
      this.cbow = cbow;
      this.window = window;
      this.negatives = negatives;
    }

    void add(float[] in, float[] target) {
      inputs.add(in);
      targets.add(target);
    }

    int size() {
      return inputs.size();
    }

    Dataset build() {
      int n = inputs.size();
      int inW = inputs.get(0).length;
      int tW = 1 + negatives;
      float[] in = new float[n * inW];
      float[] tg = new float[n * tW];
      float[] label = new float[n * tW];
      for (int i = 0; i < n; i++) {
        System.arraycopy(inputs.get(i), 0, in, i * inW, inW);
        System.arraycopy(targets.get(i), 0, tg, i * tW, tW);
        label[i * tW] = 1;
      }
      String inName = cbow ? CONTEXT : CENTER;
      String tName = cbow ? CENTER : CONTEXT;
      Map<String, float[]> f = new LinkedHashMap<>();
      f.put(inName, in);
      f.put(tName, tg);
      f.put("label", label);
      Map<String, int[]> shapes = new LinkedHashMap<>();
      shapes.put(inName, new int[] {inW});
      shapes.put(tName, new int[] {tW});
      shapes.put("label", new int[] {tW});
      Map<String, Boolean> ints = new LinkedHashMap<>();
      ints.put(inName, true);
      ints.put(tName, true);
      ints.put("label", false);
      return new Dataset(n, f, shapes, ints);
    }
  }

  /** The fields: the center word(s) and the context word(s). */
  public static final String CENTER = "center";
  public static final String CONTEXT = "context";
}
