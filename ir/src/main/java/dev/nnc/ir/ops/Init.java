package dev.nnc.ir.ops;

import java.util.Locale;

/**
 * How a parameter starts. Fans follow PyTorch: for a weight of shape {@code [out, in, k...]},
 * fan_in = in * prod(k) and fan_out = out * prod(k).
 */
public record Init(Kind kind, double value) {
  public enum Kind {
    ZEROS,
    ONES,
    CONSTANT,
    GLOROT_UNIFORM,
    GLOROT_NORMAL,
    HE_UNIFORM,
    HE_NORMAL,
    /** PyTorch's default for Linear and Conv: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
    FAN_IN_UNIFORM,
    /** N(0, 1), PyTorch's default for Embedding. */
    NORMAL,
    /** U(-value, value): PyTorch's default for recurrent layers, value = 1/sqrt(hidden). */
    UNIFORM;

    public String text() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public static final Init ZEROS = new Init(Kind.ZEROS, 0);

  public static Init of(Kind kind) {
    return new Init(kind, 0);
  }

  @Override
  public String toString() {
    return kind == Kind.CONSTANT || kind == Kind.UNIFORM ? kind.text() + "(" + value + ")" : kind.text();
  }

  public static Init parse(String text) {
    String t = text.trim();
    if (t.startsWith("constant(") && t.endsWith(")")) {
      return new Init(Kind.CONSTANT, Double.parseDouble(t.substring(9, t.length() - 1)));
    }
    if (t.startsWith("uniform(") && t.endsWith(")")) {
      return new Init(Kind.UNIFORM, Double.parseDouble(t.substring(8, t.length() - 1)));
    }
    return of(Kind.valueOf(t.toUpperCase(Locale.ROOT)));
  }
}
