package dev.nnc.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.runtime.data.Text;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code text(...)} data: windows of ids with the next character as each position's label, the
 * vocabulary by frequency (0 padding, 1 unknown), the last windows held out, a directory's files
 * read once each (links to the same file included), and bad input refused with its place.
 */
class TextDataTest {
  @TempDir
  Path tmp;

  @Test
  void windowsPredictTheNextCharacter() throws Exception {
    Path f = tmp.resolve("t.txt");
    Files.writeString(f, "abcabcabcab\nzz");   // 15 characters with the final line break
    Text.Loaded t = Text.load(f, "chars", 4, 0, 0.34);
    // Characters by frequency: a, b (4 each; a first by code point), c (3), z (2), \n (2; before z by code point).
    assertArrayEquals(new int[] {-1, -1, 'a', 'b', 'c', '\n', 'z'}, t.characters());
    // (15 − 1) / 4 = 3 windows; round(3 · 0.34) = 1 held out.
    assertEquals(2, t.train().size());
    assertEquals(1, t.test().size());
    float[] x = new float[8];
    float[] y = new float[8];
    t.train().gather("chars", new int[] {0, 1}, 0, 2, x);
    t.train().gather("label", new int[] {0, 1}, 0, 2, y);
    assertArrayEquals(new float[] {2, 3, 4, 2, 3, 4, 2, 3}, x);
    assertArrayEquals(new float[] {3, 4, 2, 3, 4, 2, 3, 4}, y);
    float[] tx = new float[4];
    float[] ty = new float[4];
    t.test().gather("chars", new int[] {0}, 0, 1, tx);
    t.test().gather("label", new int[] {0}, 0, 1, ty);
    assertArrayEquals(new float[] {4, 2, 3, 5}, tx);            // "cab\n"
    assertArrayEquals(new float[] {2, 3, 5, 6}, ty);            // "ab\nz"
    assertArrayEquals(new int[] {2, 1, 6}, Text.encode("a?z", t.characters()));
  }

  @Test
  void aCappedVocabularyReadsRareCharactersAsUnknown() throws Exception {
    Path f = tmp.resolve("t.txt");
    Files.writeString(f, "aaaabbc");
    Text.Loaded t = Text.load(f, "chars", 3, 4, 0);
    assertArrayEquals(new int[] {-1, -1, 'a', 'b'}, t.characters());
    float[] x = new float[3];
    t.train().gather("chars", new int[] {1}, 0, 1, x);
    assertArrayEquals(new float[] {2, 3, 3}, x);              // "abb"
    float[] y = new float[3];
    t.train().gather("label", new int[] {1}, 0, 1, y);
    assertArrayEquals(new float[] {3, 3, 1}, y);              // "bbc": c is unknown
  }

  @Test
  void aDirectoryIsItsFilesInNameOrderEachOnce() throws Exception {
    Path d = Files.createDirectory(tmp.resolve("d"));
    Files.writeString(d.resolve("b.txt"), "bb");
    Files.writeString(d.resolve("a.txt"), "aa");
    Files.createSymbolicLink(d.resolve("c.txt"), d.resolve("a.txt"));
    Files.writeString(d.resolve(".hidden"), "zz");
    assertEquals("aa\nbb\n", Text.read(d));
  }

  @Test
  void badTextIsRefusedWithItsPlace() throws Exception {
    Path f = tmp.resolve("latin1.txt");
    Files.write(f, new byte[] {'o', 'k', '\n', 'c', 'a', 'f', (byte) 0xE9, '\n'});
    DataException e = assertThrows(DataException.class, () -> Text.load(f, "chars", 2, 0, 0));
    assertTrue(e.getMessage().contains("latin1.txt:2: not UTF-8 text (byte 0xE9 at byte 4 of the line)"),
        e.getMessage());
    Path shortOne = tmp.resolve("short.txt");
    Files.writeString(shortOne, "abc");
    DataException s = assertThrows(DataException.class, () -> Text.load(shortOne, "chars", 60, 0, 0));
    assertTrue(s.getMessage().contains("too few for one window of 60"), s.getMessage());
    DataException n = assertThrows(DataException.class, () -> Text.load(tmp.resolve("none.txt"), "chars", 6, 0, 0));
    assertTrue(n.getMessage().contains("no such file or directory"), n.getMessage());
  }
}
