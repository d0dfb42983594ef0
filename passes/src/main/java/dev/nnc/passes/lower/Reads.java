package dev.nnc.passes.lower;

import dev.nnc.ir.kernel.KExpr;
import dev.nnc.ir.kernel.KStmt;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelWalk;
import java.util.List;
import java.util.Map;

/** Which buffers kernels read and write; buffer renaming. */
final class Reads {
  private Reads() {}

  /** Every buffer {@code k} loads from. */
  static java.util.Set<Integer> readSet(Kernel k) {
    java.util.Set<Integer> out = new java.util.HashSet<>();
    java.util.function.Consumer<KExpr> loads = e -> KernelWalk.forEach(e, x -> {
      if (x instanceof KExpr.Load l) {
        out.add(l.buf());
      }
    });
    switch (k) {
      case Kernel.Gemm gm -> {
        out.add(gm.a());
        out.add(gm.b());
        if (gm.epilogue() != null) {
          loads.accept(gm.epilogue());
        }
      }
      case Kernel.Loops l -> KernelWalk.forEachExpr(l.root(), loads);
      case Kernel.Steps st -> {
        out.add(st.counter());
        st.body().forEach(b -> out.addAll(readSet(b)));
      }
    }
    return out;
  }

  /** Every buffer {@code k} stores to. */
  static java.util.Set<Integer> writeSet(Kernel k) {
    java.util.Set<Integer> out = new java.util.HashSet<>();
    switch (k) {
      case Kernel.Gemm gm -> out.add(gm.c());
      case Kernel.Loops l -> KernelWalk.forEachStmt(l.root(), s -> {
        if (s instanceof KStmt.Store st) {
          out.add(st.buf());
        }
      });
      // The runtime writes the counter before each step.
      case Kernel.Steps st -> {
        out.add(st.counter());
        st.body().forEach(b -> out.addAll(writeSet(b)));
      }
    }
    return out;
  }

  /**
   * Whether the writer kernel of {@code value} may store it straight into {@code param}: it is a
   * perfect element-wise nest, and every read of the parameter is at the element being written
   * and happens no later than the statement that writes it.
   */
  static boolean safeInPlace(Kernel writer, int param, int value) {
    if (!(writer instanceof Kernel.Loops l) || l.locals() != 0 || KernelWalk.hasRows(l.root())) {
      return false;
    }
    List<KStmt> body = innermost(l.root());
    if (body == null) {
      return false;
    }
    KExpr.Affine target = null;
    for (KStmt s : body) {
      if (s instanceof KStmt.Store st && st.buf() == value) {
        target = st.index();
      }
    }
    if (target == null) {
      return false;
    }
    boolean written = false;
    for (KStmt s : body) {
      if (!(s instanceof KStmt.Store st) || st.guarded()) {
        return false;
      }
      if (st.buf() == param) {
        return false;
      }
      final KExpr.Affine t = target;
      boolean[] bad = {false};
      boolean after = written;
      KernelWalk.forEach(st.value(), x -> {
        if (x instanceof KExpr.Load ld && ld.buf() == param && (after || !ld.index().equals(t))) {
          bad[0] = true;
        }
      });
      if (bad[0]) {
        return false;
      }
      if (st.buf() == value) {
        written = true;
      }
    }
    return true;
  }

  /** The statements of a perfect loop nest's innermost loop, or null when the nest is not perfect. */
  static List<KStmt> innermost(KStmt.Loop root) {
    KStmt.Loop cur = root;
    while (cur.body().size() == 1 && cur.body().get(0) instanceof KStmt.Loop inner) {
      cur = inner;
    }
    for (KStmt s : cur.body()) {
      if (s instanceof KStmt.Loop) {
        return null;
      }
    }
    return cur.body();
  }

  static Kernel remap(Kernel k, Map<Integer, Integer> m) {
    if (m.isEmpty()) {
      return k;
    }
    java.util.function.UnaryOperator<KExpr> fe = e -> e instanceof KExpr.Load l && m.containsKey(l.buf())
        ? new KExpr.Load(m.get(l.buf()), l.index(), l.guards(), l.fill(), l.row()) : e;
    return switch (k) {
      case Kernel.Gemm g -> new Kernel.Gemm(g.name(), m.getOrDefault(g.a(), g.a()), g.aBase(), m.getOrDefault(g.b(), g.b()),
          g.bBase(), m.getOrDefault(g.c(), g.c()), g.m(), g.n(), g.k(), g.transA(), g.transB(),
          g.epilogue() == null ? null : KernelWalk.map(g.epilogue(), fe), g.batch());
      case Kernel.Loops l -> new Kernel.Loops(l.name(), (KStmt.Loop) KernelWalk.map(l.root(), fe,
          st -> m.containsKey(st.buf()) ? new KStmt.Store(m.get(st.buf()), st.index(), st.value(), st.guards(), st.row())
              : st),
          l.vars(), l.locals(), l.parallel(), l.flops(), l.transform() == null ? null
              : new Kernel.TileTransform(m.getOrDefault(l.transform().image(), l.transform().image()),
                  m.getOrDefault(l.transform().tiles(), l.transform().tiles()), l.transform().images(),
                  l.transform().channels(), l.transform().op()));
      case Kernel.Steps st -> new Kernel.Steps(st.name(), m.getOrDefault(st.counter(), st.counter()), st.steps(),
          st.first(), st.delta(), st.body().stream().map(b -> remap(b, m)).toList());
    };
  }
}
