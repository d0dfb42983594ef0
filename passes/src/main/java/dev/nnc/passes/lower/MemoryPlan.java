package dev.nnc.passes.lower;

import dev.nnc.ir.kernel.Buffer;
import dev.nnc.ir.kernel.KExpr;
import dev.nnc.ir.kernel.KStmt;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.ir.kernel.KernelWalk;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * {@code plan-memory}: offsets of every buffer in the model's one arena, in f32 elements.
 * Parameters sit at the model-wide offsets given; inputs get their own slots; temporaries share
 * space: each lives from the first kernel that touches it to the last (outputs to the end), and
 * buffers whose lifetimes do not overlap may take the same bytes. Placement is greedy, largest
 * first, at the lowest offset that fits; offsets are 64-byte aligned.
 */
public record MemoryPlan(long[] offsets, long[] scratch, long regionStart, long regionEnd, long[] packedA,
    long[] packedB, int[] packedAFrom) {
  static final long ALIGN = 16;

  /** A plan with no prepacked GEMM operands. */
  public MemoryPlan(long[] offsets, long[] scratch, long regionStart, long regionEnd) {
    this(offsets, scratch, regionStart, regionEnd, none(scratch.length), none(scratch.length), noKernels(scratch.length));
  }

  private static long[] none(int n) {
    long[] a = new long[n];
    Arrays.fill(a, -1);
    return a;
  }

  private static int[] noKernels(int n) {
    int[] a = new int[n];
    Arrays.fill(a, -1);
    return a;
  }

  /**
   * The earlier GEMM (its index among the program's leaves) whose scratch still holds, when
   * kernel {@code kernel} runs, the packed copy of the same A that kernel {@code kernel} reads
   * instead of packing A again; -1: none. The planner keeps that scratch live until then.
   */
  public int packedAFrom(int kernel) {
    return packedAFrom[kernel];
  }

  /**
   * Where kernel {@code kernel}'s GEMM finds its A operand already packed (persistent memory
   * written by the {@code prepare} program whenever the weights change), or -1: it packs A itself.
   */
  public long packedA(int kernel) {
    return packedA[kernel];
  }

  /** As {@link #packedA}, for the B operand. */
  public long packedB(int kernel) {
    return packedB[kernel];
  }

  /** This plan with GEMM operands prepacked at these offsets (-1: none), per kernel. */
  public MemoryPlan withPacked(long[] a, long[] b) {
    return new MemoryPlan(offsets, scratch, regionStart, regionEnd, a, b, packedAFrom);
  }

  public long offset(int buffer) {
    return offsets[buffer];
  }

  /** Where kernel {@code kernel}'s scratch starts (its back end asked for some), or -1. */
  public long scratch(int kernel) {
    return scratch[kernel];
  }

  /** The plan as text ({@code nnc emit --after plan-memory}): one line per buffer, by offset. */
  public String describe(KernelProgram p) {
    StringBuilder sb = new StringBuilder(String.format("// arena region [%d, %d) floats%n", regionStart, regionEnd));
    Integer[] order = new Integer[p.buffers().size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Long.compare(offsets[a], offsets[b]));
    for (int i : order) {
      var b = p.buffers().get(i);
      sb.append(String.format("%%b%d %-24s %-6s %10d floats at %d%n", i, b.name(), b.kind().name().toLowerCase(
          java.util.Locale.ROOT), b.size(), offsets[i]));
    }
    for (int k = 0; k < scratch.length; k++) {
      if (scratch[k] >= 0) {
        sb.append(String.format("scratch of %-24s         at %d%n", p.leaves().get(k).name(), scratch[k]));
      }
      if (packedA[k] >= 0) {
        sb.append(String.format("packed A of %-24s        at %d%n", p.leaves().get(k).name(), packedA[k]));
      }
      if (packedB[k] >= 0) {
        sb.append(String.format("packed B of %-24s        at %d%n", p.leaves().get(k).name(), packedB[k]));
      }
      if (packedAFrom[k] >= 0) {
        sb.append(String.format("packed A of %-24s        from %s%n", p.leaves().get(k).name(),
            p.leaves().get(packedAFrom[k]).name()));
      }
    }
    return sb.toString();
  }

  private static long align(long x) {
    return (x + ALIGN - 1) / ALIGN * ALIGN;
  }

  /** A plan for a back end that needs no scratch. */
  public static MemoryPlan plan(KernelProgram p, Map<String, Long> paramOffsets, long regionStart) {
    return plan(p, paramOffsets, regionStart, k -> 0);
  }

  /**
   * A plan in which kernel i also gets {@code scratch(kernel i)} floats of its own (a GEMM's packed
   * operands on the CPU), live only while it runs, so scratch of different kernels shares space
   * with each other and with temporaries.
   */
  public static MemoryPlan plan(KernelProgram p, Map<String, Long> paramOffsets, long regionStart,
      java.util.function.ToLongFunction<Kernel> scratchFloats) {
    return plan(p, paramOffsets, regionStart, scratchFloats, (a, b) -> false);
  }

  /**
   * As {@link #plan(KernelProgram, Map, long, java.util.function.ToLongFunction)}, where a GEMM may
   * read the packed A an earlier GEMM left in its scratch ({@code sharesPackedA}, the back end's
   * {@link dev.nnc.passes.backend.Backend#sharesPackedA}): both outside loops, with the same view of
   * A (buffer, base, orientation, M, K) and no kernel between them writing A's buffer. That
   * earlier scratch then lives until the later GEMM (an LSTM's {@code dW_hh = dGᵀ·h} and
   * {@code dW_ih = dGᵀ·x} pack {@code dGᵀ} once).
   */
  public static MemoryPlan plan(KernelProgram p, Map<String, Long> paramOffsets, long regionStart,
      java.util.function.ToLongFunction<Kernel> scratchFloats,
      java.util.function.BiPredicate<Kernel.Gemm, Kernel.Gemm> sharesPackedA) {
    int nb = p.buffers().size();
    long[] offsets = new long[nb];
    int[] first = new int[nb];
    int[] last = new int[nb];
    Arrays.fill(first, Integer.MAX_VALUE);
    Arrays.fill(last, -1);
    List<Kernel> ks = p.leaves();
    for (int i = 0; i < ks.size(); i++) {
      for (int b : touched(ks.get(i))) {
        first[b] = Math.min(first[b], i);
        last[b] = Math.max(last[b], i);
      }
    }
    // A loop's body runs again after its last kernel: everything it touches (and its counter)
    // lives from the loop's first kernel to its last, so no two of them share bytes.
    // Each leaf's span: its own index, or its loop's whole range (a scratch the back end fills
    // before the loop, such as a packed weight, must survive every step).
    int[] spanFirst = new int[ks.size()];
    int[] spanLast = new int[ks.size()];
    int leaf = 0;
    for (Kernel k : p.kernels()) {
      int n = KernelProgram.leaves(List.of(k)).size();
      for (int i = leaf; i < leaf + n; i++) {
        spanFirst[i] = k instanceof Kernel.Steps ? leaf : i;
        spanLast[i] = k instanceof Kernel.Steps ? leaf + n - 1 : i;
      }
      if (k instanceof Kernel.Steps st) {
        java.util.Set<Integer> inLoop = new java.util.HashSet<>(Reads.readSet(st));
        inLoop.addAll(Reads.writeSet(st));
        for (int b : inLoop) {
          first[b] = Math.min(first[b], leaf);
          last[b] = Math.max(last[b], leaf + n - 1);
        }
      }
      leaf += n;
    }
    for (KernelProgram.View v : p.outputs().values()) {
      last[v.buffer()] = ks.size();
      first[v.buffer()] = Math.min(first[v.buffer()], ks.size());
    }
    long cursor = align(regionStart);
    List<Buffer> temps = new ArrayList<>();
    for (Buffer b : p.buffers()) {
      switch (b.kind()) {
        case PARAM -> {
          Long off = paramOffsets.get(b.name());
          if (off == null) {
            throw new IllegalStateException("no arena slot for parameter " + b.name());
          }
          offsets[b.id()] = off;
        }
        case INPUT -> {
          offsets[b.id()] = cursor;
          cursor = align(cursor + b.size());
        }
        case TEMP -> temps.add(b);
      }
    }
    long tempStart = cursor;
    // Temporaries (live from first to last use) and scratch (live during its kernel) are placed
    // alike: largest first, temporaries before scratch of the same size, then by id.
    List<Item> items = new ArrayList<>();
    for (Buffer b : temps) {
      items.add(new Item(b.id(), b.size(), first[b.id()], last[b.id()]));
    }
    long[] scratch = new long[ks.size()];
    Arrays.fill(scratch, -1);
    int[] from = sharedPackedA(ks, spanFirst, spanLast, scratchFloats, sharesPackedA);
    int[] scratchLast = spanLast.clone();
    for (int j = 0; j < ks.size(); j++) {
      if (from[j] >= 0) {
        scratchLast[from[j]] = Math.max(scratchLast[from[j]], j);
      }
    }
    for (int i = 0; i < ks.size(); i++) {
      long need = scratchFloats.applyAsLong(ks.get(i));
      if (need > 0) {
        items.add(new Item(-1 - i, need, spanFirst[i], scratchLast[i]));
      }
    }
    items.sort(Comparator.comparingLong(Item::size).reversed().thenComparingInt(it -> it.key() < 0 ? 1 : 0)
        .thenComparingInt(it -> Math.abs(it.key())));
    List<Item> placed = new ArrayList<>();
    Map<Integer, Long> at = new java.util.HashMap<>();
    long end = tempStart;
    for (Item b : items) {
      long where = tempStart;
      if (b.last() >= 0) {
        // Candidate offsets: the start, and the end of every placed item that overlaps in time.
        List<long[]> busy = new ArrayList<>();
        for (Item o : placed) {
          if (o.first() <= b.last() && b.first() <= o.last()) {
            busy.add(new long[] {at.get(o.key()), align(at.get(o.key()) + o.size())});
          }
        }
        busy.sort(Comparator.comparingLong(x -> x[0]));
        for (long[] r : busy) {
          if (where + b.size() <= r[0]) {
            break;
          }
          where = Math.max(where, r[1]);
        }
        end = Math.max(end, align(where + b.size()));
        placed.add(b);
      }
      at.put(b.key(), where);
      if (b.key() >= 0) {
        offsets[b.key()] = where;
      } else {
        scratch[-1 - b.key()] = where;
      }
    }
    return new MemoryPlan(offsets, scratch, regionStart, end, none(ks.size()), none(ks.size()), from);
  }

  /**
   * Per leaf, the earlier GEMM whose packed A it reads ({@link #packedAFrom}), or -1: the nearest
   * earlier GEMM outside loops with the same view of A, no kernel between them writing A's
   * buffer, scratch of its own, and the back end's consent; a GEMM that itself reads another's
   * copy passes that one on.
   */
  static int[] sharedPackedA(List<Kernel> ks, int[] spanFirst, int[] spanLast,
      java.util.function.ToLongFunction<Kernel> scratchFloats,
      java.util.function.BiPredicate<Kernel.Gemm, Kernel.Gemm> sharesPackedA) {
    int[] from = noKernels(ks.size());
    for (int j = 0; j < ks.size(); j++) {
      if (!(ks.get(j) instanceof Kernel.Gemm gj) || spanFirst[j] != j || spanLast[j] != j) {
        continue;
      }
      for (int i = j - 1; i >= 0; i--) {
        Kernel ki = ks.get(i);
        if (ki instanceof Kernel.Gemm gi && spanFirst[i] == i && spanLast[i] == i && sameA(gi, gj)
            && scratchFloats.applyAsLong(gi) > 0 && sharesPackedA.test(gi, gj)) {
          from[j] = from[i] >= 0 ? from[i] : i;
          break;
        }
        if (Reads.writeSet(ki).contains(gj.a())) {
          break;
        }
      }
    }
    return from;
  }

  private static boolean sameA(Kernel.Gemm x, Kernel.Gemm y) {
    return x.a() == y.a() && x.aBase() == y.aBase() && x.transA() == y.transA() && x.m() == y.m() && x.k() == y.k()
        && x.batch() == y.batch();
  }

  /** Plans with GEMM operands prepacked, and where the persistent packed copies end. */
  public record Packed(List<MemoryPlan> plans, long end) {}

  /**
   * Persistent packed copies of GEMM operands, for the programs not in {@code except} (train and
   * prepare): an operand qualifies when it is a parameter (or a tensor derived from them) that its
   * program never writes, and {@code floats} (the back end's {@code packedFloats}) gives it a
   * size. Copies lie from {@code start} on, one per distinct operand and shape, so eval and
   * predict share theirs; the result's plans say where each GEMM finds its copies.
   */
  public static Packed packOperands(List<KernelProgram> programs, List<MemoryPlan> plans, java.util.Set<String> except,
      long start, java.util.function.BiFunction<Kernel.Gemm, Boolean, Long> floats) {
    Map<List<Object>, Long> copies = new java.util.HashMap<>();
    long cursor = align(start);
    List<MemoryPlan> out = new ArrayList<>();
    for (int pi = 0; pi < programs.size(); pi++) {
      KernelProgram p = programs.get(pi);
      MemoryPlan plan = plans.get(pi);
      List<Kernel> leaves = p.leaves();
      int nk = leaves.size();
      long[] a = none(nk);
      long[] b = none(nk);
      if (!except.contains(p.name())) {
        java.util.Set<Integer> written = written(p);
        for (int ki = 0; ki < nk; ki++) {
          if (!(leaves.get(ki) instanceof Kernel.Gemm g)) {
            continue;
          }
          for (boolean isA : new boolean[] {true, false}) {
            int buf = isA ? g.a() : g.b();
            long size = floats.apply(g, isA);
            if (p.buffers().get(buf).kind() != Buffer.Kind.PARAM || written.contains(buf) || size <= 0) {
              continue;
            }
            List<Object> key = List.of(isA, plan.offset(buf) + (isA ? g.aBase() : g.bBase()), g.m(), g.n(), g.k(),
                g.transA(), g.transB(), g.batch());
            Long at = copies.get(key);
            if (at == null) {
              at = cursor;
              copies.put(key, at);
              cursor = align(cursor + size);
            }
            (isA ? a : b)[ki] = at;
          }
        }
      }
      out.add(plan.withPacked(a, b));
    }
    return new Packed(out, cursor);
  }

  /** Buffers some kernel of {@code p} writes. */
  static java.util.Set<Integer> written(KernelProgram p) {
    java.util.Set<Integer> out = new java.util.HashSet<>();
    for (Kernel k : p.kernels()) {
      out.addAll(Reads.writeSet(k));
    }
    return out;
  }

  /** A temporary buffer ({@code key} ≥ 0, its id) or a kernel's scratch ({@code key} = −1 − kernel index). */
  private record Item(int key, long size, int first, int last) {}

  /** Buffers a kernel reads or writes. */
  static List<Integer> touched(Kernel k) {
    List<Integer> out = new ArrayList<>();
    switch (k) {
      case Kernel.Gemm g -> {
        out.add(g.a());
        out.add(g.b());
        out.add(g.c());
        if (g.epilogue() != null) {
          KernelWalk.forEach(g.epilogue(), e -> {
            if (e instanceof KExpr.Load l) {
              out.add(l.buf());
            }
          });
        }
      }
      case Kernel.Loops l -> KernelWalk.forEachStmt(l.root(), s -> {
        if (s instanceof KStmt.Store st) {
          out.add(st.buf());
        }
        KernelWalk.forEachExpr(s instanceof KStmt.Loop ? new KStmt.Loop(0, 0, List.of()) : s, e ->
            KernelWalk.forEach(e, x -> {
              if (x instanceof KExpr.Load ld) {
                out.add(ld.buf());
              }
            }));
      });
      case Kernel.Steps st -> {
        out.add(st.counter());
        st.body().forEach(b -> out.addAll(touched(b)));
      }
    }
    return out;
  }
}
