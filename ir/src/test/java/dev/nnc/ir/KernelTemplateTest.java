package dev.nnc.ir;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.nnc.ir.kernel.KExpr;
import dev.nnc.ir.kernel.KExpr.Affine;
import dev.nnc.ir.kernel.KStmt;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelTemplate;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Kernels that differ only in their buffers have one template; anything else — an index, a
 * constant, which buffers coincide — makes another; instantiating a template gives the kernel back.
 */
class KernelTemplateTest {
  /** {@code out[i] = (x[i] + y[i + shift]) · c} over i < 8. */
  static Kernel.Loops add(String name, int x, int y, int out, long shift, double c) {
    KExpr sum = new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Load(x, new Affine(0, new long[] {1})),
        new KExpr.Load(y, new Affine(shift, new long[] {1})));
    KStmt store = new KStmt.Store(out, new Affine(0, new long[] {1}), new KExpr.Bin(KExpr.BinOp.MUL, sum, new KExpr.Lit(c)));
    return new Kernel.Loops(name, new KStmt.Loop(0, 8, List.of(store)), 1, 0, true, 16);
  }

  @Test
  void kernelsDifferingInBuffersShareATemplate() {
    KernelTemplate a = KernelTemplate.of(add("k1", 3, 4, 5, 0, 2));
    KernelTemplate b = KernelTemplate.of(add("k7", 9, 1, 2, 0, 2));
    assertEquals(a.kernel(), b.kernel());
    assertEquals(a.kernel().hashCode(), b.kernel().hashCode());
    assertEquals(KernelTemplate.NAME, a.kernel().name());
    // Buffers numbered by first use: the loads (x, then y), then the store.
    assertArrayEquals(new int[] {3, 4, 5}, a.buffers());
    assertArrayEquals(new int[] {9, 1, 2}, b.buffers());
  }

  @Test
  void anyOtherDifferenceIsAnotherTemplate() {
    Kernel base = KernelTemplate.of(add("k", 3, 4, 5, 0, 2)).kernel();
    assertNotEquals(base, KernelTemplate.of(add("k", 3, 4, 5, 1, 2)).kernel(), "an index");
    assertNotEquals(base, KernelTemplate.of(add("k", 3, 4, 5, 0, 3)).kernel(), "a constant");
    // x + x reads one buffer twice: a body may not assume its two operands are distinct buffers.
    KernelTemplate twice = KernelTemplate.of(add("k", 3, 3, 5, 0, 2));
    assertNotEquals(base, twice.kernel(), "coinciding buffers");
    assertArrayEquals(new int[] {3, 5}, twice.buffers());
  }

  @Test
  void gemmTemplatesRenumberOperandsAndEpilogue() {
    KExpr epilogue = new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Acc(), new KExpr.Load(8, new Affine(0, new long[] {0, 1})));
    Kernel.Gemm g1 = new Kernel.Gemm("g1", 2, 0, 5, 0, 6, 4, 8, 16, false, true, epilogue);
    Kernel.Gemm g2 = new Kernel.Gemm("g2", 12, 0, 15, 0, 16, 4, 8, 16, false, true,
        new KExpr.Bin(KExpr.BinOp.ADD, new KExpr.Acc(), new KExpr.Load(18, new Affine(0, new long[] {0, 1}))));
    KernelTemplate t1 = KernelTemplate.of(g1);
    assertEquals(t1.kernel(), KernelTemplate.of(g2).kernel());
    assertArrayEquals(new int[] {2, 5, 6, 8}, t1.buffers());
    assertNotEquals(t1.kernel(), KernelTemplate.of(new Kernel.Gemm("g", 2, 0, 5, 0, 6, 4, 8, 16, true, true, epilogue))
        .kernel(), "a transpose");
  }

  @Test
  void instantiateIsTheInverse() {
    Kernel.Loops k = add("k1", 3, 4, 5, 1, 2);
    assertEquals(k, KernelTemplate.of(k).instantiate("k1"));
    Kernel.Gemm g = new Kernel.Gemm("g", 7, 12, 2, 0, 9, 3, 5, 4, true, false, null, 1);
    assertEquals(g, KernelTemplate.of(g).instantiate("g"));
  }
}
