package dev.nnc.ir.kernel;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Whether a loop over time keeps to its rows: every body kernel works on rows {@code [0, M)} (a
 * parallel nest's outermost loop, a GEMM's rows of C), and iteration (row) {@code r} of any of
 * them, at any step, touches only row {@code r} of every buffer the loop writes. A recurrent
 * layer's loop is such a loop, its rows the batch: the sequences of a batch do not meet. A
 * back end may then run the whole loop, all its steps, for a block of rows at a time, each block
 * on one thread, with no barrier between steps (the CPU back end's fused loops); the steps of
 * one block still run in order.
 *
 * <p>A buffer the loop writes has rows of a stride R: every access to it (loads and stores of
 * the nests, a GEMM's A, C and epilogue) must be {@code R·r + rest} with {@code 0 ≤ rest < R} for
 * every value of the other loop variables and every row a {@link KExpr.Row} can select. The
 * counter may only be read, at element 0, and not by a GEMM (its compute function reads memory
 * that a fused loop does not write). Buffers the loop only reads are not constrained.
 */
public final class StepRows {
  private StepRows() {}

  /** The loop's rows M when it keeps to them, or 0 (why not: {@link #why}). */
  public static long rows(Kernel.Steps st) {
    return why(st) == null ? rowsOf(st) : 0;
  }

  /**
   * The buffers the kernels of loop {@code st} store into (a GEMM its result), those of loops
   * inside it and their counters included; {@code st}'s own counter only if a body kernel stores
   * into it.
   */
  public static Set<Integer> written(Kernel.Steps st) {
    Set<Integer> out = new HashSet<>();
    for (Kernel k : st.body()) {
      switch (k) {
        case Kernel.Gemm g -> out.add(g.c());
        case Kernel.Loops l -> KernelWalk.forEachStmt(l.root(), s -> {
          if (s instanceof KStmt.Store store) {
            out.add(store.buf());
          }
        });
        case Kernel.Steps inner -> {
          out.add(inner.counter());
          out.addAll(written(inner));
        }
      }
    }
    return out;
  }

  /** Why {@code st} does not keep to its rows, or null when it does. */
  public static String why(Kernel.Steps st) {
    long m = rowsOf(st);
    if (m <= 0) {
      return "its body kernels do not run over the same rows";
    }
    if (st.body().stream().anyMatch(k -> k instanceof Kernel.Steps)) {
      return "it holds another loop";
    }
    Set<Integer> written = written(st);
    if (written.contains(st.counter())) {
      return "a body kernel writes the counter";
    }
    Check c = new Check(st.counter(), written);
    for (Kernel k : st.body()) {
      switch (k) {
        case Kernel.Gemm g -> {
          if (written.contains(g.b())) {
            return k.name() + " reads B from a buffer the loop writes";
          }
          if (written.contains(g.a())) {
            if (g.transA()) {
              return k.name() + " reads A transposed from a buffer the loop writes";
            }
            c.range(k.name(), g.a(), g.k(), g.aBase(), g.aBase() + g.k() - 1);
          }
          c.range(k.name(), g.c(), g.n(), 0, g.n() - 1);
          if (g.epilogue() != null) {
            long[] extents = {m, g.n()};
            KernelWalk.forEach(g.epilogue(), e -> {
              if (e instanceof KExpr.Load ld) {
                if (ld.buf() == st.counter()) {
                  c.fail(k.name() + "'s epilogue reads the counter");
                } else {
                  c.access(k.name(), ld.buf(), ld.index(), ld.row(), 0, extents);
                }
              }
            });
          }
        }
        case Kernel.Loops l -> c.nest(l);
        case Kernel.Steps inner -> throw new IllegalStateException("unreachable: nested steps");
      }
      if (c.failure != null) {
        return c.failure;
      }
    }
    return c.failure;
  }

  /** The rows every body kernel runs over, or 0 when they disagree or one is not split by rows. */
  private static long rowsOf(Kernel.Steps st) {
    long m = -1;
    for (Kernel k : st.body()) {
      long r = switch (k) {
        case Kernel.Gemm g -> g.batch() == 1 ? g.m() : 0;
        case Kernel.Loops l -> l.parallel() && l.transform() == null ? l.root().extent() : 0;
        case Kernel.Steps inner -> 0;
      };
      if (r <= 0 || (m >= 0 && r != m)) {
        return 0;
      }
      m = r;
    }
    return Math.max(0, m);
  }

  private static final class Check {
    final int counter;
    final Set<Integer> written;
    final Map<Integer, Long> strides = new HashMap<>();
    String failure;

    Check(int counter, Set<Integer> written) {
      this.counter = counter;
      this.written = written;
    }

    void fail(String why) {
      if (failure == null) {
        failure = why;
      }
    }

    /** An access to rows of stride {@code stride} of {@code buf}, its offsets within a row {@code [lo, hi]}. */
    void range(String kernel, int buf, long stride, long lo, long hi) {
      if (!written.contains(buf)) {
        return;
      }
      Long before = strides.putIfAbsent(buf, stride);
      if (stride <= 0) {
        fail(kernel + " reads or writes buffer b" + buf + " at the same place from every row");
      } else if (before != null && before != stride) {
        fail("buffer b" + buf + " is read with rows of " + before + " and of " + stride + " floats");
      } else if (lo < 0 || hi >= stride) {
        fail(kernel + " reaches from one row of buffer b" + buf + " into another (offsets " + lo + " to " + hi
            + " in rows of " + stride + ")");
      }
    }

    /** An access at {@code index (+ row)}, the row variable {@code rowVar}, the variables' extents. */
    void access(String kernel, int buf, KExpr.Affine index, KExpr.Row row, int rowVar, long[] extents) {
      if (buf == counter) {
        boolean element0 = index.base() == 0 && row == null;
        for (long s : index.strides()) {
          element0 &= s == 0;
        }
        if (!element0) {
          fail(kernel + " reads the counter at another element than 0");
        }
        return;
      }
      if (!written.contains(buf)) {
        return;
      }
      long[] s = index.strides();
      long stride = rowVar < s.length ? s[rowVar] : 0;
      long lo = index.base();
      long hi = index.base();
      for (int v = 0; v < s.length; v++) {
        if (v == rowVar || s[v] == 0) {
          continue;
        }
        if (v >= extents.length || extents[v] <= 0) {
          fail(kernel + " indexes buffer b" + buf + " with a variable outside its loops");
          return;
        }
        long span = s[v] * (extents[v] - 1);
        lo += Math.min(0, span);
        hi += Math.max(0, span);
      }
      if (row != null) {
        hi += row.stride() * (row.rows() - 1);
      }
      range(kernel, buf, stride, lo, hi);
    }

    void nest(Kernel.Loops l) {
      long[] extents = new long[Math.max(1, l.vars())];
      walk(l.name(), l.root(), l.root().var(), extents);
    }

    private void walk(String kernel, KStmt s, int rowVar, long[] extents) {
      switch (s) {
        case KStmt.Loop loop -> {
          long saved = extents[loop.var()];
          extents[loop.var()] = loop.extent();
          loop.body().forEach(b -> walk(kernel, b, rowVar, extents));
          extents[loop.var()] = saved;
        }
        case KStmt.Store st -> {
          access(kernel, st.buf(), st.index(), st.row(), rowVar, extents);
          if (st.row() != null) {
            loads(kernel, st.row().id(), rowVar, extents);
          }
          loads(kernel, st.value(), rowVar, extents);
        }
        case KStmt.Assign a -> loads(kernel, a.value(), rowVar, extents);
      }
    }

    private void loads(String kernel, KExpr e, int rowVar, long[] extents) {
      KernelWalk.forEach(e, x -> {
        if (x instanceof KExpr.Load ld) {
          access(kernel, ld.buf(), ld.index(), ld.row(), rowVar, extents);
        }
      });
    }
  }
}
