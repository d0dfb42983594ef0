package dev.nnc.ir.ops;

import java.util.Locale;

/** Reductions over axes. */
public enum ReduceFn {
  SUM,
  MEAN,
  MAX;

  public String text() {
    return "reduce_" + name().toLowerCase(Locale.ROOT);
  }
}
