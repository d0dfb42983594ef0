package dev.nnc.ir.kernel;

import dev.nnc.ir.ops.DropoutMask;
import dev.nnc.ir.ops.UnaryFn;

/**
 * Runs kernel IR on a float array, in f32 like the generated code. Tests use it to check the
 * lowering against the graph interpreter independently of any back end, and back ends against it.
 */
public final class KernelInterpreter {
  private final float[] arena;
  private final long[] offsets;

  public KernelInterpreter(float[] arena, long[] offsets) {
    this.arena = arena;
    this.offsets = offsets;
  }

  public void run(Kernel k) {
    switch (k) {
      case Kernel.Loops l -> {
        long[] vars = new long[Math.max(1, l.vars())];
        float[] locals = new float[Math.max(1, l.locals())];
        exec(l.root(), vars, locals, 0);
      }
      case Kernel.Gemm g -> gemm(g);
      case Kernel.Steps st -> {
        for (long i = 0; i < st.steps(); i++) {
          arena[Math.toIntExact(offsets[st.counter()])] = st.index(i);
          for (Kernel b : st.body()) {
            run(b);
          }
        }
      }
    }
  }

  private int at(int buf, KExpr.Affine a, long[] vars) {
    long idx = offsets[buf] + a.base();
    for (int v = 0; v < a.strides().length; v++) {
      idx += a.strides()[v] * vars[v];
    }
    return Math.toIntExact(idx);
  }

  private static boolean holds(java.util.List<KExpr.Guard> guards, long[] vars) {
    for (KExpr.Guard g : guards) {
      if (!g.holds(vars)) {
        return false;
      }
    }
    return true;
  }

  private void exec(KStmt s, long[] vars, float[] locals, float acc) {
    switch (s) {
      case KStmt.Loop l -> {
        for (long i = 0; i < l.extent(); i++) {
          vars[l.var()] = i;
          for (KStmt b : l.body()) {
            exec(b, vars, locals, acc);
          }
        }
      }
      case KStmt.Store st -> {
        if (holds(st.guards(), vars)) {
          arena[at(st.buf(), st.index(), vars) + row(st.row(), vars, locals, acc)] = eval(st.value(), vars, locals, acc);
        }
      }
      case KStmt.Assign a -> locals[a.local()] = eval(a.value(), vars, locals, acc);
    }
  }

  /** The data-dependent part of an address ({@link KExpr.Row}), 0 without one. */
  private int row(KExpr.Row r, long[] vars, float[] locals, float acc) {
    return r == null ? 0 : Math.toIntExact(r.stride() * r.of(eval(r.id(), vars, locals, acc)));
  }

  private float eval(KExpr e, long[] vars, float[] locals, float acc) {
    return switch (e) {
      case KExpr.Lit l -> (float) l.value();
      case KExpr.Load l -> holds(l.guards(), vars)
          ? arena[at(l.buf(), l.index(), vars) + row(l.row(), vars, locals, acc)] : (float) l.fill();
      case KExpr.Local l -> locals[l.id()];
      case KExpr.IndexValue i -> (float) vars[i.var()];
      case KExpr.Acc a -> acc;
      case KExpr.Un u -> {
        float x = eval(u.x(), vars, locals, acc);
        yield switch (u.op()) {
          case NEG -> -x;
          case ABS -> Math.abs(x);
          case EXP -> (float) Math.exp(x);
          case LOG -> (float) Math.log(x);
          case SQRT -> (float) Math.sqrt(x);
          case TANH -> (float) Math.tanh(x);
          case ERF -> (float) UnaryFn.erf(x);
          case LOG1P -> (float) Math.log1p(x);
        };
      }
      case KExpr.Bin b -> {
        float x = eval(b.x(), vars, locals, acc);
        float y = eval(b.y(), vars, locals, acc);
        yield switch (b.op()) {
          case ADD -> x + y;
          case SUB -> x - y;
          case MUL -> x * y;
          case DIV -> x / y;
          case MAX -> Math.max(x, y);
          case MIN -> Math.min(x, y);
        };
      }
      case KExpr.Select s -> {
        float x = eval(s.x(), vars, locals, acc);
        float y = eval(s.y(), vars, locals, acc);
        boolean c = switch (s.cmp()) {
          case GT -> x > y;
          case GE -> x >= y;
          case LT -> x < y;
          case EQ -> x == y;
        };
        yield eval(c ? s.a() : s.b(), vars, locals, acc);
      }
      case KExpr.Rand r -> {
        long idx = r.index().base();
        for (int v = 0; v < r.index().strides().length; v++) {
          idx += r.index().strides()[v] * vars[v];
        }
        int step = (int) eval(r.step(), vars, locals, acc);
        yield DropoutMask.uniform((int) idx, step, r.salt()) < r.rate() ? 0f : (float) (1 / (1 - r.rate()));
      }
    };
  }

  private void gemm(Kernel.Gemm g) {
    int m = g.m();
    int n = g.n();
    int k = g.k();
    for (int q = 0; q < g.batch(); q++) {
      long a0 = offsets[g.a()] + g.aBase() + (long) q * m * k;
      long b0 = offsets[g.b()] + g.bBase() + (long) q * k * n;
      float[] c = new float[m * n];
      for (int i = 0; i < m; i++) {
        for (int p = 0; p < k; p++) {
          float av = arena[(int) (a0 + (g.transA() ? (long) p * m + i : (long) i * k + p))];
          for (int j = 0; j < n; j++) {
            float bv = arena[(int) (b0 + (g.transB() ? (long) j * k + p : (long) p * n + j))];
            c[i * n + j] += av * bv;
          }
        }
      }
      long c0 = offsets[g.c()] + (long) q * m * n;
      long[] vars = new long[2];
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          vars[0] = i;
          vars[1] = j;
          float v = g.epilogue() == null ? c[i * n + j] : eval(g.epilogue(), vars, new float[1], c[i * n + j]);
          arena[(int) (c0 + (long) i * n + j)] = v;
        }
      }
    }
  }

}
