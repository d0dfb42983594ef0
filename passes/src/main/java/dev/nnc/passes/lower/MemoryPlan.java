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
public record MemoryPlan(long[] offsets, long[] scratch, long regionStart, long regionEnd) {
  static final long ALIGN = 16;

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
        sb.append(String.format("scratch of %-24s         at %d%n", p.kernels().get(k).name(), scratch[k]));
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
    // Temporaries (live from first to last use) and scratch (live during its kernel) are placed
    // alike: largest first, temporaries before scratch of the same size, then by id.
    List<Item> items = new ArrayList<>();
    for (Buffer b : temps) {
      items.add(new Item(b.id(), b.size(), first[b.id()], last[b.id()]));
    }
    long[] scratch = new long[ks.size()];
    Arrays.fill(scratch, -1);
    for (int i = 0; i < ks.size(); i++) {
      long need = scratchFloats.applyAsLong(ks.get(i));
      if (need > 0) {
        items.add(new Item(-1 - i, need, i, i));
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
    return new MemoryPlan(offsets, scratch, regionStart, end);
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
    }
    return out;
  }
}
