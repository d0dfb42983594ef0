package dev.nnc.ir.kernel;

import dev.nnc.ir.kernel.KExpr.Affine;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks a kernel program before any code is generated from it: every load and store stays
 * inside its buffer for all values of the loops around it, every loop variable is used inside its
 * loop, locals exist, and each GEMM's operands and result fit their buffers (the back end's
 * scratch is not kernel IR: memory planning sizes it from the back end).
 * Generated code trusts these facts (it indexes the arena without bounds checks), so a lowering
 * bug is caught here, with the kernel and the access named, instead of as memory corruption.
 *
 * <p>Accesses are affine ({@code base + Σ stride·var}), so the extremes over a loop nest are exact:
 * the lowest index takes each variable at 0 or at its last value, whichever lowers the sum.
 * Both operands of a {@code select} are checked, as native code evaluates both. A data-dependent
 * row ({@link KExpr.Row}) counts with every row it can take, since back ends clamp it to them.
 */
public final class KernelVerifier {
  private KernelVerifier() {}

  /** Every problem of {@code p}, one line each; empty when it verifies. */
  public static List<String> problems(KernelProgram p) {
    List<String> out = new ArrayList<>();
    for (Kernel k : p.kernels()) {
      kernel(p, k, out, null);
    }
    return out;
  }

  /** {@code k}'s problems; {@code loop}: the steps it is in, if any. */
  private static void kernel(KernelProgram p, Kernel k, List<String> out, Kernel.Steps loop) {
    switch (k) {
      case Kernel.Loops l -> {
        new LoopChecker(p, l, out).stmt(l.root(), new long[l.vars()]);
        if (l.transform() != null) {
          transform(p, l, out);
        }
      }
      case Kernel.Gemm g -> gemm(p, g, out);
      case Kernel.Steps st -> {
        String at = "steps " + st.name();
        if (loop != null) {
          out.add(at + ": nested in steps " + loop.name() + " (a body holds loop nests and GEMMs only)");
        }
        fits(out, at + " counter", p, st.counter(), 0, 1);
        for (Kernel b : st.body()) {
          kernel(p, b, out, st);
          if (writes(b, st.counter())) {
            out.add(at + ": kernel " + b.name() + " writes the step counter b" + st.counter());
          }
        }
      }
    }
  }

  /** Whether {@code k} stores into {@code buf}. */
  private static boolean writes(Kernel k, int buf) {
    boolean[] found = {false};
    switch (k) {
      case Kernel.Gemm g -> found[0] = g.c() == buf;
      case Kernel.Loops l -> KernelWalk.forEachStmt(l.root(), s -> {
        if (s instanceof KStmt.Store st && st.buf() == buf) {
          found[0] = true;
        }
      });
      case Kernel.Steps st -> st.body().forEach(b -> found[0] |= writes(b, buf));
    }
    return found[0];
  }

  /** Throws {@link IllegalStateException} listing every problem of {@code p}. */
  public static void verify(KernelProgram p) {
    List<String> problems = problems(p);
    if (!problems.isEmpty()) {
      throw new IllegalStateException("kernel program " + p.name() + " does not verify:\n  "
          + String.join("\n  ", problems));
    }
  }

  /** For {@code assert}: verifies and returns true (tests run with assertions on). */
  public static boolean verified(KernelProgram p) {
    verify(p);
    return true;
  }

  private static long size(KernelProgram p, int buf) {
    return buf >= 0 && buf < p.buffers().size() ? p.buffers().get(buf).size() : -1;
  }

  private static void gemm(KernelProgram p, Kernel.Gemm g, List<String> out) {
    String at = "gemm " + g.name();
    if (g.m() <= 0 || g.n() <= 0 || g.k() <= 0) {
      out.add(at + ": empty dimensions m=" + g.m() + " n=" + g.n() + " k=" + g.k());
      return;
    }
    fits(out, at + " operand A", p, g.a(), g.aBase(), (long) g.batch() * g.m() * g.k());
    fits(out, at + " operand B", p, g.b(), g.bBase(), (long) g.batch() * g.k() * g.n());
    fits(out, at + " result C", p, g.c(), 0, (long) g.batch() * g.m() * g.n());
    if (g.epilogue() != null) {
      // The epilogue runs per element of C with variable 0 = i < M and 1 = j < N.
      long[] extents = {g.m(), g.n()};
      new LoopChecker(p, null, out).expr(g.epilogue(), extents, at + " epilogue", true);
    }
  }

  /**
   * A nest's Winograd description, which a back end may emit instead of the nest: its images and
   * tiles fit their buffers, and its outermost loop runs over the channels.
   */
  private static void transform(KernelProgram p, Kernel.Loops l, List<String> out) {
    Kernel.TileTransform t = l.transform();
    dev.nnc.ir.ops.Winograd op = t.op();
    String at = "kernel " + l.name() + " (" + op.mnemonic() + ")";
    if (t.images() < 1 || t.channels() < 1 || l.root().extent() != t.channels()) {
      out.add(at + ": " + t.images() + " images of " + t.channels() + " channels, outermost loop of "
          + l.root().extent());
      return;
    }
    int side = op.toTiles() ? op.p() : op.q();
    fits(out, at + " images", p, t.image(), 0, (long) t.images() * t.channels() * op.height() * op.width());
    fits(out, at + " tiles", p, t.tiles(), 0, (long) side * side * t.channels() * t.images() * op.tiles());
  }

  private static void fits(List<String> out, String what, KernelProgram p, int buf, long base, long count) {
    long size = size(p, buf);
    if (size < 0) {
      out.add(what + ": no buffer " + buf);
    } else if (base < 0 || base + count > size) {
      out.add(what + ": elements " + base + ".." + (base + count - 1) + " of buffer " + name(p, buf) + " ("
          + size + " elements)");
    }
  }

