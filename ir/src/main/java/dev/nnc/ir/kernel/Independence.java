package dev.nnc.ir.kernel;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Which loops of a nest may run their iterations at once, beyond the parallel outer loop that
 * lowering guarantees: a back end with more threads than that loop has iterations (a GPU, where a
 * convolution's im2col at batch 64 has 64) can then spread the second loop over threads too.
 */
public final class Independence {
  private Independence() {}

  /**
   * The extent E of the loops that make up parallel nest {@code k}'s outermost loop's body, when
   * every pair (outer iteration, iteration of those loops) is independent of every other, so that
   * the items {@code outer·E + second} may run at once, each running its iteration of each of the
   * loops in turn; 0 otherwise. The body must be loops only, all of extent E (a Winograd
   * transform's nine regions of tiles — corners, edges, interior — each a loop over the images).
   * True for a Winograd transform whose loops run over its images (its description says each
   * channel and image writes its own tiles from its own pixels); otherwise shown from the nest:
   * nothing inside the loops assigns a local (a running value could carry from one iteration to
   * the next), no store is at a data-dependent row, no buffer the nest writes is also read, each
   * store's index is one-to-one in the loops around it whose stride it does not ignore (strides of
   * distinct magnitudes, each above the span of the smaller ones, as a row-major index is), the
   * two outer loops' strides are not ignored, and stores into one buffer have the same index or
   * ranges apart.
   */
  public static long secondLoops(Kernel.Loops k) {
    KStmt.Loop root = k.root();
    if (!k.parallel() || root.body().isEmpty()) {
      return 0;
    }
    long extent = -1;
    for (KStmt s : root.body()) {
      if (!(s instanceof KStmt.Loop l) || (extent >= 0 && l.extent() != extent)) {
        return 0;
      }
      extent = l.extent();
    }
    if (k.transform() != null) {
      return extent == k.transform().images() ? extent : 0;
    }
    List<KStmt.Store> stores = new ArrayList<>();
    List<long[]> extents = new ArrayList<>();
    List<Integer> seconds = new ArrayList<>();
    for (KStmt s : root.body()) {
      KStmt.Loop second = (KStmt.Loop) s;
      int before = stores.size();
      if (!collect(second, new long[k.vars()], root, stores, extents) || !privateLocals(second)) {
        return 0;
      }
      for (int i = before; i < stores.size(); i++) {
        seconds.add(second.var());
      }
    }
    Set<Integer> written = new HashSet<>();
    for (KStmt.Store s : stores) {
      written.add(s.buf());
    }
    if (!readsOnlyOwnWrites(root, written, new HashSet<>())) {
      return 0;
    }
    List<List<Integer>> strided = new ArrayList<>();
    for (int i = 0; i < stores.size(); i++) {
      strided.add(List.of(root.var(), seconds.get(i)));
    }
    return apart(stores, extents, strided, java.util.Collections.nCopies(stores.size(), 0)) ? extent : 0;
  }

  /**
   * The lanes of collapsed nest {@code k}'s items when the loops inside its second loops may be
   * spread over threads too; 0 otherwise. Each second loop's body must be a perfect nest (each
   * body a single loop, down to one of statements: a region's rows and columns of tiles); its
   * iterations, counted row-major, follow those of the second loops before it, and the lanes are
   * their number, P: lane ℓ of item (outer, second) runs iteration ℓ − P_R of each second loop R
   * whose iterations hold it. Shown from the nest, whatever its description says: every pair of
   * distinct (outer, second, region, iteration) writes different elements — each store's index
   * one-to-one in all the loops around it down to the perfect nest's innermost, none of those
   * loops' strides ignored, stores into one buffer apart unless they are one store — no local
   * carries from one iteration of the innermost loop to the next, and a buffer the nest writes is
   * read only where the same iteration stored the element before. Only where there are fewer
   * pairs than {@code below}.
   */
  public static long spreadLanes(Kernel.Loops k, long below) {
    long second = secondLoops(k);
    KStmt.Loop root = k.root();
    if (second == 0 || root.extent() * second >= below) {
      return 0;
    }
    List<KStmt.Store> stores = new ArrayList<>();
    List<long[]> extents = new ArrayList<>();
    List<Integer> regions = new ArrayList<>();
    List<List<Integer>> spread = new ArrayList<>();
    Set<Integer> written = new HashSet<>();
    long lanes = 0;
    int r = 0;
    for (KStmt s : root.body()) {
      KStmt.Loop inner = (KStmt.Loop) s;
      List<Integer> vars = new ArrayList<>(List.of(root.var(), inner.var()));
      long iterations = 1;
      for (KStmt.Loop l : KernelWalk.perfectNest(inner)) {
        inner = l;
        vars.add(l.var());
        iterations = Math.multiplyExact(iterations, l.extent());
      }
      if (!privateLocals(inner)) {
        return 0;
      }
      int before = stores.size();
      if (!collect((KStmt.Loop) s, new long[k.vars()], root, stores, extents)) {
        return 0;
      }
      for (int i = before; i < stores.size(); i++) {
        regions.add(r);
        spread.add(vars);
        written.add(stores.get(i).buf());
      }
      lanes = Math.addExact(lanes, iterations);
      r++;
    }
    for (KStmt s : root.body()) {
      if (!readsOnlyOwnWrites((KStmt.Loop) s, written, new HashSet<>())) {
        return 0;
      }
    }
    return lanes > 1 && apart(stores, extents, spread, regions) ? lanes : 0;
  }

  /**
   * Whether stores {@code stores} (inside loops of {@code extents}) write apart: each one-to-one in
   * its loops, the loops of {@code strided} not ignored by it, and any two into one buffer never
   * meeting, unless they are in one {@code group} with the same index (one iteration's store and
   * its rewrite).
   */
  private static boolean apart(List<KStmt.Store> stores, List<long[]> extents, List<List<Integer>> strided,
      List<Integer> group) {
    for (int i = 0; i < stores.size(); i++) {
      KStmt.Store s = stores.get(i);
      long[] ext = extents.get(i);
      long[] strides = s.index().strides();
      for (int v : strided.get(i)) {
        if (ext[v] > 1 && (v >= strides.length || strides[v] == 0)) {
          return false;
        }
      }
      if (!oneToOne(strides, ext)) {
        return false;
      }
      for (int j = 0; j < i; j++) {
        KStmt.Store o = stores.get(j);
        boolean same = group.get(j).equals(group.get(i)) && o.index().equals(s.index());
        if (o.buf() == s.buf() && !same && overlap(s, ext, o, extents.get(j))) {
          return false;
        }
      }
    }
    return true;
  }

  /**
   * Whether every load in {@code loop} of a buffer the nest writes reads an element that the same
   * iteration stored before it (the same index, unguarded: an element-wise chain fused into one
   * nest, {@code b3[i] = …; b5[i] = b3[i] + …}); {@code done} holds the stores before, as
   * {@code buf:index}.
   */
  private static boolean readsOnlyOwnWrites(KStmt.Loop loop, Set<Integer> written, Set<String> done) {
    Set<String> here = new HashSet<>(done);
    boolean[] ok = {true};
    java.util.function.Consumer<KExpr> reads = e -> KernelWalk.forEach(e, x -> {
      if (x instanceof KExpr.Load l && written.contains(l.buf())
          && (l.guarded() || l.row() != null || !here.contains(l.buf() + ":" + l.index()))) {
        ok[0] = false;
      }
    });
    for (KStmt s : loop.body()) {
      switch (s) {
        case KStmt.Loop l -> ok[0] &= readsOnlyOwnWrites(l, written, here);
        case KStmt.Store st -> {
          reads.accept(st.value());
          if (!st.guarded() && st.row() == null) {
            here.add(st.buf() + ":" + st.index());
          }
        }
        case KStmt.Assign a -> reads.accept(a.value());
      }
    }
    return ok[0];
  }

  /**
   * Whether every local the loop's body uses is written before it is read in each iteration: its
   * first use in program order (which is the order every iteration runs them in: loops run at
   * least once and there are no branches) is an assignment whose value does not read it, such as
   * a sum's {@code l = 0} before {@code l = l + e}. Then no value flows from one iteration to
   * another through a local.
   */
  static boolean privateLocals(KStmt.Loop loop) {
    java.util.Map<Integer, Boolean> written = new java.util.HashMap<>();
    boolean[] ok = {true};
    java.util.function.Consumer<KExpr> reads = e -> KernelWalk.forEach(e, x -> {
      if (x instanceof KExpr.Local l && written.putIfAbsent(l.id(), false) == null) {
        ok[0] = false;
      }
    });
    for (KStmt s : loop.body()) {
      KernelWalk.forEachStmt(s, x -> {
        switch (x) {
          case KStmt.Loop l -> { }
          case KStmt.Store st -> {
            reads.accept(st.value());
            if (st.row() != null) {
              reads.accept(st.row().id());
            }
          }
          case KStmt.Assign a -> {
            reads.accept(a.value());
            written.putIfAbsent(a.local(), true);
          }
        }
      });
    }
    return ok[0];
  }

  /**
   * The stores inside {@code l} with the extents of the loops around each, but those whose guards
   * never hold (a ragged last tile's pixels past the image's edge, in a region of one column);
   * false on a row store.
   */
  private static boolean collect(KStmt.Loop l, long[] ext, KStmt.Loop root, List<KStmt.Store> stores,
      List<long[]> extents) {
    long[] inner = ext.clone();
    inner[root.var()] = root.extent();
    inner[l.var()] = l.extent();
    for (KStmt s : l.body()) {
      switch (s) {
        case KStmt.Loop n -> {
          if (!collect(n, inner, root, stores, extents)) {
            return false;
          }
        }
        case KStmt.Store st -> {
          if (st.row() != null) {
            return false;
          }
          if (!never(st, inner)) {
            stores.add(st);
            extents.add(inner.clone());
          }
        }
        case KStmt.Assign a -> { }
      }
    }
    return true;
  }

  /** Whether store {@code st} never runs in loops of extents {@code ext}: a guard's expression never in its range. */
  private static boolean never(KStmt.Store st, long[] ext) {
    for (KExpr.Guard g : st.guards()) {
      long[] r = range(g.expr(), ext);
      if (r[1] < g.lo() || r[0] >= g.hi()) {
        return true;
      }
    }
    return false;
  }

  /** Whether {@code Σ strides[v]·i_v} over {@code i_v < ext[v]} is one-to-one in the variables with a stride. */
  static boolean oneToOne(long[] strides, long[] ext) {
    List<long[]> terms = new ArrayList<>();
    for (int v = 0; v < strides.length && v < ext.length; v++) {
      if (strides[v] != 0 && ext[v] > 1) {
        terms.add(new long[] {Math.abs(strides[v]), ext[v]});
      }
    }
    terms.sort((a, b) -> Long.compare(a[0], b[0]));
    long span = 0;
    for (long[] t : terms) {
      if (t[0] <= span) {
        return false;
      }
      span = Math.addExact(span, Math.multiplyExact(t[0], t[1] - 1));
    }
    return true;
  }

  /**
   * Whether two stores' indices can meet. Terms they share (a loop, its stride and extent)
   * contribute to the indices' difference a multiple of g, the strides' greatest common divisor,
   * whatever values the loops take in each; so where the rest of the two indices differ by
   * amounts none of which is a multiple of g, an element of one is never one of the other
   * (interleaved regions of a row, as {@code 16c + n} and {@code 16c + 8 + j} for n, j < 8).
   * Otherwise their whole ranges must be apart.
   */
  private static boolean overlap(KStmt.Store a, long[] ea, KStmt.Store b, long[] eb) {
    long[] sa = a.index().strides();
    long[] sb = b.index().strides();
    int n = Math.max(sa.length, sb.length);
    long g = 0;
    List<long[]> shared = new ArrayList<>();
    long[] ra = {a.index().base(), a.index().base()};
    long[] rb = {b.index().base(), b.index().base()};
    for (int v = 0; v < n; v++) {
      long x = v < sa.length && v < ea.length && ea[v] > 1 ? sa[v] : 0;
      long y = v < sb.length && v < eb.length && eb[v] > 1 ? sb[v] : 0;
      if (x != 0 && x == y && ea[v] == eb[v]) {
        g = gcd(g, Math.abs(x));
        shared.add(new long[] {Math.abs(x), ea[v] - 1});
        continue;
      }
      add(ra, x, v < ea.length ? ea[v] : 0);
      add(rb, y, v < eb.length ? eb[v] : 0);
    }
    if (g > 0) {
      // The rest differs by lo..hi; if no multiple of g lies in that range, the whole indices
      // never meet (a transform's 36 planes of tiles, 524,288 apart, each a region's tiles).
      long lo = rb[0] - ra[1];
      long hi = rb[1] - ra[0];
      if (Math.floorDiv(lo - 1, g) == Math.floorDiv(hi, g)) {
        return false;
      }
      // Else whether the shared terms' difference, Σ s·d with |d| below each extent, can equal
      // some value in lo..hi: terms from the largest stride down, each d limited to what the
      // smaller terms can still make up (a row-major index leaves one or two), at most a few
      // thousand tries before assuming that they may.
      shared.sort((p, q) -> Long.compare(q[0], p[0]));
      long[] below = new long[shared.size() + 1];
      for (int i = shared.size() - 1; i >= 0; i--) {
        below[i] = below[i + 1] + shared.get(i)[0] * shared.get(i)[1];
      }
      return reaches(shared, below, 0, lo, hi, new int[] {4096});
    }
    long[] wa = range(a.index(), ea);
    long[] wb = range(b.index(), eb);
    return wa[0] <= wb[1] && wb[0] <= wa[1];
  }

  /**
   * Whether {@code Σ_{i ≥ level} s_i·d_i}, each {@code |d_i| ≤ e_i} ({@code terms}: {s, e} by
   * decreasing s; {@code below[i]}: the most the terms from i on can make), can lie in
   * {@code [lo, hi]}; true once {@code budget} runs out.
   */
  private static boolean reaches(List<long[]> terms, long[] below, int level, long lo, long hi, int[] budget) {
    if (--budget[0] < 0) {
      return true;
    }
    if (level == terms.size()) {
      return lo <= 0 && 0 <= hi;
    }
    long s = terms.get(level)[0];
    long e = terms.get(level)[1];
    long rest = below[level + 1];
    long from = Math.max(-e, Math.floorDiv(lo - rest + s - 1, s));
    long to = Math.min(e, Math.floorDiv(hi + rest, s));
    for (long d = from; d <= to; d++) {
      if (reaches(terms, below, level + 1, lo - s * d, hi - s * d, budget)) {
        return true;
      }
    }
    return false;
  }

  private static void add(long[] r, long stride, long extent) {
    long span = stride * Math.max(0, extent - 1);
    r[0] += Math.min(0, span);
    r[1] += Math.max(0, span);
  }

  private static long gcd(long a, long b) {
    return b == 0 ? a : gcd(b, a % b);
  }

  private static long[] range(KExpr.Affine idx, long[] ext) {
    long lo = idx.base();
    long hi = idx.base();
    long[] s = idx.strides();
    for (int v = 0; v < s.length && v < ext.length; v++) {
      long span = s[v] * Math.max(0, ext[v] - 1);
      lo += Math.min(0, span);
      hi += Math.max(0, span);
    }
    return new long[] {lo, hi};
  }
}
