package dev.nnc.passes.lower;

import dev.nnc.ir.kernel.KExpr;
import dev.nnc.ir.kernel.KExpr.Affine;
import dev.nnc.ir.kernel.KStmt;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelWalk;
import java.util.ArrayList;
import java.util.List;

/**
 * Collapses adjacent loops of a perfect element-wise nest into one where every access walks them
 * contiguously ({@code stride[d] = stride[d+1]·extent[d+1]}): {@code [64,1,28,28]} with plain
 * accesses becomes one loop of 50176, which vectorises as one stream.
 */
final class Collapse {
  private Collapse() {}

  static Kernel apply(Kernel k) {
    // Predicated accesses test loop variables one by one, and data-dependent rows keep their
    // loads' variables: such kernels keep their nest.
    if (!(k instanceof Kernel.Loops l) || l.locals() != 0 || KernelWalk.hasGuards(l.root())
        || KernelWalk.hasRows(l.root())) {
      return k;
    }
    List<KStmt> body = Reads.innermost(l.root());
    if (body == null) {
      return k;
    }
    // The nest's loops, outer to inner, must use variables 0..depth-1 in order.
    List<Long> ext = new ArrayList<>();
    KStmt.Loop cur = l.root();
    while (true) {
      if (cur.var() != ext.size()) {
        return k;
      }
      ext.add(cur.extent());
      if (cur.body().size() == 1 && cur.body().get(0) instanceof KStmt.Loop inner) {
        cur = inner;
      } else {
        break;
      }
    }
    List<Affine> all = new ArrayList<>();
    boolean[] usesIndex = new boolean[ext.size()];
    for (KStmt s : body) {
      KStmt.Store st = (KStmt.Store) s;
      all.add(st.index());
      all.addAll(KernelWalk.affines(st.value()));
      KernelWalk.forEach(st.value(), x -> {
        if (x instanceof KExpr.IndexValue iv && iv.var() < usesIndex.length) {
          usesIndex[iv.var()] = true;
        }
      });
    }
    // groups[v] = the new variable of old variable v
    int n = ext.size();
    int[] group = new int[n];
    int g = 0;
    for (int d = 0; d < n; d++) {
      if (d > 0 && !usesIndex[d] && !usesIndex[d - 1] && contiguous(all, d - 1, d, ext.get(d))) {
        group[d] = g - 1;
      } else {
        group[d] = g++;
      }
    }
    if (g == n) {
      return k;
    }
    final int groups = g;
    long[] newExt = new long[g];
    java.util.Arrays.fill(newExt, 1);
    for (int d = 0; d < n; d++) {
      newExt[group[d]] *= ext.get(d);
    }
    // The innermost old variable of each group carries the group's stride.
    int[] last = new int[g];
    for (int d = 0; d < n; d++) {
      last[group[d]] = d;
    }
    java.util.function.UnaryOperator<Affine> fa = a -> {
      long[] s = new long[Math.max(groups, 1)];
      for (int ng = 0; ng < groups; ng++) {
        s[ng] = a.strides()[last[ng]];
      }
      return new Affine(a.base(), s);
    };
    java.util.function.UnaryOperator<KExpr> fe = e -> switch (e) {
      case KExpr.Load ld -> new KExpr.Load(ld.buf(), fa.apply(ld.index()));
      case KExpr.Rand r -> new KExpr.Rand(fa.apply(r.index()), r.step(), r.salt(), r.rate());
      case KExpr.IndexValue iv -> new KExpr.IndexValue(group[iv.var()]);
      // No loop variable inside (operands are mapped separately by KernelWalk.map).
      case KExpr.Lit _, KExpr.Local _, KExpr.Acc _, KExpr.Un _, KExpr.Bin _, KExpr.Select _ -> e;
    };
    List<KStmt> newBody = new ArrayList<>();
    for (KStmt s : body) {
      KStmt.Store st = (KStmt.Store) s;
      newBody.add(new KStmt.Store(st.buf(), fa.apply(st.index()), KernelWalk.map(st.value(), fe)));
    }
    KStmt.Loop root = null;
    List<KStmt> inner = newBody;
    for (int v = g - 1; v >= 0; v--) {
      root = new KStmt.Loop(v, newExt[v], inner);
      inner = List.of(root);
    }
    return new Kernel.Loops(l.name(), root, g, 0, l.parallel() && newExt[0] > 1, l.flops());
  }

  private static boolean contiguous(List<Affine> all, int outer, int inner, long innerExtent) {
    for (Affine a : all) {
      if (a.strides()[outer] != a.strides()[inner] * innerExtent) {
        return false;
      }
    }
    return true;
  }
}
