package dev.nnc.ir.ops;

import java.util.Locale;

/** Element-wise functions of two operands. Comparisons give 1 or 0. */
public enum BinaryFn {
  ADD,
  SUB,
  MUL,
  DIV,
  MAX,
  MIN,
  /** 1 where x ≥ y, else 0. */
  GE,
  /** 1 where x == y, else 0. */
  EQ;

  public String text() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static BinaryFn parse(String s) {
    return valueOf(s.toUpperCase(Locale.ROOT));
  }

  public double apply(double x, double y) {
    return switch (this) {
      case ADD -> x + y;
      case SUB -> x - y;
      case MUL -> x * y;
      case DIV -> x / y;
      case MAX -> Math.max(x, y);
      case MIN -> Math.min(x, y);
      case GE -> x >= y ? 1 : 0;
      case EQ -> x == y ? 1 : 0;
    };
  }
}
