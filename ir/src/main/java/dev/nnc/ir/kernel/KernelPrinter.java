package dev.nnc.ir.kernel;

/** Prints kernel IR as indented pseudo-code, for {@code nnc emit --kernels} and golden tests. */
public final class KernelPrinter {
  private KernelPrinter() {}

  public static String print(KernelProgram p) {
    StringBuilder sb = new StringBuilder("program ").append(p.name()).append(" {\n");
    for (Buffer b : p.buffers()) {
      sb.append("  buffer b").append(b.id()).append(' ').append(b.kind().name().toLowerCase(java.util.Locale.ROOT))
          .append(" \"").append(b.name()).append("\" ").append(b.shape()).append('\n');
    }
    for (Kernel k : p.kernels()) {
      sb.append(print(k, "  "));
    }
    p.outputs().forEach((n, v) -> sb.append("  output \"").append(n).append("\" = b").append(v.buffer())
        .append(v.shape()).append('\n'));
    return sb.append("}\n").toString();
  }

  public static String print(Kernel k, String indent) {
    StringBuilder sb = new StringBuilder();
    switch (k) {
      case Kernel.Gemm g -> {
        sb.append(indent).append("gemm ").append(g.name()).append(": b").append(g.c()).append("[")
            .append(g.batch() > 1 ? g.batch() + "×" : "").append(g.m())
            .append(',').append(g.n()).append("] = b").append(g.a()).append(g.transA() ? "ᵀ" : "").append(" · b")
            .append(g.b()).append(g.transB() ? "ᵀ" : "").append("  (K=").append(g.k()).append(")\n");
        if (g.epilogue() != null) {
          sb.append(indent).append("  epilogue: ").append(expr(g.epilogue())).append('\n');
        }
      }
      case Kernel.Steps st -> {
        sb.append(indent).append("steps ").append(st.name()).append(": b").append(st.counter()).append("[0] = ")
            .append(st.first()).append(st.delta() < 0 ? " - s" : " + s").append(Math.abs(st.delta()) == 1 ? ""
                : "*" + Math.abs(st.delta())).append(" for s < ").append(st.steps()).append(" {\n");
        for (Kernel b : st.body()) {
          sb.append(print(b, indent + "  "));
        }
        sb.append(indent).append("}\n");
      }
      case Kernel.Loops l -> {
        sb.append(indent).append("kernel ").append(l.name()).append(l.parallel() ? " parallel" : "").append(" {\n");
        if (l.transform() != null) {
          Kernel.TileTransform t = l.transform();
          sb.append(indent).append("  // ").append(t.op().mnemonic()).append('[').append(t.op().attributes())
              .append("] images b").append(t.image()).append("[").append(t.images()).append(',').append(t.channels())
              .append("], tiles b").append(t.tiles()).append('\n');
        }
        stmt(sb, l.root(), indent + "  ");
        sb.append(indent).append("}\n");
      }
    }
    return sb.toString();
  }

  private static void stmt(StringBuilder sb, KStmt s, String in) {
    switch (s) {
      case KStmt.Loop l -> {
        sb.append(in).append("for i").append(l.var()).append(" < ").append(l.extent()).append(" {\n");
        for (KStmt b : l.body()) {
          stmt(sb, b, in + "  ");
        }
        sb.append(in).append("}\n");
      }
      case KStmt.Store st -> sb.append(in).append(st.guarded() ? "if " + guards(st.guards()) + ": " : "").append('b')
          .append(st.buf()).append('[').append(address(st.index(), st.row())).append("] = ").append(expr(st.value()))
          .append('\n');
      case KStmt.Assign a -> sb.append(in).append('l').append(a.local()).append(" = ").append(expr(a.value()))
          .append('\n');
    }
  }

  /** {@code index}, then the data-dependent row if there is one: {@code i1 + 16*row(b1[i0] of 60)}. */
  private static String address(KExpr.Affine index, KExpr.Row row) {
    if (row == null) {
      return index.toString();
    }
    return (index.toString().equals("0") ? "" : index + " + ") + row;
  }

  private static String guards(java.util.List<KExpr.Guard> gs) {
    return String.join(" && ", gs.stream().map(KExpr.Guard::toString).toList());
  }

  public static String expr(KExpr e) {
    return switch (e) {
      case KExpr.Lit l -> l.value() == Math.rint(l.value()) && Math.abs(l.value()) < 1e15 ? String.valueOf((long) l.value())
          : String.valueOf(l.value());
      case KExpr.Load l -> l.guarded()
          ? "(" + guards(l.guards()) + " ? b" + l.buf() + "[" + address(l.index(), l.row()) + "] : "
              + expr(new KExpr.Lit(l.fill())) + ")"
          : "b" + l.buf() + "[" + address(l.index(), l.row()) + "]";
      case KExpr.Local l -> "l" + l.id();
      case KExpr.IndexValue i -> "float(i" + i.var() + ")";
      case KExpr.Acc a -> "acc";
      case KExpr.Un u -> u.op().name().toLowerCase(java.util.Locale.ROOT) + "(" + expr(u.x()) + ")";
      case KExpr.Bin b -> switch (b.op()) {
        case ADD -> "(" + expr(b.x()) + " + " + expr(b.y()) + ")";
        case SUB -> "(" + expr(b.x()) + " - " + expr(b.y()) + ")";
        case MUL -> "(" + expr(b.x()) + " * " + expr(b.y()) + ")";
        case DIV -> "(" + expr(b.x()) + " / " + expr(b.y()) + ")";
        case MAX -> "max(" + expr(b.x()) + ", " + expr(b.y()) + ")";
        case MIN -> "min(" + expr(b.x()) + ", " + expr(b.y()) + ")";
      };
      case KExpr.Select s -> "(" + expr(s.x()) + " " + switch (s.cmp()) {
        case GT -> ">";
        case GE -> ">=";
        case LT -> "<";
        case EQ -> "==";
      } + " " + expr(s.y()) + " ? " + expr(s.a()) + " : " + expr(s.b()) + ")";
      case KExpr.Rand r -> "dropout_mask(" + r.index() + ", step=" + expr(r.step()) + ", salt=" + r.salt() + ", rate="
          + r.rate() + ")";
    };
  }
}
