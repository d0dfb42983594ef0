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
public record MemoryPlan(long[] offsets, long regionStart, long regionEnd) {
  static final long ALIGN = 16;

  public long offset(int buffer) {
    return offsets[buffer];
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
    return sb.toString();
  }

  private static long align(long x) {
    return (x + ALIGN - 1) / ALIGN * ALIGN;
  }

  public static MemoryPlan plan(KernelProgram p, Map<String, Long> paramOffsets, long regionStart) {
    int nb = p.buffers().size();
    long[] offsets = new long[nb];
    int[] first = new int[nb];
    int[] last = new int[nb];
    Arrays.fill(first, Integer.MAX_VALUE);
    Arrays.fill(last, -1);
    List<Kernel> ks = p.kernels();
    for (int i = 0; i < ks.size(); i++) {
      for (int b : touched(ks.get(i))) {
        first[b] = Math.min(first[b], i);
        last[b] = Math.max(last[b], i);
      }
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
    temps.sort(Comparator.comparingLong(Buffer::size).reversed().thenComparingInt(Buffer::id));
    List<Buffer> placed = new ArrayList<>();
    long end = tempStart;
    for (Buffer b : temps) {
      if (last[b.id()] < 0) {
        offsets[b.id()] = tempStart;
        continue;
      }
      // Candidate offsets: the start, and the end of every placed buffer that overlaps in time.
      List<long[]> busy = new ArrayList<>();
      for (Buffer o : placed) {
        if (first[o.id()] <= last[b.id()] && first[b.id()] <= last[o.id()]) {
          busy.add(new long[] {offsets[o.id()], align(offsets[o.id()] + o.size())});
        }
      }
      busy.sort(Comparator.comparingLong(x -> x[0]));
      long at = tempStart;
      for (long[] r : busy) {
        if (at + b.size() <= r[0]) {
          break;
        }
        at = Math.max(at, r[1]);
      }
      offsets[b.id()] = at;
      end = Math.max(end, align(at + b.size()));
      placed.add(b);
    }
    return new MemoryPlan(offsets, regionStart, end);
  }

  /** Buffers a kernel reads or writes. */
  static List<Integer> touched(Kernel k) {
    List<Integer> out = new ArrayList<>();
    switch (k) {
      case Kernel.Gemm g -> {
        out.add(g.a());
        out.add(g.b());
        out.add(g.c());
        out.add(g.workspace());
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
    }
    return out;
  }
}
