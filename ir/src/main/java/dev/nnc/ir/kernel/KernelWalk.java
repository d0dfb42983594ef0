package dev.nnc.ir.kernel;

import dev.nnc.ir.kernel.KExpr.Affine;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/** Traversals and rewrites of kernel IR shared by passes and back ends. */
public final class KernelWalk {
  private KernelWalk() {}

  /** Every sub-expression of {@code e}, pre-order. */
  public static void forEach(KExpr e, Consumer<KExpr> f) {
    f.accept(e);
    switch (e) {
      case KExpr.Un u -> forEach(u.x(), f);
      case KExpr.Bin b -> {
        forEach(b.x(), f);
        forEach(b.y(), f);
      }
      case KExpr.Select s -> {
        forEach(s.x(), f);
        forEach(s.y(), f);
        forEach(s.a(), f);
        forEach(s.b(), f);
      }
      case KExpr.Rand r -> forEach(r.step(), f);
      case KExpr.Lit l -> { }
      case KExpr.Load l -> {
        if (l.row() != null) {
          forEach(l.row().id(), f);
        }
      }
      case KExpr.Local l -> { }
      case KExpr.IndexValue i -> { }
      case KExpr.Acc a -> { }
    }
  }

  /** Every expression appearing in {@code s} (store values, assignments), in order. */
  public static void forEachExpr(KStmt s, Consumer<KExpr> f) {
    switch (s) {
      case KStmt.Loop l -> l.body().forEach(b -> forEachExpr(b, f));
      case KStmt.Store st -> {
        if (st.row() != null) {
          f.accept(st.row().id());
        }
        f.accept(st.value());
      }
      case KStmt.Assign a -> f.accept(a.value());
    }
  }

  /**
   * The loops below {@code l} while each body is that one loop (a perfect nest: a region's rows and
   * columns of tiles, a channel's rows and columns), outermost first; empty where {@code l}'s body
   * is not a single loop.
   */
  public static java.util.List<KStmt.Loop> perfectNest(KStmt.Loop l) {
    java.util.List<KStmt.Loop> nest = new java.util.ArrayList<>();
    while (l.body().size() == 1 && l.body().get(0) instanceof KStmt.Loop n) {
      nest.add(n);
      l = n;
    }
    return nest;
  }

  public static void forEachStmt(KStmt s, Consumer<KStmt> f) {
    f.accept(s);
    if (s instanceof KStmt.Loop l) {
      l.body().forEach(b -> forEachStmt(b, f));
    }
  }

  /** Rebuilds {@code e} bottom-up, applying {@code f} to each node after its children. */
  public static KExpr map(KExpr e, UnaryOperator<KExpr> f) {
    KExpr r = switch (e) {
      case KExpr.Un u -> new KExpr.Un(u.op(), map(u.x(), f));
      case KExpr.Bin b -> new KExpr.Bin(b.op(), map(b.x(), f), map(b.y(), f));
      case KExpr.Select s -> new KExpr.Select(s.cmp(), map(s.x(), f), map(s.y(), f), map(s.a(), f), map(s.b(), f));
      case KExpr.Rand r2 -> new KExpr.Rand(r2.index(), map(r2.step(), f), r2.salt(), r2.rate());
      case KExpr.Load l -> l.row() == null ? l
          : new KExpr.Load(l.buf(), l.index(), l.guards(), l.fill(), row(l.row(), f));
      case KExpr.Lit _, KExpr.Local _, KExpr.IndexValue _, KExpr.Acc _ -> e;
    };
    return f.apply(r);
  }

  /** Rebuilds statements, mapping every expression and store. */
  public static KStmt map(KStmt s, UnaryOperator<KExpr> fe, UnaryOperator<KStmt.Store> fs) {
    return switch (s) {
      case KStmt.Loop l -> {
        List<KStmt> body = new ArrayList<>();
        for (KStmt b : l.body()) {
          body.add(map(b, fe, fs));
        }
        yield new KStmt.Loop(l.var(), l.extent(), body);
      }
      case KStmt.Store st -> fs.apply(new KStmt.Store(st.buf(), st.index(), map(st.value(), fe), st.guards(),
          st.row() == null ? null : row(st.row(), fe)));
      case KStmt.Assign a -> new KStmt.Assign(a.local(), map(a.value(), fe));
    };
  }

  private static KExpr.Row row(KExpr.Row r, UnaryOperator<KExpr> f) {
    return new KExpr.Row(map(r.id(), f), r.stride(), r.rows());
  }

  /**
   * Whether any load or store of {@code s} has a data-dependent row ({@link KExpr.Row}): passes
   * that reason about addresses from their affine part alone (merging, collapsing, writing in
   * place) leave such kernels as they are.
   */
  public static boolean hasRows(KStmt s) {
    boolean[] found = {false};
    forEachStmt(s, st -> {
      if (st instanceof KStmt.Store store && store.row() != null) {
        found[0] = true;
      }
    });
    forEachExpr(s, e -> forEach(e, x -> {
      if (x instanceof KExpr.Load l && l.row() != null) {
        found[0] = true;
      }
    }));
    return found[0];
  }

  /** Whether any load or store of {@code s} is predicated. */
  public static boolean hasGuards(KStmt s) {
    boolean[] found = {false};
    forEachStmt(s, st -> {
      if (st instanceof KStmt.Store store && store.guarded()) {
        found[0] = true;
      }
    });
    forEachExpr(s, e -> forEach(e, x -> {
      if (x instanceof KExpr.Load l && l.guarded()) {
        found[0] = true;
      }
    }));
    return found[0];
  }

  /** All affine accesses in an expression (loads and random-index positions). */
  public static List<Affine> affines(KExpr e) {
    List<Affine> out = new ArrayList<>();
    forEach(e, x -> {
      if (x instanceof KExpr.Load l) {
        out.add(l.index());
      } else if (x instanceof KExpr.Rand r) {
        out.add(r.index());
      }
    });
    return out;
  }
}