  private static String name(KernelProgram p, int buf) {
    return p.buffers().get(buf).name();
  }

  private static final class LoopChecker {
    final KernelProgram p;
    final Kernel.Loops k;
    final List<String> out;

    LoopChecker(KernelProgram p, Kernel.Loops k, List<String> out) {
      this.p = p;
      this.k = k;
      this.out = out;
    }

    /** {@code extents[v]} > 0 while variable v's loop encloses the statement. */
    void stmt(KStmt s, long[] extents) {
      String at = "kernel " + k.name();
      switch (s) {
        case KStmt.Loop l -> {
          if (l.var() < 0 || l.var() >= extents.length) {
            out.add(at + ": loop variable " + l.var() + " outside [0, " + extents.length + ")");
            return;
          }
          if (extents[l.var()] != 0) {
            out.add(at + ": loop variable " + l.var() + " reused by a nested loop");
          }
          if (l.extent() <= 0) {
            return;  // the body never runs
          }
          long saved = extents[l.var()];
          extents[l.var()] = l.extent();
          for (KStmt b : l.body()) {
            stmt(b, extents);
          }
          extents[l.var()] = saved;
        }
        case KStmt.Store st -> {
          access(st.buf(), st.index(), st.guards(), st.row(), extents, at + " store");
          if (st.row() != null) {
            expr(st.row().id(), extents, at, false);
          }
          expr(st.value(), extents, at, false);
        }
        case KStmt.Assign a -> {
          if (a.local() < 0 || a.local() >= k.locals()) {
            out.add(at + ": local " + a.local() + " outside [0, " + k.locals() + ")");
          }
          expr(a.value(), extents, at, false);
        }
      }
    }

    void expr(KExpr e, long[] extents, String at, boolean accAllowed) {
      KernelWalk.forEach(e, x -> {
        switch (x) {
          case KExpr.Load ld -> access(ld.buf(), ld.index(), ld.guards(), ld.row(), extents, at + " load");
          case KExpr.Rand r -> inScope(r.index(), extents, at + " random index");
          case KExpr.IndexValue iv -> {
            if (iv.var() < 0 || iv.var() >= extents.length || extents[iv.var()] == 0) {
              out.add(at + ": index of variable " + iv.var() + " outside its loop");
            }
          }
          case KExpr.Local lc -> {
            if (k == null || lc.id() < 0 || lc.id() >= k.locals()) {
              out.add(at + ": local " + lc.id() + " does not exist");
            }
          }
          case KExpr.Acc a -> {
            if (!accAllowed) {
              out.add(at + ": the GEMM accumulator outside a GEMM epilogue");
            }
          }
          case KExpr.Lit l -> { }
          case KExpr.Un u -> { }
          case KExpr.Bin b -> { }
          case KExpr.Select s -> { }
        }
      });
    }

    private boolean inScope(Affine a, long[] extents, String at) {
      boolean ok = true;
      for (int v = 0; v < a.strides().length; v++) {
        if (a.strides()[v] != 0 && (v >= extents.length || extents[v] == 0)) {
          out.add(at + ": uses loop variable " + v + " outside its loop");
          ok = false;
        }
      }
      return ok;
    }

    /** An access's index over its loops, plus any row in {@code [0, rows)} ({@link KExpr.Row} clamps it there). */
    void access(int buf, Affine a, List<KExpr.Guard> guards, KExpr.Row row, long[] extents, String at) {
      long size = size(p, buf);
      if (size < 0) {
        out.add(at + ": no buffer " + buf);
        return;
      }
      if (!inScope(a, extents, at + " of " + name(p, buf))) {
        return;
      }
      for (KExpr.Guard g : guards) {
        if (!inScope(g.expr(), extents, at + " guard")) {
          return;
        }
      }
      // A guarded access only happens where its guards hold: each guard whose expression is a
      // multiple of a part of the index bounds that part by the guard's range instead of by the
      // loop extents ({@code W·(oh·s + kh − p)} lies in {@code W·[0, H)}). Still an
      // over-approximation, so never wrong.
      long[] rest = a.strides().clone();
      long lo = a.base();
      long hi = a.base();
      for (KExpr.Guard g : guards) {
        long[] gs = g.expr().strides();
        int v0 = -1;
        for (int v = 0; v < gs.length; v++) {
          if (gs[v] != 0) {
            v0 = v;
            break;
          }
        }
        if (v0 < 0 || v0 >= rest.length || rest[v0] == 0 || rest[v0] % gs[v0] != 0) {
          continue;
        }
        long f = rest[v0] / gs[v0];
        boolean multiple = true;
        for (int v = 0; v < gs.length && multiple; v++) {
          multiple = v < rest.length ? rest[v] == f * gs[v] || gs[v] == 0 : gs[v] == 0;
        }
        if (!multiple || g.hi() <= g.lo()) {
          continue;
        }
        for (int v = 0; v < gs.length; v++) {
          rest[v] -= f * gs[v];
        }
        // f·(expr) with expr in [lo, hi - 1]; the base of the index absorbs f·base(expr).
        long e0 = f * g.lo();
        long e1 = f * (g.hi() - 1);
        lo += Math.min(e0, e1) - f * g.expr().base();
        hi += Math.max(e0, e1) - f * g.expr().base();
      }
      for (int v = 0; v < rest.length; v++) {
        long span = rest[v] * (extents[v] - 1);
        lo += Math.min(0, span);
        hi += Math.max(0, span);
      }
      if (row != null) {
        hi += row.stride() * (row.rows() - 1);
      }
      if (lo < 0 || hi >= size) {
        out.add(at + " of " + name(p, buf) + ": indices " + lo + ".." + hi + " for " + size + " elements");
      }
    }
  }
}
