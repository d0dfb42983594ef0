package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Online augmentation (`augment` in the recipe) changes what training sees, repeatably: two runs
 * with the same seed write byte-identical weights, and they differ from a run without it.
 */
class AugmentationTest {
  @TempDir
  Path tmp;

  private byte[] train(Path file, String name) throws Exception {
    Path out = tmp.resolve(name);
    CliRunner.Run r = CliRunner.run("train", file.toString(), "--epochs", "1", "--limit", "600", "-q", "--data",
        "../samples/data/fashion-mnist", "-o", out.toString());
    assertEquals(0, r.code(), r.all());
    return Files.readAllBytes(out.resolve("weights.safetensors"));
  }

  @Test
  void augmentationIsSeededAndChangesTraining() throws Exception {
    String lenet = Files.readString(Path.of("../samples/lenet5.nn"));
    Path plain = tmp.resolve("plain.nn");
    Files.writeString(plain, lenet);
    Path augmented = tmp.resolve("augmented.nn");
    Files.writeString(augmented, lenet.replace("  validation_split = 0.1",
        "  validation_split = 0.1\n  augment   = [random_crop(padding=2), flip_horizontal, translate(pixels=1)]"));
    byte[] a = train(augmented, "a");
    assertArrayEquals(a, train(augmented, "b"), "the same seed, the same augmented images");
    assertFalse(java.util.Arrays.equals(a, train(plain, "c")), "augmentation changed nothing");
  }
}
