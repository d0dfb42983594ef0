package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training is bit-reproducible for a given seed: two runs write byte-identical weights, and so do
 * runs on one and on two threads (every parallel kernel's iterations are independent, so the
 * split across the worker pool cannot change a result).
 */
class ReproducibleTrainingTest {
  @TempDir
  Path tmp;

  private byte[] train(String name, int threads) throws Exception {
    Path out = tmp.resolve(name);
    CliRunner.Run r = CliRunner.run("train", CliTest.MLP, "--epochs", "2", "--limit", "1000", "-q",
        "--threads", String.valueOf(threads), "-o", out.toString());
    assertEquals(0, r.code(), r.all());
    return Files.readAllBytes(out.resolve("weights.safetensors"));
  }

  @Test
  void sameSeedSameWeights() throws Exception {
    byte[] a = train("a", 2);
    assertArrayEquals(a, train("b", 2), "two runs on two threads");
    assertArrayEquals(a, train("c", 1), "one thread against two");
  }
}
