package dev.nnc.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.runtime.data.SkipGram;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Word2Vec data: words lower-cased and ranked by frequency, one skip-gram example per word and
 * neighbour within the window (the neighbour first, then negatives that are never the neighbour,
 * the label 1 then 0s), CBOW's context padded with 0 at the text's ends, rare words left out.
 */
class SkipGramDataTest {
  @TempDir
  Path tmp;

  @Test
  void skipGramPairsAndNegatives() throws Exception {
    Path f = tmp.resolve("t.txt");
    Files.writeString(f, "The cat sat. the CAT ran; the dog's bone\n");
    SkipGram.Loaded d = SkipGram.load(f, false, 1, 3, 0, 0, 7);
    // the ×3, cat ×2, then bone, dog's, ran, sat (count 1, by name).
    assertEquals(List.of("", "", "the", "cat", "bone", "dog's", "ran", "sat"), d.words());
    assertEquals(9, d.tokens());
    // Window 1 over 9 words: 2·9 − 2 = 16 pairs.
    assertEquals(16, d.train().size());
    float[] c = new float[16];
    float[] ctx = new float[16 * 4];
    float[] label = new float[16 * 4];
    int[] all = new int[16];
    for (int i = 0; i < 16; i++) {
      all[i] = i;
    }
    d.train().gather("center", all, 0, 16, c);
    d.train().gather("context", all, 0, 16, ctx);
    d.train().gather("label", all, 0, 16, label);
    // "the cat": the first pair is (the, cat), the second (cat, the), then (cat, sat).
    assertArrayEquals(new float[] {2, 3, 3}, java.util.Arrays.copyOf(c, 3));
    assertEquals(3, ctx[0], 0);
    assertEquals(2, ctx[4], 0);
    assertEquals(7, ctx[8], 0);
    for (int i = 0; i < 16; i++) {
      assertEquals(1, label[i * 4], 0);
      for (int k = 1; k < 4; k++) {
        assertEquals(0, label[i * 4 + k], 0);
        assertTrue(ctx[i * 4 + k] >= 2 && ctx[i * 4 + k] < 8, "a negative is a word of the vocabulary");
        assertTrue(ctx[i * 4 + k] != ctx[i * 4], "a negative is not the neighbour");
      }
    }
  }

  @Test
  void cbowContextsAndACappedVocabulary() throws Exception {
    Path f = tmp.resolve("t.txt");
    Files.writeString(f, "a b a c a b\n");
    SkipGram.Loaded d = SkipGram.load(f, true, 2, 1, 4, 0, 1);
    assertEquals(List.of("", "", "a", "b"), d.words());           // c left out (rare)
    // Positions of known words: a b a . a b → 5 examples (c's position skipped).
    assertEquals(5, d.train().size());
    float[] ctx = new float[4];
    float[] center = new float[2];
    d.train().gather("context", new int[] {0}, 0, 1, ctx);
    d.train().gather("center", new int[] {0}, 0, 1, center);
    assertArrayEquals(new float[] {0, 0, 3, 2}, ctx);              // before the text, then b a
    assertEquals(2, center[0], 0);
    d.train().gather("context", new int[] {2}, 0, 1, ctx);         // the second a: a b | c a, c unknown → 0
    assertArrayEquals(new float[] {2, 3, 0, 2}, ctx);
  }

  @Test
  void aTextWithoutPairsIsRefused() throws Exception {
    Path f = tmp.resolve("t.txt");
    Files.writeString(f, "...\n");
    DataException e = assertThrows(DataException.class, () -> SkipGram.load(f, false, 2, 5, 0, 0, 1));
    assertTrue(e.getMessage().contains("no words to learn from"), e.getMessage());
  }
}
