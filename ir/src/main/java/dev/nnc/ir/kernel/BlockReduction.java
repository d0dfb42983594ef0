package dev.nnc.ir.kernel;

import java.util.ArrayList;
import java.util.List;

/**
 * A nest that is a sum per output — {@code for o { l = 0; for r … { l = l + e }; stores of f(l) }},
 * as a bias's or batchnorm's gradient, or a mean, sums over the batch; or several sums at once
 * ({@code l0 … l24}, a direct convolution's weight gradient, one per tap) — rewritten for a block of
 * {@code threads} threads per output. Thread {@code t} is {@code (t / along, t mod along)}: the
 * {@code along} threads (loop variable {@link #thread}) take iterations {@code j = t mod along +
 * along·s} of the sum's innermost loop, its contiguous loops merged into one, so that a warp reads
 * consecutive elements; where threads are left over, iterations {@code r = t / along + (threads /
 * along)·s} of its outer loop too (variable {@link #across}, else -1). Where no power of two of at
 * least {@value #MIN_INNER} divides the innermost loop, the threads take iterations of the outer
 * loop only ({@code along = threads}, {@link #thread} then their index). The {@link #partial} loop
 * is the sum so rewritten; the block adds the threads' partial sums (in any order: a running sum's
 * order is free, {@link KStmt.Assign}), and the {@link #after} statements store the result.
 * {@link #nest} is the rewritten nest (one or two more loop variables), whose statements a back
 * end emits around its own combining code. Split into {@link #parts} blocks per output
 * ({@link #of(Kernel.Loops, int)}), the thread index above is {@code p·threads + t} for part p's
 * thread t, and a back end adds the parts' sums before the stores.
 */
