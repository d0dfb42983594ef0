package dev.nnc.ir.kernel;

import java.util.List;

/** Statements of a loop kernel. */
public sealed interface KStmt {
  /** {@code for var in [0, extent)}; a kernel's outermost loop may be split across threads. */
  record Loop(int var, long extent, List<KStmt> body) implements KStmt {
    public Loop {
      body = List.copyOf(body);
    }
  }

  /** {@code buf[index] = value}. */
  record Store(int buf, KExpr.Affine index, KExpr value) implements KStmt {}

  /** {@code local = value}. */
  record Assign(int local, KExpr value) implements KStmt {}
}
