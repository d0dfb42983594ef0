package dev.nnc.passes.lower;

import dev.nnc.ir.kernel.KExpr;
import dev.nnc.ir.kernel.KStmt;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelWalk;
import java.util.ArrayList;
import java.util.List;

/**
 * Merges adjacent element-wise loop nests over the same shape into one nest, so that values
 * produced and consumed at the same element stay in registers and memory is swept once. A
 * kernel joins the previous one only if it reads what that one writes at the very element written
 * (never a neighbour, which a merged loop would not have computed yet).
 */
final class Merge {
  private Merge() {}

  static List<Kernel> adjacentLoops(List<Kernel> kernels) {
    List<Kernel> out = new ArrayList<>();
    for (Kernel k : kernels) {
      if (!out.isEmpty() && out.get(out.size() - 1) instanceof Kernel.Loops prev && k instanceof Kernel.Loops cur
          && mergeable(prev, cur)) {
        out.set(out.size() - 1, merge(prev, cur));
      } else {
        out.add(k);
      }
    }
    return out;
  }

  private static List<Long> extents(KStmt.Loop root) {
    List<Long> e = new ArrayList<>();
    KStmt.Loop cur = root;
    e.add(cur.extent());
    while (cur.body().size() == 1 && cur.body().get(0) instanceof KStmt.Loop inner) {
      cur = inner;
      e.add(cur.extent());
    }
    return e;
  }

  private static boolean mergeable(Kernel.Loops a, Kernel.Loops b) {
    if (a.locals() != 0 || b.locals() != 0 || a.vars() != b.vars() || guardedStore(a) || guardedStore(b)) {
      return false;
    }
    // A described transform (Kernel.TileTransform) runs faster as the back end emits it than
    // merged into a neighbour's nest, where the description no longer holds: ResNet-18's output
    // transforms merged with the next layer's weight-gradient tiles ran as nests at 3.5–5.4 ms.
    if (a.transform() != null || b.transform() != null) {
      return false;
    }
    // Accesses at data-dependent rows (embeddings) are not compared by index here: left apart.
    if (KernelWalk.hasRows(a.root()) || KernelWalk.hasRows(b.root())) {
      return false;
    }
    List<KStmt> ia = Reads.innermost(a.root());
    List<KStmt> ib = Reads.innermost(b.root());
    if (ia == null || ib == null || !extents(a.root()).equals(extents(b.root()))) {
      return false;
    }
    for (KStmt s : ia) {
      KStmt.Store st = (KStmt.Store) s;
      for (KStmt t : ib) {
        boolean[] bad = {false};
        KernelWalk.forEach(((KStmt.Store) t).value(), x -> {
          if (x instanceof KExpr.Load l && l.buf() == st.buf() && !l.index().equals(st.index())) {
            bad[0] = true;
          }
        });
        if (bad[0]) {
          return false;
        }
      }
    }
    // b must not overwrite what a still reads at other elements (buffers are single-assignment
    // here, so this only guards against future in-place kernels).
    for (KStmt t : ib) {
      int w = ((KStmt.Store) t).buf();
      for (KStmt s : ia) {
        boolean[] bad = {false};
        KernelWalk.forEach(((KStmt.Store) s).value(), x -> {
          if (x instanceof KExpr.Load l && l.buf() == w) {
            bad[0] = true;
          }
        });
        if (bad[0]) {
          return false;
        }
      }
    }
    return true;
  }

  private static boolean guardedStore(Kernel.Loops k) {
    boolean[] found = {false};
    KernelWalk.forEachStmt(k.root(), s -> found[0] |= s instanceof KStmt.Store st && st.guarded());
    return found[0];
  }

  private static Kernel.Loops merge(Kernel.Loops a, Kernel.Loops b) {
    List<KStmt> body = new ArrayList<>(Reads.innermost(a.root()));
    body.addAll(Reads.innermost(b.root()));
    return new Kernel.Loops(a.name(), replaceInnermost(a.root(), body), a.vars(), 0, a.parallel() || b.parallel(),
        a.flops() + b.flops());
  }

  private static KStmt.Loop replaceInnermost(KStmt.Loop l, List<KStmt> body) {
    if (l.body().size() == 1 && l.body().get(0) instanceof KStmt.Loop inner) {
      return new KStmt.Loop(l.var(), l.extent(), List.of(replaceInnermost(inner, body)));
    }
    return new KStmt.Loop(l.var(), l.extent(), body);
  }
}
