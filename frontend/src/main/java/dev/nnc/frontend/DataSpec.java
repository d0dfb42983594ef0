package dev.nnc.frontend;

import dev.nnc.ir.DType;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A data source named in a recipe and the fields it binds, per example:
 * <ul>
 *   <li>{@code fashion_mnist} / {@code fashion_mnist(flatten=true)}: {@code image f32[1,28,28]}
 *       (or {@code [784]}), scaled to [0, 1], and {@code label i32[]};
 *   <li>{@code csv("file.csv", label="y")}: the other columns as the model's input, {@code label}
 *       as integer classes;
 *   <li>{@code csv("file.csv", target=["y"])}: the other columns as the model's input, the named
 *       columns as {@code target f32[k]}.
 *   <li>{@code synthetic(examples=256)}: random inputs of the model's first input's shape,
 *       uniform in [0, 1), and random {@code label}s among the model's classes, seeded — for
 *       networks without their data set here (ImageNet-shape models): they compile, train steps
 *       run and report speed and memory, nothing is learnt.
 *   <li>{@code shapes(examples=2000, size=32)}: generated segmentation images
 *       ({@code image f32[1,size,size]}) with the class of every pixel ({@code label i32[size,size]}:
 *       background, disc, square, triangle); a fifth as many test images, from another seed.
 *   <li>{@code words("dir", length=16)}: one word list per class in {@code dir}; each word's
 *       character ids ({@code int[length]}, 0 after the word) and its class as {@code label}.
 * </ul>
 */
public record DataSpec(String kind, String path, boolean flatten, String labelColumn, List<String> targetColumns,
    List<String> featureColumns, Map<String, TensorType> fields, String featureField, int examples, WordOptions words,
    SkipGramOptions skipgram) {

  public DataSpec(String kind, String path, boolean flatten, String labelColumn, List<String> targetColumns,
      List<String> featureColumns, Map<String, TensorType> fields, String featureField, int examples) {
    this(kind, path, flatten, labelColumn, targetColumns, featureColumns, fields, featureField, examples, null, null);
  }

  public DataSpec(String kind, String path, boolean flatten, String labelColumn, List<String> targetColumns,
      List<String> featureColumns, Map<String, TensorType> fields, String featureField, int examples,
      WordOptions words) {
    this(kind, path, flatten, labelColumn, targetColumns, featureColumns, fields, featureField, examples, words, null);
  }

  /**
   * {@code skipgram(file, window=2, negatives=5, vocab=0, mode=skipgram, test=0.1)}: Word2Vec pairs
   * (see {@code dev.nnc.runtime.data.SkipGram}); {@code cbow} for mode=cbow.
   */
  public record SkipGramOptions(boolean cbow, int window, int negatives, int vocab, double test) {}

  /**
   * Word2Vec data: skip-gram gives {@code center: int[1]}, {@code context: int[1 + negatives]} and
   * {@code label: [1 + negatives]} (1 for the true neighbour, then 0s); CBOW gives
   * {@code context: int[2·window]} and {@code center: int[1 + negatives]}, the label alike.
   */
  static DataSpec skipgram(String path, SkipGramOptions o) {
    Map<String, TensorType> f = new LinkedHashMap<>();
    int k = 1 + o.negatives();
    String in = o.cbow() ? "context" : "center";
    String target = o.cbow() ? "center" : "context";
    f.put(in, new TensorType(Shape.of(o.cbow() ? 2 * o.window() : 1), DType.I32));
    f.put(target, new TensorType(Shape.of(k), DType.I32));
    f.put("label", TensorType.f32(Shape.of(k)));
    return new DataSpec("skipgram", path, false, null, List.of("label"), List.of(), f, in, 0, null, o);
  }

  /**
   * {@code words(dir, length=16, vocab=0, per_class=0, test=0.1)}: characters per word kept,
   * the vocabulary's size (0: every character, plus padding and unknown), words kept per class
   * (0: all), and the fraction of each class held out for testing.
   */
  public record WordOptions(int length, int vocab, int perClass, double test) {}

  /** The field of a word's length in {@code words} data. */
  public static final String WORD_LENGTH = "length";

  static DataSpec words(String dir, String featureField, WordOptions o) {
    Map<String, TensorType> f = new LinkedHashMap<>();
    f.put(featureField, new TensorType(Shape.of(o.length()), DType.I32));
    f.put("label", new TensorType(Shape.SCALAR, DType.I32));
    // The word's length in characters (at most length): for a recurrent layer's masking.
    if (!featureField.equals(WORD_LENGTH)) {
      f.put(WORD_LENGTH, new TensorType(Shape.of(1), DType.I32));
    }
    return new DataSpec("words", dir, false, "label", List.of(), List.of(), f, featureField, 0, o);
  }

  /**
   * A UTF-8 text as character-level language-model data: the model's (first) input gets windows
   * of {@code length} character ids, {@code label} the next character at each position (options as
   * for words; {@code perClass} unused).
   */
  static DataSpec text(String path, String featureField, WordOptions o) {
    Map<String, TensorType> f = new LinkedHashMap<>();
    f.put(featureField, new TensorType(Shape.of(o.length()), DType.I32));
    f.put("label", new TensorType(Shape.of(o.length()), DType.I32));
    return new DataSpec("text", path, false, "label", List.of(), List.of(), f, featureField, 0, o);
  }

  public static final Shape MNIST_IMAGE = Shape.of(1, 28, 28);

  static DataSpec fashionMnist(boolean flatten) {
    Map<String, TensorType> f = new LinkedHashMap<>();
    f.put("image", TensorType.f32(flatten ? Shape.of(784) : MNIST_IMAGE));
    f.put("label", new TensorType(Shape.SCALAR, DType.I32));
    return new DataSpec("fashion_mnist", null, flatten, null, List.of(), List.of(), f, "image", 0);
  }

  static DataSpec csv(String path, String featureField, List<String> header, String label, List<String> targets) {
    List<String> features = header.stream().filter(c -> !c.equals(label) && !targets.contains(c)).toList();
    Map<String, TensorType> f = new LinkedHashMap<>();
    f.put(featureField, TensorType.f32(Shape.of(features.size())));
    if (label != null) {
      f.put("label", new TensorType(Shape.SCALAR, DType.I32));
    }
    if (!targets.isEmpty()) {
      f.put("target", TensorType.f32(Shape.of(targets.size())));
    }
    return new DataSpec("csv", path, false, label, targets, features, f, featureField, 0);
  }

  static DataSpec shapes(int examples, int size) {
    Map<String, TensorType> f = new LinkedHashMap<>();
    f.put("image", TensorType.f32(Shape.of(1, size, size)));
    f.put("label", new TensorType(Shape.of(size, size), DType.I32));
    return new DataSpec("shapes", null, false, "label", List.of(), List.of(), f, "image", examples);
  }

  /** The image side of {@code shapes} data. */
  public int size() {
    return fields.get("image").shape().dim(1);
  }

  /** The feature field takes the model input's shape, whatever it is (its type here is a placeholder). */
  static DataSpec synthetic(String featureField, int examples) {
    Map<String, TensorType> f = new LinkedHashMap<>();
    f.put(featureField, TensorType.f32(Shape.SCALAR));
    f.put("label", new TensorType(Shape.SCALAR, DType.I32));
    return new DataSpec("synthetic", null, false, "label", List.of(), List.of(), f, featureField, examples);
  }
}
