package dev.nnc.runtime.data;

import dev.nnc.runtime.DataException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A UTF-8 text (a file, or a directory's files in name order, joined by line breaks) as
 * character-level language-model data: windows of {@code length} characters, one after the
 * other, each with the next character at every position as its {@code label} ({@code int[length]}),
 * the last {@code test} fraction of the windows held out. The vocabulary is built as for word lists
 * ({@link Words}): 0 padding, 1 unknown, then the characters from the most frequent.
 */
public final class Text {
  private Text() {}

  /** The splits and the characters by id (ids 0 and 1: −1). */
  public record Loaded(Dataset train, Dataset test, int[] characters, long length) {
    public int vocabulary() {
      return characters.length;
    }
  }

  /** The files a text source reads: the file itself, or a directory's regular files (not hidden) in name order. */
  static List<Path> files(Path path) throws IOException {
    if (Files.isRegularFile(path)) {
      return List.of(path);
    }
    if (!Files.isDirectory(path)) {
      throw new DataException(path + ": no such file or directory (text data reads a UTF-8 text file)");
    }
    try (Stream<Path> s = Files.list(path)) {
      // Links to a file also there are read once (common-licenses: GPL → GPL-3).
      java.util.Set<Path> seen = new java.util.HashSet<>();
      List<Path> files = new java.util.ArrayList<>();
      for (Path p : s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith(".")).sorted()
          .toList()) {
        if (seen.add(p.toRealPath())) {
          files.add(p);
        }
      }
      if (files.isEmpty()) {
        throw new DataException(path + ": no text files");
      }
      return files;
    }
  }

  /** The text of {@code path}: its files' lines joined by line breaks (not UTF-8: the file, line and byte). */
  public static String read(Path path) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (Path f : files(path)) {
      List<String> lines = Words.lines(f);
      // A file's last line break ends its last line: no empty line after it.
      int n = !lines.isEmpty() && lines.get(lines.size() - 1).isEmpty() ? lines.size() - 1 : lines.size();
      for (String line : lines.subList(0, n)) {
        sb.append(line).append('\n');
      }
    }
    return sb.toString();
  }

  public static Loaded load(Path path, String field, int length, int vocab, double testFraction) throws IOException {
    if (length < 1 || vocab < 0 || vocab == 1 || vocab == 2 || !(testFraction >= 0 && testFraction < 1)) {
      throw new IllegalArgumentException("text: length " + length + ", vocab " + vocab + ", test " + testFraction);
    }
    String text = read(path);
    int[] cps = text.codePoints().toArray();
    long windows = (cps.length - 1L) / length;
    if (windows < 1) {
      throw new DataException(path + ": " + cps.length + " characters, too few for one window of " + length
          + " and the character after it; use a longer text or a smaller length");
    }
    Map<Integer, Long> counts = new HashMap<>();
    Words.count(text, counts);
    int[] byId = Words.vocabulary(counts, vocab);
    Map<Integer, Integer> ids = Words.ids(byId);
    float[] all = new float[cps.length];
    for (int i = 0; i < cps.length; i++) {
      all[i] = ids.getOrDefault(cps[i], 1);
    }
    int n = Math.toIntExact(windows);
    int test = (int) Math.round(n * testFraction);
    return new Loaded(dataset(field, length, all, 0, n - test), dataset(field, length, all, test > 0 ? n - test : 0,
        test > 0 ? test : n), byId, cps.length);
  }

  private static Dataset dataset(String field, int length, float[] ids, int first, int count) {
    float[] x = new float[Math.multiplyExact(count, length)];
    float[] y = new float[x.length];
    for (int w = 0; w < count; w++) {
      int at = (first + w) * length;
      System.arraycopy(ids, at, x, w * length, length);
      System.arraycopy(ids, at + 1, y, w * length, length);
    }
    Map<String, float[]> f = new LinkedHashMap<>();
    f.put(field, x);
    f.put("label", y);
    Map<String, int[]> shapes = new LinkedHashMap<>();
    shapes.put(field, new int[] {length});
    shapes.put("label", new int[] {length});
    Map<String, Boolean> ints = new LinkedHashMap<>();
    ints.put(field, true);
    ints.put("label", true);
    return new Dataset(count, f, shapes, ints);
  }

  /** Encodes {@code s} with the characters by id (characters not among them: 1, unknown). */
  public static int[] encode(String s, int[] byId) {
    Map<Integer, Integer> ids = Words.ids(byId);
    return s.codePoints().map(c -> ids.getOrDefault(c, 1)).toArray();
  }
}
