package dev.nnc.ir.kernel;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.IntUnaryOperator;
import java.util.function.UnaryOperator;

/**
 * A kernel with its name dropped and its buffers renumbered 0, 1, … in the order the kernel first
 * touches them, and the buffers of the original kernel by their new number. Kernels that differ
 * only in which buffers they touch — the same layer shape at another depth of the network, the
 * forward pass inside the training program and again inside the inference program — have equal
 * template kernels ({@link Kernel} is a record: equality is structural), so a back end compiles the
 * template once and passes each instance the places of its buffers.
 *
 * <p>Which buffers coincide is part of the template: {@code b3 = b1 + b1} and {@code b3 = b1 + b2}
 * are different templates, since a back end may rely on two template buffers being distinct.
 *
 * @param kernel the renumbered kernel, named {@link #NAME}
 * @param buffers {@code buffers[t]} is the original id of template buffer {@code t}
 */
public record KernelTemplate(Kernel kernel, int[] buffers) {
  /** The name every template kernel carries. */
  public static final String NAME = "template";

  public static KernelTemplate of(Kernel k) {
    Map<Integer, Integer> ids = new LinkedHashMap<>();
    Kernel t = rebuffer(k, NAME, b -> ids.computeIfAbsent(b, x -> ids.size()));
    int[] buffers = new int[ids.size()];
    ids.forEach((orig, tid) -> buffers[tid] = orig);
    return new KernelTemplate(t, buffers);
  }

  /** The kernel again with its own buffers and {@code name}: the inverse of {@link #of}. */
  public Kernel instantiate(String name) {
    return rebuffer(kernel, name, t -> buffers[t]);
  }

  /** {@code k} named {@code name}, every buffer {@code b} it touches replaced by {@code id(b)}, in a fixed order. */
  private static Kernel rebuffer(Kernel k, String name, IntUnaryOperator id) {
    UnaryOperator<KExpr> load = e -> e instanceof KExpr.Load ld
        ? new KExpr.Load(id.applyAsInt(ld.buf()), ld.index(), ld.guards(), ld.fill(), ld.row()) : e;
    return switch (k) {
      case Kernel.Gemm g -> {
        int a = id.applyAsInt(g.a());
        int b = id.applyAsInt(g.b());
        int c = id.applyAsInt(g.c());
        KExpr epilogue = g.epilogue() == null ? null : KernelWalk.map(g.epilogue(), load);
        yield new Kernel.Gemm(name, a, g.aBase(), b, g.bBase(), c, g.m(), g.n(), g.k(), g.transA(), g.transB(), epilogue,
            g.batch());
      }
      case Kernel.Loops l -> new Kernel.Loops(name, (KStmt.Loop) KernelWalk.map(l.root(), load,
          st -> new KStmt.Store(id.applyAsInt(st.buf()), st.index(), st.value(), st.guards(), st.row())),
          l.vars(), l.locals(), l.parallel(), l.flops(), l.transform() == null ? null
              : new Kernel.TileTransform(id.applyAsInt(l.transform().image()), id.applyAsInt(l.transform().tiles()),
                  l.transform().images(), l.transform().channels(), l.transform().op()));
      case Kernel.Steps st -> {
        int counter = id.applyAsInt(st.counter());
        yield new Kernel.Steps(name, counter, st.steps(), st.first(), st.delta(),
            st.body().stream().map(b -> rebuffer(b, b.name(), id)).toList());
      }
    };
  }
}