public record BlockReduction(Kernel.Loops nest, List<Integer> locals, int thread, int threads, int along, int across,
    int parts, KStmt.Loop partial, List<KStmt> after) {
  /** Threads per block at most, for a block of several sums (each thread holds each). */
  public static final int MAX_THREADS = 256;
  /** Threads per block at most for up to {@value #WIDE_SUMS} sums: a channel's sum over a large batch of images. */
  public static final int MAX_WIDE_THREADS = 1024;
  /** Sums per block at most that may take {@value #MAX_WIDE_THREADS} threads. */
  public static final int WIDE_SUMS = 2;
  /** Threads per block at least (a warp). */
  public static final int MIN_THREADS = 32;
  /** Threads along the innermost loop at least (eight floats: a 32-byte sector of memory a warp reads at once). */
  public static final int MIN_INNER = 8;

  /**
   * {@code k} as a block reduction, or null where it is not one: a parallel nest whose outer loop
   * holds {@code l = 0}, one loop whose nest holds loops and exactly one statement, {@code l = l +
   * e} (e reading neither l nor another local, nor a row, an index value or a random number), and
   * then stores only; the reduction's outer loop's extent must be a multiple of a power of two of
   * at least {@value #MIN_THREADS} (the threads: the largest such up to {@value #MAX_THREADS}),
   * so that every thread sums as many iterations and none are left over.
   */
  public static BlockReduction of(Kernel.Loops k) {
    return of(k, 1);
  }

  /**
   * {@code k} as a block reduction whose sums are each split over {@code parts} blocks (a power of
   * two): the threads are {@code parts} times as many, each block {@code p} of an output running
   * its threads {@code p·threads + t}, so that its sum is one part of the output's; null where
   * {@code k} is not a block reduction or its sums do not split so (the threads of one block
   * would differ from {@link #of(Kernel.Loops)}'s).
   */
  public static BlockReduction of(Kernel.Loops k, int parts) {
    BlockReduction r = split(k, parts);
    if (parts == 1 || r == null) {
      return r;
    }
    BlockReduction one = split(k, 1);
    return one != null && r.threads() == one.threads() ? r : null;
  }

  private static BlockReduction split(Kernel.Loops k, int parts) {
    k = peel(k);
    List<KStmt> body = k.root().body();
    if (!k.parallel()) {
      return null;
    }
    // l = 0 for each sum, the loop that sums, then the stores.
    List<Integer> locals = new ArrayList<>();
    int i = 0;
    while (i < body.size() && body.get(i) instanceof KStmt.Assign init && init.value() instanceof KExpr.Lit zero
        && zero.value() == 0 && !locals.contains(init.local())) {
      locals.add(init.local());
      i++;
    }
    if (locals.isEmpty() || i + 1 >= body.size() || !(body.get(i) instanceof KStmt.Loop loop)) {
      return null;
    }
    for (KStmt s : body.subList(i + 1, body.size())) {
      if (!(s instanceof KStmt.Store st) || st.row() != null) {
        return null;
      }
    }
    if (!sumsOnly(loop, locals)) {
      return null;
    }
    int t = k.vars();
    int most = (locals.size() <= WIDE_SUMS ? MAX_WIDE_THREADS : MAX_THREADS) * parts;
    // The threads take consecutive iterations of the sum's innermost loop, its contiguous loops
    // merged into one (a channel's 32 × 32 positions: 1,024 consecutive floats), so that a warp
    // reads consecutive floats, and where that leaves threads to spare, iterations of the outer
    // loop too (images); where no power of two of at least {@value #MIN_INNER} divides the
    // innermost loop, iterations of the outer loop only.
    KStmt.Loop merged = mergeInnermost(loop);
    KStmt.Loop inner = innermost(merged);
    int along = threadsFor(inner.extent(), most, MIN_INNER);
    int across = along == 0 || inner == merged ? 1 : Math.max(1, threadsFor(loop.extent(), most / along, 1));
    KStmt.Loop partial;
    int threads;
    int acrossVar = -1;
    if (along > 0 && along * across >= MIN_THREADS) {
      threads = along * across;
      int vars = k.vars() + (across > 1 ? 2 : 1);
      KStmt.Loop split = (KStmt.Loop) rewrite(new KStmt.Loop(inner.var(), inner.extent() / along, inner.body()),
          inner.var(), t, along, vars);
      partial = (KStmt.Loop) replaceInnermost(merged, split);
      if (across > 1) {
        acrossVar = k.vars() + 1;
        partial = (KStmt.Loop) rewrite(new KStmt.Loop(partial.var(), partial.extent() / across, partial.body()),
            partial.var(), acrossVar, across, vars);
      }
    } else {
      threads = threadsFor(loop.extent(), most, MIN_THREADS);
      if (threads == 0) {
        return null;
      }
      along = threads;
      partial = (KStmt.Loop) rewrite(new KStmt.Loop(loop.var(), loop.extent() / threads, loop.body()),
          loop.var(), t, threads, k.vars() + 1);
    }
    if (threads % parts != 0 || threads / parts < MIN_THREADS) {
      return null;
    }
    List<KStmt> root = new ArrayList<>(body);
    root.set(i, partial);
    Kernel.Loops nest = new Kernel.Loops(k.name(), new KStmt.Loop(k.root().var(), k.root().extent(), root),
        k.vars() + (acrossVar >= 0 ? 2 : 1), k.locals(), true, k.flops());
    return new BlockReduction(nest, List.copyOf(locals), t, threads / parts, along, acrossVar, parts, partial,
        List.copyOf(body.subList(i + 1, body.size())));
  }

  /**
   * A serial nest that sums rows into its output — {@code for j { out[j] = 0 }; for n { for j {
   * out[j] = out[j] + e } }}, the CPU's cache-friendly form of a sum over the batch (a dense
   * layer's bias gradient), one thread on a GPU — as a parallel nest of a sum per output: {@code
   * for j { l = 0; for n { l = l + e }; out[j] = l }}. Each output adds the same terms in the same
   * order, so the results are the same to the bit; null where {@code k} is not of that form (e
   * must not read the output, no guards, no rows).
   */
  public static Kernel.Loops perOutput(Kernel.Loops k) {
    KStmt.Loop root = k.root();
    if (k.parallel() || root.extent() != 1 || root.body().size() != 2
        || !(root.body().get(0) instanceof KStmt.Loop zero) || !(root.body().get(1) instanceof KStmt.Loop rows)
        || rows.body().size() != 1 || !(rows.body().get(0) instanceof KStmt.Loop cols)) {
      return null;
    }
    List<KStmt.Loop> zs = chain(zero);
    List<KStmt.Loop> cs = chain(cols);
    if (zs == null || cs == null || zs.size() != cs.size()
        || !(zs.get(zs.size() - 1).body().get(0) instanceof KStmt.Store z)
        || !(cs.get(cs.size() - 1).body().get(0) instanceof KStmt.Store acc)
        || z.guarded() || z.row() != null || !(z.value() instanceof KExpr.Lit lit) || lit.value() != 0
        || acc.guarded() || acc.row() != null || acc.buf() != z.buf()
        || !(acc.value() instanceof KExpr.Bin add) || add.op() != KExpr.BinOp.ADD) {
      return null;
    }
    // The output loop: the one loop of the chain with more than one iteration (the others are
    // 1: their variables are 0 and dropped from every index).
    KStmt.Loop out = null;
    for (int i = 0; i < cs.size(); i++) {
      KStmt.Loop c = cs.get(i);
      if (c.extent() != zs.get(i).extent() || (c.extent() > 1 && out != null)) {
        return null;
      }
      if (c.extent() > 1) {
        out = c;
      }
    }
    if (out == null) {
      out = cs.get(0); // one output
    }
    int[] ones = new int[0];
    for (int i = 0; i < cs.size(); i++) {
      if (cs.get(i) != out) {
        ones = java.util.Arrays.copyOf(ones, ones.length + 2);
        ones[ones.length - 2] = cs.get(i).var();
        ones[ones.length - 1] = zs.get(i).var();
      }
    }
    int outZ = zs.get(cs.indexOf(out)).var();
    int[] drop = ones;
    KExpr.Affine at = dropVars(acc.index(), drop);
    if (!renamed(dropVars(z.index(), drop), outZ, at, out.var()) || stride(at, rows.var()) != 0) {
      return null;
    }
    boolean left = add.x() instanceof KExpr.Load ld && ld.buf() == acc.buf() && ld.index().equals(acc.index())
        && ld.row() == null && !ld.guarded();
    boolean right = add.y() instanceof KExpr.Load ld2 && ld2.buf() == acc.buf() && ld2.index().equals(acc.index())
        && ld2.row() == null && !ld2.guarded();
    if (left == right) {
      return null;
    }
    KExpr e = left ? add.y() : add.x();
    boolean[] bad = {false};
    KernelWalk.forEach(e, x -> {
      if ((x instanceof KExpr.Load ld && (ld.buf() == acc.buf() || ld.row() != null)) || x instanceof KExpr.Local
          || x instanceof KExpr.IndexValue || x instanceof KExpr.Rand || x instanceof KExpr.Acc) {
        bad[0] = true;
      }
    });
    if (bad[0]) {
      return null;
    }
    e = KernelWalk.map(e, x -> x instanceof KExpr.Load ld ? new KExpr.Load(ld.buf(), dropVars(ld.index(), drop),
        ld.guards().stream().map(g -> new KExpr.Guard(dropVars(g.expr(), drop), g.lo(), g.hi())).toList(), ld.fill(),
        null) : x);
    int l = k.locals();
    KExpr sum = left ? new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Local(l), e) : new KExpr.Bin(KExpr.BinOp.ADD, e,
        new KExpr.Local(l));
    KStmt.Loop perOutput = new KStmt.Loop(out.var(), out.extent(), List.of(
        new KStmt.Assign(l, new KExpr.Lit(0)),
        new KStmt.Loop(rows.var(), rows.extent(), List.of(new KStmt.Assign(l, sum))),
        new KStmt.Store(acc.buf(), at, new KExpr.Local(l))));
    return new Kernel.Loops(k.name(), perOutput, k.vars(), l + 1, true, k.flops());
  }

  /** The loops from {@code l} down while each holds one statement, a loop, to the one holding one other statement; null otherwise. */
  private static List<KStmt.Loop> chain(KStmt.Loop l) {
    List<KStmt.Loop> out = new ArrayList<>();
    KStmt.Loop cur = l;
    while (true) {
      out.add(cur);
      if (cur.body().size() != 1) {
        return null;
      }
      if (!(cur.body().get(0) instanceof KStmt.Loop next)) {
        return out;
      }
      cur = next;
    }
  }

  /** {@code a} without the strides of variables {@code vars} (loops of one iteration: always 0). */
  private static KExpr.Affine dropVars(KExpr.Affine a, int[] vars) {
    long[] s = a.strides().clone();
    for (int v : vars) {
      if (v < s.length) {
        s[v] = 0;
      }
    }
    return new KExpr.Affine(a.base(), s);
  }

  private static long stride(KExpr.Affine a, int v) {
    return v < a.strides().length ? a.strides()[v] : 0;
  }

  /** Whether {@code a} over variable {@code v} is {@code b} over variable {@code w} (and no other variable). */
  private static boolean renamed(KExpr.Affine a, int v, KExpr.Affine b, int w) {
    if (a.base() != b.base() || stride(a, v) != stride(b, w)) {
      return false;
    }
    int n = Math.max(a.strides().length, b.strides().length);
    for (int i = 0; i < n; i++) {
      if ((i != v && stride(a, i) != 0) || (i != w && stride(b, i) != 0)) {
        return false;
      }
    }
    return true;
  }

  /**
   * {@code k} without its outer loops of one iteration that hold only a loop (a sum of
   * everything: {@code for i0 < 1 { for i1 < 1 { l = 0; … } }}), their variables 0 in every index;
   * a nest of one iteration is parallel.
   */
  static Kernel.Loops peel(Kernel.Loops k) {
    KStmt.Loop root = k.root();
    boolean changed = false;
    while (root.extent() == 1 && root.body().size() == 1 && root.body().get(0) instanceof KStmt.Loop inner) {
      int v = root.var();
      KStmt mapped = KernelWalk.map(inner, e -> e instanceof KExpr.Load ld ? new KExpr.Load(ld.buf(),
          dropVars(ld.index(), new int[] {v}), ld.guards().stream().map(g -> new KExpr.Guard(dropVars(g.expr(),
          new int[] {v}), g.lo(), g.hi())).toList(), ld.fill(), ld.row()) : e,
          st -> new KStmt.Store(st.buf(), dropVars(st.index(), new int[] {v}), st.value(), st.guards().stream()
              .map(g -> new KExpr.Guard(dropVars(g.expr(), new int[] {v}), g.lo(), g.hi())).toList(), st.row()));
      root = (KStmt.Loop) mapped;
      changed = true;
    }
    if (!changed) {
      return k;
    }
    boolean uses = false;
    for (KStmt st : new KStmt[] {root}) {
      uses |= KernelWalk.hasRows(st);
    }
    return uses ? k : new Kernel.Loops(k.name(), root, k.vars(), k.locals(), k.parallel() || root.extent() == 1,
        k.flops());
  }

  /**
   * Whether {@code s} holds only loops and, for each of {@code locals} and nothing else, exactly
   * one {@code l = l + e}, e free of locals, rows, index values and random numbers.
   */
  private static boolean sumsOnly(KStmt.Loop s, List<Integer> locals) {
    java.util.Set<Integer> seen = new java.util.HashSet<>();
    boolean[] ok = {true};
    KernelWalk.forEachStmt(s, x -> {
      switch (x) {
        case KStmt.Loop lp -> { }
        case KStmt.Store st -> ok[0] = false;
        case KStmt.Assign a -> {
          int l = a.local();
          KExpr e = !locals.contains(l) || !seen.add(l) || !(a.value() instanceof KExpr.Bin b)
              || b.op() != KExpr.BinOp.ADD ? null
              : b.x() instanceof KExpr.Local x0 && x0.id() == l ? b.y()
              : b.y() instanceof KExpr.Local y0 && y0.id() == l ? b.x() : null;
          if (e == null) {
            ok[0] = false;
            return;
          }
          KernelWalk.forEach(e, y -> {
            if (y instanceof KExpr.Local || y instanceof KExpr.IndexValue || y instanceof KExpr.Rand
                || y instanceof KExpr.Acc || (y instanceof KExpr.Load ld && ld.row() != null)) {
              ok[0] = false;
            }
          });
        }
      }
    });
    return ok[0] && seen.size() == locals.size();
  }

  /** The largest power of two up to {@code most} that divides {@code extent}; 0 where that is below {@code least}. */
  private static int threadsFor(long extent, int most, int least) {
    int threads = most;
    while (threads >= least && threads > 1 && extent % threads != 0) {
      threads /= 2;
    }
    return threads >= least && extent % threads == 0 ? threads : 0;
  }

  /** The innermost loop of {@code l}'s chain of loops that each hold only a loop. */
  private static KStmt.Loop innermost(KStmt.Loop l) {
    List<KStmt.Loop> nest = KernelWalk.perfectNest(l);
    return nest.isEmpty() ? l : nest.get(nest.size() - 1);
  }

  /** {@code l} with the innermost loop of its chain replaced by {@code with}. */
  private static KStmt replaceInnermost(KStmt.Loop l, KStmt.Loop with) {
    if (l.body().size() == 1 && l.body().get(0) instanceof KStmt.Loop n) {
      return new KStmt.Loop(l.var(), l.extent(), List.of(replaceInnermost(n, with)));
    }
    return with;
  }

  /**
   * {@code l} with the innermost loops of its chain merged while they are contiguous: a loop of
   * extent E around the innermost one (variable v, extent F) merges into it where every index and
   * guard inside reads the outer variable at F times v's stride, as a row-major [E, F] block does;
   * the merged loop is v over E·F, the outer variable gone from the indices.
   */
  static KStmt.Loop mergeInnermost(KStmt.Loop l) {
    List<KStmt.Loop> chain = new ArrayList<>(List.of(l));
    chain.addAll(KernelWalk.perfectNest(l));
    KStmt.Loop in = chain.get(chain.size() - 1);
    int i = chain.size() - 2;
    while (i >= 0 && contiguous(in, chain.get(i).var())) {
      int outer = chain.get(i).var();
      KStmt body = KernelWalk.map(new KStmt.Loop(in.var(), in.extent(), in.body()), e -> e instanceof KExpr.Load ld
          ? new KExpr.Load(ld.buf(), dropVars(ld.index(), new int[] {outer}), ld.guards().stream()
              .map(g -> new KExpr.Guard(dropVars(g.expr(), new int[] {outer}), g.lo(), g.hi())).toList(), ld.fill(),
              ld.row()) : e, st -> st);
      in = new KStmt.Loop(in.var(), Math.multiplyExact(chain.get(i).extent(), in.extent()), ((KStmt.Loop) body).body());
      i--;
    }
    KStmt.Loop out = in;
    for (int j = i; j >= 0; j--) {
      out = new KStmt.Loop(chain.get(j).var(), chain.get(j).extent(), List.of(out));
    }
    return out;
  }

  /** Whether every index and guard inside loop {@code in} reads {@code outer} at {@code in}'s extent times {@code in}'s variable's stride. */
  private static boolean contiguous(KStmt.Loop in, int outer) {
    boolean[] ok = {true};
    java.util.function.Consumer<KExpr.Affine> check = a -> {
      if (stride(a, outer) != in.extent() * stride(a, in.var())) {
        ok[0] = false;
      }
    };
    KernelWalk.forEachStmt(in, x -> {
      if (x instanceof KStmt.Assign a) {
        KernelWalk.forEach(a.value(), y -> {
          if (y instanceof KExpr.Load ld) {
            check.accept(ld.index());
            ld.guards().forEach(g -> check.accept(g.expr()));
          }
        });
      }
    });
    return ok[0];
  }

  /** {@code s} with loop variable {@code r} read as {@code t + threads·r}, in {@code vars} variables. */
  private static KStmt rewrite(KStmt s, int r, int t, int threads, int vars) {
    return KernelWalk.map(s, e -> e instanceof KExpr.Load ld ? new KExpr.Load(ld.buf(), affine(ld.index(), r, t, threads,
        vars), ld.guards().stream().map(g -> new KExpr.Guard(affine(g.expr(), r, t, threads, vars), g.lo(), g.hi()))
        .toList(), ld.fill(), ld.row()) : e, st -> st);
  }

  private static KExpr.Affine affine(KExpr.Affine a, int r, int t, int threads, int vars) {
    long[] s = java.util.Arrays.copyOf(a.strides(), vars);
    long sr = r < a.strides().length ? a.strides()[r] : 0;
    s[t] = sr;
    s[r] = sr * threads;
    return new KExpr.Affine(a.base(), s);
  }
}
