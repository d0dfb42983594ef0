package dev.nnc.runtime.data;

import dev.nnc.runtime.DataException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Fashion-MNIST from IDX files: {@code image} scaled to [0, 1] ({@code [1,28,28]} or flattened
 * {@code [784]}) and {@code label} (0–9). Looks in the folder given, else the Debian package's
 * {@value #SYSTEM_DIR}, else the repository's embedded subset.
 */
public final class FashionMnist {
  public static final String SYSTEM_DIR = "/usr/share/datasets/fashion-mnist";
  public static final String[] CLASSES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
      "Sneaker", "Bag", "Ankle boot"};

  private FashionMnist() {}

  /** Train and test splits. */
  public record Splits(Dataset train, Dataset test, Path dir) {}

  /** The folder to read: {@code explicit}, else the system package, else {@code embedded}. */
  public static Path locate(Path explicit, Path embedded) throws DataException {
    if (explicit != null) {
      if (!Files.isDirectory(explicit)) {
        throw new DataException(explicit + ": no such folder for Fashion-MNIST");
      }
      return explicit;
    }
    Path sys = Path.of(SYSTEM_DIR);
    if (Files.isRegularFile(sys.resolve("train-images-idx3-ubyte.gz"))) {
      return sys;
    }
    if (embedded != null && Files.isDirectory(embedded)) {
      return embedded;
    }
    throw new DataException("Fashion-MNIST not found: install the Debian package dataset-fashion-mnist, or pass "
        + "--data with a folder of IDX files");
  }

  public static Splits load(Path dir, boolean flatten) throws IOException {
    return new Splits(split(dir, "train", flatten), split(dir, "t10k", flatten), dir);
  }

  private static Path file(Path dir, String name) throws DataException {
    for (String n : new String[] {name + ".gz", name}) {
      if (Files.isRegularFile(dir.resolve(n))) {
        return dir.resolve(n);
      }
    }
    throw new DataException(dir.resolve(name + ".gz") + ": no such file (Fashion-MNIST needs "
        + "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte)");
  }

  static Dataset split(Path dir, String prefix, boolean flatten) throws IOException {
    Path imgFile = file(dir, prefix + "-images-idx3-ubyte");
    Path lblFile = file(dir, prefix + "-labels-idx1-ubyte");
    Idx.Array img = Idx.read(imgFile);
    Idx.Array lbl = Idx.read(lblFile);
    if (img.dims().length != 3 || img.dims()[1] != 28 || img.dims()[2] != 28) {
      throw new DataException(imgFile + ": expected images of 28x28, got dimensions "
          + java.util.Arrays.toString(img.dims()));
    }
    if (lbl.dims().length != 1 || lbl.count() != img.count()) {
      throw new DataException(lblFile + ": " + lbl.count() + " labels for " + img.count() + " images in " + imgFile);
    }
    float[] pixels = img.values();
    for (int i = 0; i < pixels.length; i++) {
      pixels[i] /= 255f;
    }
    for (float l : lbl.values()) {
      if (l > 9) {
        throw new DataException(lblFile + ": label " + (int) l + " is not a class 0-9");
      }
    }
    Map<String, float[]> f = new LinkedHashMap<>();
    Map<String, int[]> s = new LinkedHashMap<>();
    Map<String, Boolean> integer = new LinkedHashMap<>();
    f.put("image", pixels);
    s.put("image", flatten ? new int[] {784} : new int[] {1, 28, 28});
    f.put("label", lbl.values());
    s.put("label", new int[0]);
    integer.put("label", true);
    return new Dataset(img.count(), f, s, integer);
  }
}
