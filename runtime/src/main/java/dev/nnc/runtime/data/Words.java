package dev.nnc.runtime.data;

import dev.nnc.runtime.DataException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CoderResult;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Word lists as a classification data set: a directory with one UTF-8 file per class (the
 * class is the file's name, without {@code .txt}; classes in name order), one word per line.
 * Each word becomes the ids of its first {@code length} characters ({@code field}, {@code int[length]},
 * 0 after its end), with its class as {@code label}.
 *
 * <p>The vocabulary: id 0 is padding, 1 an unknown character, then the characters from the most
 * frequent (ties by code point), so the same files always give the same ids; {@code vocab} > 0
 * keeps only the {@code vocab − 2} most frequent (the rest read as unknown). Per class, the words
 * are shuffled with the seed, at most {@code perClass} kept (0: all), and the last
 * {@code testFraction} of them held out as the test split.
 */
public final class Words {
  private Words() {}

  /** The splits, the class names, and the characters by id (ids 0 and 1 are padding and unknown: −1). */
  public record Loaded(Dataset train, Dataset test, List<String> classes, int[] characters) {
    /** Ids the data uses: padding, unknown, and one per character. */
    public int vocabulary() {
      return characters.length;
    }
  }

  /** The class files of {@code dir}: regular files (links followed), not hidden, in name order. */
  public static List<Path> classFiles(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new DataException(dir + ": no such directory (words data needs a directory with one word list per class)");
    }
    List<Path> files;
    try (Stream<Path> s = Files.list(dir)) {
      files = new ArrayList<>(s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith("."))
          .sorted().toList());
    }
    if (files.isEmpty()) {
      throw new DataException(dir + ": no word lists (one file per class, one word per line)");
    }
    return files;
  }

  /** The class named by a file: its name without a {@code .txt} extension. */
  public static String className(Path file) {
    String n = file.getFileName().toString();
    return n.endsWith(".txt") ? n.substring(0, n.length() - 4) : n;
  }

  /** The field that holds each word's length in characters (at most the padded length). */
  public static final String LENGTH = "length";

  public static Loaded load(Path dir, String field, int length, int vocab, int perClass, double testFraction, long seed)
      throws IOException {
    if (length < 1 || vocab < 0 || vocab == 1 || vocab == 2 || perClass < 0 || !(testFraction >= 0 && testFraction < 1)) {
      throw new IllegalArgumentException("words: length " + length + ", vocab " + vocab + ", per_class " + perClass
          + ", test " + testFraction);
    }
    List<Path> files = classFiles(dir);
    List<String> classes = new ArrayList<>();
    List<List<String>> words = new ArrayList<>();
    Random rnd = new Random(seed);
    for (Path f : files) {
      List<String> w = read(f);
      if (w.isEmpty()) {
        throw new DataException(f + ": no words (one word per line)");
      }
      Collections.shuffle(w, rnd);
      if (perClass > 0 && w.size() > perClass) {
        w = new ArrayList<>(w.subList(0, perClass));
      }
      classes.add(className(f));
      words.add(w);
    }
    // Characters by frequency over every kept word (ties by code point).
    Map<Integer, Long> counts = new HashMap<>();
    for (List<String> w : words) {
      for (String s : w) {
        count(s, counts);
      }
    }
    int[] byId = vocabulary(counts, vocab);
    Map<Integer, Integer> ids = ids(byId);
    List<float[]> trainX = new ArrayList<>();
    List<float[]> testX = new ArrayList<>();
    List<Integer> trainY = new ArrayList<>();
    List<Integer> testY = new ArrayList<>();
    for (int c = 0; c < words.size(); c++) {
      List<String> w = words.get(c);
      int test = (int) Math.round(w.size() * testFraction);
      for (int i = 0; i < w.size(); i++) {
        float[] x = encode(w.get(i), length, ids);
        if (i >= w.size() - test) {
          testX.add(x);
          testY.add(c);
        } else {
          trainX.add(x);
          trainY.add(c);
        }
      }
    }
    return new Loaded(dataset(field, length, trainX, trainY), dataset(field, length, testX.isEmpty() ? trainX : testX,
        testX.isEmpty() ? trainY : testY), List.copyOf(classes), byId);
  }

  /**
   * The characters by id: −1 for ids 0 (padding) and 1 (unknown), then the characters from the
   * most frequent (ties by code point); {@code vocab} > 0 keeps the {@code vocab − 2} most frequent.
   */
  static int[] vocabulary(Map<Integer, Long> counts, int vocab) {
    List<Integer> chars = new ArrayList<>(counts.keySet());
    chars.sort((a, b) -> counts.get(a).equals(counts.get(b)) ? Integer.compare(a, b)
        : Long.compare(counts.get(b), counts.get(a)));
    if (vocab > 0 && chars.size() > vocab - 2) {
      chars = chars.subList(0, vocab - 2);
    }
    int[] byId = new int[chars.size() + 2];
    byId[0] = -1;
    byId[1] = -1;
    for (int i = 0; i < chars.size(); i++) {
      byId[i + 2] = chars.get(i);
    }
    return byId;
  }

  /** Each character's id, from the characters by id. */
  public static Map<Integer, Integer> ids(int[] byId) {
    Map<Integer, Integer> ids = new HashMap<>();
    for (int i = 2; i < byId.length; i++) {
      ids.put(byId[i], i);
    }
    return ids;
  }

  /** Adds {@code s}'s characters to {@code counts}. */
  static void count(String s, Map<Integer, Long> counts) {
    s.codePoints().forEach(c -> counts.merge(c, 1L, Long::sum));
  }

  /** The ids of the first {@code length} characters of {@code word}, 0 after its end, 1 for a character out of the vocabulary. */
  static float[] encode(String word, int length, Map<Integer, Integer> ids) {
    float[] x = new float[length];
    int[] cps = word.codePoints().limit(length).toArray();
    for (int i = 0; i < cps.length; i++) {
      x[i] = ids.getOrDefault(cps[i], 1);
    }
    return x;
  }

  private static Dataset dataset(String field, int length, List<float[]> xs, List<Integer> ys) {
    float[] x = new float[xs.size() * length];
    float[] y = new float[ys.size()];
    for (int i = 0; i < xs.size(); i++) {
      System.arraycopy(xs.get(i), 0, x, i * length, length);
      y[i] = ys.get(i);
    }
    Map<String, float[]> f = new LinkedHashMap<>();
    f.put(field, x);
    f.put("label", y);
    Map<String, int[]> shapes = new LinkedHashMap<>();
    shapes.put(field, new int[] {length});
    shapes.put("label", new int[0]);
    Map<String, Boolean> ints = new LinkedHashMap<>();
    ints.put(field, true);
    ints.put("label", true);
    if (!field.equals(LENGTH)) {
      // Each word's length: its characters up to the first padding id (words are never empty).
      float[] n = new float[xs.size()];
      for (int i = 0; i < xs.size(); i++) {
        float[] w = xs.get(i);
        int k = 0;
        while (k < length && w[k] != 0) {
          k++;
        }
        n[i] = k;
      }
      f.put(LENGTH, n);
      shapes.put(LENGTH, new int[] {1});
      ints.put(LENGTH, true);
    }
    return new Dataset(xs.size(), f, shapes, ints);
  }

  /**
   * The words of {@code file}: its lines, stripped, empty ones skipped. Text that is not UTF-8 is
   * an error naming the file, the line and the byte.
   */
  static List<String> read(Path file) throws IOException {
    List<String> out = new ArrayList<>();
    for (String s : lines(file)) {
      s = s.strip();
      if (!s.isEmpty()) {
        out.add(s);
      }
    }
    return out;
  }

  /** The lines of {@code file} as they are (without their line breaks); not UTF-8: the file, line and byte. */
  static List<String> lines(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    List<String> out = new ArrayList<>();
    CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    int line = 1;
    int start = 0;
    for (int i = 0; i <= bytes.length; i++) {
      if (i == bytes.length || bytes[i] == '\n') {
        ByteBuffer in = ByteBuffer.wrap(bytes, start, i - start);
        CharBuffer chars = CharBuffer.allocate(i - start + 1);
        dec.reset();
        CoderResult r = dec.decode(in, chars, true);
        if (!r.isError()) {
          r = dec.flush(chars);
        }
        if (r.isError()) {
          int bad = Math.min(in.position(), bytes.length - 1);
          throw new DataException(file + ":" + line + ": not UTF-8 text (byte 0x"
              + String.format("%02X", bytes[bad] & 0xFF) + " at byte " + (bad - start + 1)
              + " of the line); convert the file with iconv -t UTF-8");
        }
        out.add(chars.flip().toString());
        line++;
        start = i + 1;
      }
    }
    return out;
  }
}
