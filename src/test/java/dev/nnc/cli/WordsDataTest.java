package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.runtime.DataException;
import dev.nnc.runtime.data.Words;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code words} data source: word lists to character ids (vocabulary by frequency, padding,
 * truncation, held-out words per class), its errors (not UTF-8, no lists, too few classes or ids
 * for the model), and a character-level classifier trained on the generated lists of
 * {@code samples/data/words} through {@code nnc train} and {@code nnc eval}, whose confusion matrix
 * names the languages.
 */
class WordsDataTest {
  @TempDir
  Path tmp;

  @Test
  void wordsBecomeCharacterIdsWithHeldOutWords() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("lists"));
    Files.writeString(dir.resolve("b.txt"), "aab\n\n  ab  \nbbbbbbbbbbbb\n");
    Files.writeString(dir.resolve("a"), "ça\nc\nca\nac\n");
    Files.writeString(dir.resolve(".hidden"), "x\n");
    Words.Loaded w = Words.load(dir, "chars", 5, 0, 0, 0.25, 1);
    assertEquals(List.of("a", "b"), w.classes());
    // Counts: b 14, a 6, c 3, ç 1: ids 2, 3, 4, 5 after padding (0) and unknown (1).
    assertArrayEquals(new int[] {-1, -1, 'b', 'a', 'c', 'ç'}, w.characters());
    assertEquals(6, w.vocabulary());
    assertEquals(3 + 2, w.train().size(), "3 of class a's 4 words, 2 of class b's 3 (one held out each)");
    assertEquals(2, w.test().size());
    // bbbbbbbbbbbb is cut to its first 5 characters; ab is padded with zeros.
    boolean sawLong = false;
    boolean sawShort = false;
    for (dev.nnc.runtime.data.Dataset d : List.of(w.train(), w.test())) {
      float[] x = d.field("chars");
      float[] y = d.field("label");
      for (int i = 0; i < d.size(); i++) {
        float[] row = java.util.Arrays.copyOfRange(x, i * 5, i * 5 + 5);
        sawLong |= y[i] == 1 && java.util.Arrays.equals(row, new float[] {2, 2, 2, 2, 2});
        sawShort |= y[i] == 1 && java.util.Arrays.equals(row, new float[] {3, 2, 0, 0, 0});
      }
    }
    assertTrue(sawLong && sawShort, "bbbbbbbbbbbb as b×5 and ab padded");
    // A vocabulary of 4 keeps b and a; c and ç read as unknown (1).
    Words.Loaded small = Words.load(dir, "chars", 5, 4, 0, 0, 1);
    assertArrayEquals(new int[] {-1, -1, 'b', 'a'}, small.characters());
    float[] sx = small.train().field("chars");
    boolean unknown = false;
    for (float v : sx) {
      assertTrue(v >= 0 && v < 4);
      unknown |= v == 1;
    }
    assertTrue(unknown, "c or ç read as unknown (id 1)");
  }

  @Test
  void badListsAreErrorsNamingTheFileAndLine() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("bad"));
    Files.write(dir.resolve("latin1.txt"), new byte[] {'o', 'k', '\n', 'c', 'a', 'f', (byte) 0xE9, '\n'});
    DataException e = assertThrows(DataException.class, () -> Words.load(dir, "chars", 8, 0, 0, 0.1, 1));
    assertEquals(dir.resolve("latin1.txt") + ":2: not UTF-8 text (byte 0xE9 at byte 4 of the line); "
        + "convert the file with iconv -t UTF-8", e.getMessage());
    Path empty = Files.createDirectories(tmp.resolve("empty"));
    e = assertThrows(DataException.class, () -> Words.load(empty, "chars", 8, 0, 0, 0.1, 1));
    assertTrue(e.getMessage().endsWith(": no word lists (one file per class, one word per line)"), e.getMessage());
    e = assertThrows(DataException.class, () -> Words.load(tmp.resolve("missing"), "chars", 8, 0, 0, 0.1, 1));
    assertTrue(e.getMessage().contains("no such directory"), e.getMessage());
  }

  static String model(int classes, int vocab, String words) {
    return """
        model Lang {
          input chars: int[16]
          h = chars -> embedding(%d, 12) -> flatten -> dense(64) -> relu
          output logits = h -> dense(%d)
        }
        train Lang {
          data      = words("%s", length=16%s)
          loss      = cross_entropy(logits, label)
          optimizer = adam(lr=3e-3)
          batch     = 32
          epochs    = 8
          metrics   = [accuracy]
        }
        """.formatted(vocab, classes, words, vocab == 48 ? ", vocab=48" : "");
  }

  @Test
  void aCharacterModelLearnsTheGeneratedLanguagesAndEvalNamesThem() throws Exception {
    String lists = Path.of("..", "samples", "data", "words").toAbsolutePath().normalize().toString().replace("\\", "/");
    Path file = tmp.resolve("lang.nn");
    Files.writeString(file, model(5, 48, lists));
    Path out = tmp.resolve("run");
    CliRunner.Run t = CliRunner.run("train", file.toString(), "-q", "-o", out.toString(), "--threads", "2");
    assertEquals(0, t.code(), t.all());
    CliRunner.Run e = CliRunner.run("eval", file.toString(), "--weights", out.resolve("weights.safetensors").toString());
    assertEquals(0, e.code(), e.all());
    Matcher m = Pattern.compile("accuracy (\\d\\.\\d+)").matcher(e.out());
    assertTrue(m.find(), e.out());
    double accuracy = Double.parseDouble(m.group(1));
    // Five classes: chance is 0.2; the generated syllable inventories differ a lot.
    assertTrue(accuracy > 0.7, "test accuracy " + accuracy + "\n" + e.out());
    for (String lang : List.of("english", "french", "german", "italian", "spanish")) {
      assertTrue(e.out().contains(lang), "the confusion matrix names " + lang + ":\n" + e.out());
    }

    // The weights carry their vocabulary: lists with one more character give other ids, refused.
    Path other = Files.createDirectories(tmp.resolve("other"));
    for (String lang : List.of("english", "french", "german", "italian", "spanish")) {
      Files.copy(Path.of(lists, lang + ".txt"), other.resolve(lang + ".txt"));
    }
    Files.writeString(other.resolve("german.txt"), "жук\n", java.nio.file.StandardOpenOption.APPEND);
    CliRunner.Run moved = CliRunner.run("eval", file.toString(), "--weights", out.resolve("weights.safetensors").toString(),
        "--data", other.toString());
    assertNotEquals(0, moved.code(), moved.all());
    assertTrue(moved.err().contains("was trained on a vocabulary of") && moved.err().contains("the ids would mean other "
        + "characters"), moved.all());

    // Nor does --resume continue a run on lists with another vocabulary (as many words: one
    // German word replaced by one with new characters).
    Path swapped = Files.createDirectories(tmp.resolve("swapped"));
    for (String lang : List.of("english", "french", "german", "italian", "spanish")) {
      List<String> words = new java.util.ArrayList<>(Files.readAllLines(Path.of(lists, lang + ".txt")));
      if (lang.equals("german")) {
        words.set(0, "жук");
      }
      Files.write(swapped.resolve(lang + ".txt"), words);
    }
    Path one = tmp.resolve("one");
    assertEquals(0, CliRunner.run("train", file.toString(), "-q", "--epochs", "1", "-o", one.toString(), "--data",
        lists).code());
    CliRunner.Run resumed = CliRunner.run("train", file.toString(), "-q", "--epochs", "2", "--resume", one.toString(),
        "--data", swapped.toString());
    assertNotEquals(0, resumed.code(), resumed.all());
    assertTrue(resumed.err().contains("was saved with another version of model") && resumed.err().contains("data"),
        resumed.all());

    // Four classes for five lists, and an embedding too small for the characters: clear errors.
    Files.writeString(file, model(4, 48, lists));
    CliRunner.Run four = CliRunner.run("train", file.toString(), "-q", "--epochs", "1");
    assertNotEquals(0, four.code());
    assertTrue(four.err().contains("has 5 word lists (english, french, german, italian, spanish) but the model has 4 "
        + "classes"), four.all());
    Files.writeString(file, model(5, 10, lists));
    CliRunner.Run small = CliRunner.run("train", file.toString(), "-q", "--epochs", "1");
    assertNotEquals(0, small.code());
    assertTrue(small.err().contains("but the model's embedding takes 10: use embedding("), small.all());
  }

  /**
   * The real lists (Debian's wamerican, wspanish, wfrench, wngerman, witalian; .ci/run installs
   * them): 3,000 words of each language through the same character model. Without them this
   * fails, naming the packages.
   */
  @Test
  void theDebianWordListsAreLearntToo() throws Exception {
    String[][] lists = {{"english", "american-english"}, {"french", "french"}, {"german", "ngerman"},
        {"italian", "italian"}, {"spanish", "spanish"}};
    Path dir = Files.createDirectories(tmp.resolve("debian"));
    for (String[] l : lists) {
      Path src = Path.of("/usr/share/dict", l[1]);
      assertTrue(Files.isRegularFile(src), src + " is missing: apt-get install wamerican wspanish wfrench wngerman "
          + "witalian (as .ci/run does)");
      Files.createSymbolicLink(dir.resolve(l[0]), src);
    }
    Path file = tmp.resolve("debian.nn");
    Files.writeString(file, model(5, 83, dir.toString().replace("\\", "/")).replace("length=16", "length=16, per_class=3000")
        .replace("epochs    = 8", "epochs    = 3"));
    CliRunner.Run t = CliRunner.run("train", file.toString(), "-q", "-o", tmp.resolve("drun").toString());
    assertEquals(0, t.code(), t.all());
    Matcher m = Pattern.compile("test: loss \\S+  accuracy (\\d\\.\\d+)").matcher(t.out());
    assertTrue(m.find(), t.out());
    assertTrue(Double.parseDouble(m.group(1)) > 0.6, "test accuracy on held-out real words: " + m.group(1));
  }
}
