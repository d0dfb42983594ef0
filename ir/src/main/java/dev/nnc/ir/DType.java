package dev.nnc.ir;

/**
 * Element types. Integer tensors (labels, token ids) are stored as f32 in the arena in this
 * version: every integer they hold is below 2^24, so the conversion is exact.
 */
public enum DType {
  F32("f32"),
  I32("i32");

  private final String text;

  DType(String text) {
    this.text = text;
  }

  public String text() {
    return text;
  }

  public static DType parse(String s) {
    for (DType d : values()) {
      if (d.text.equals(s)) {
        return d;
      }
    }
    throw new IllegalArgumentException("unknown dtype '" + s + "' (expected f32 or i32)");
  }
}
