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

  /**
   * {@code buf[index] = value}; with guards, only where all of them hold (a scatter whose
   * targets can fall outside the buffer, like the gradient of a padded window). The value may be
   * evaluated whether or not the guards hold, so its own loads must be safe by themselves
   * (guarded as well where needed); the verifier checks them so.
   */
  record Store(int buf, KExpr.Affine index, KExpr value, List<KExpr.Guard> guards, KExpr.Row row) implements KStmt {
    public Store {
      guards = List.copyOf(guards);
    }

    public Store(int buf, KExpr.Affine index, KExpr value) {
      this(buf, index, value, List.of(), null);
    }

    public Store(int buf, KExpr.Affine index, KExpr value, List<KExpr.Guard> guards) {
      this(buf, index, value, guards, null);
    }

    /** {@code buf[index + row] = value}: a store at a data-dependent row (a scatter, see {@link KExpr.Row}). */
    public Store(int buf, KExpr.Affine index, KExpr value, KExpr.Row row) {
      this(buf, index, value, List.of(), row);
    }

    public boolean guarded() {
      return !guards.isEmpty();
    }
  }

  /**
   * {@code local = value}. A running sum, {@code l = l + e} (or {@code e + l}) inside a loop, may
   * be computed in any order by a back end (the CPU one keeps a partial sum per vector lane), so
   * its result can differ from the interpreter's sequential sum by rounding.
   */
  record Assign(int local, KExpr value) implements KStmt {}
}
