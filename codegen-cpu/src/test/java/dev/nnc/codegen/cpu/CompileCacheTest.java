package dev.nnc.codegen.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The back end compiles a model as several code units, in parallel, through the on-disk object
 * cache: a second compile takes every unit from the cache and computes bit for bit the same; a
 * damaged entry is detected and rebuilt; concurrent compiles into one cache agree.
 */
class CompileCacheTest {
  @TempDir
  Path dir;

  static final Shape S = Shape.of(6, 37);

  /**
   * Forty nested softmaxes with a scale between them: the scales differ, so their kernels are
   * distinct bodies, spread over several code units (the softmaxes' kernels share theirs).
   */
  static Graph chain() {
    Graph.Builder b = Graph.builder("m");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(S));
    for (int i = 0; i < 40; i++) {
      x = Ops.scale(b, b.add(new Softmax(), x), 3 + i);
    }
    b.output("y", x);
    return b.build();
  }

  static float[] input() {
    Random r = new Random(5);
    float[] v = new float[(int) S.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  static float[] run(NativeModel m) {
    try (m) {
      m.setInput("p", "x", input());
      m.run("p");
      return m.output("p", "y");
    }
  }

  static float[] runJit(CpuHarness.Built b) {
    return run(new NativeModel(b.manifest(), KernelLibrary.ofAddresses(b.compiled().jit()), 2));
  }

  static CpuHarness.Built build(ObjectCache cache) {
    return CpuHarness.build(chain(), new CpuBackend(), cache);
  }

  @Test
  void secondCompileComesFromTheCacheAndComputesTheSame() throws Exception {
    CpuHarness.Built first = build(ObjectCache.at(dir));
    CpuCompiled c1 = (CpuCompiled) first.compiled();
    assertTrue(c1.unitCount() > 3, "kernels spread over several code units: " + c1.unitCount());
    assertEquals(0, c1.cachedUnits());
    float[] want = runJit(first);

    CpuHarness.Built second = build(ObjectCache.at(dir));
    CpuCompiled c2 = (CpuCompiled) second.compiled();
    assertEquals(c2.unitCount(), c2.cachedUnits(), "every unit from the cache");
    assertTrue(c2.report().contains(c2.unitCount() + " of " + c2.unitCount()), c2.report());
    assertArrayEquals(want, runJit(second));
    // The IR of cached units is still there to print (optimised on demand), and a library links.
    assertTrue(c2.text().contains("define void @p_k0"), "optimised IR of every unit");
    Path so = dir.resolve("lib.so");
    c2.writeLibrary(so);
    CpuHarness.Built third = build(ObjectCache.at(dir));
    assertArrayEquals(want, run(new NativeModel(third.manifest(), KernelLibrary.open(so), 2)));
  }

  @Test
  void damagedEntriesAreDetectedAndRebuilt() throws Exception {
    float[] want = runJit(build(ObjectCache.at(dir)));
    List<Path> entries;
    try (var s = Files.walk(dir)) {
      entries = s.filter(f -> f.toString().endsWith(".o")).toList();
    }
    assertEquals(((CpuCompiled) build(ObjectCache.at(dir)).compiled()).unitCount(), entries.size());
    for (int i = 0; i < entries.size(); i++) {
      byte[] bytes = Files.readAllBytes(entries.get(i));
      if (i % 2 == 0) {
        bytes[bytes.length - 7] ^= 0x40;                      // a flipped bit in the code
        Files.write(entries.get(i), bytes);
      } else {
        Files.write(entries.get(i), java.util.Arrays.copyOf(bytes, bytes.length / 2));   // a torn write
      }
    }
    CpuHarness.Built rebuilt = build(ObjectCache.at(dir));
    assertEquals(0, ((CpuCompiled) rebuilt.compiled()).cachedUnits(), "no damaged entry is used");
    assertArrayEquals(want, runJit(rebuilt));
    CpuCompiled again = (CpuCompiled) build(ObjectCache.at(dir)).compiled();
    assertEquals(again.unitCount(), again.cachedUnits(), "the rebuilt entries are whole again");
  }

  @Test
  void concurrentCompilesIntoOneCacheAgree() throws Exception {
    float[] want = runJit(build(ObjectCache.disabled()));
    ExecutorService pool = Executors.newFixedThreadPool(3);
    try {
      Callable<float[]> job = () -> runJit(build(ObjectCache.at(dir)));
      List<Future<float[]>> fs = pool.invokeAll(List.of(job, job, job));
      for (Future<float[]> f : fs) {
        assertArrayEquals(want, f.get());
      }
    } finally {
      pool.shutdownNow();
    }
    CpuCompiled after = (CpuCompiled) build(ObjectCache.at(dir)).compiled();
    assertEquals(after.unitCount(), after.cachedUnits());
    try (var s = Files.walk(dir)) {
      assertTrue(s.noneMatch(f -> f.getFileName().toString().startsWith(".tmp-")), "no temporary files left");
    }
  }

  @Test
  void disabledCacheWritesNothing() throws Exception {
    CpuHarness.Built b = build(ObjectCache.disabled());
    assertTrue(b.compiled().report().contains("cache off"), b.compiled().report());
    try (var s = Files.list(dir)) {
      assertEquals(0, s.count());
    }
  }

  @Test
  void keysSeparateTheirParts() {
    assertNotEquals(ObjectCache.key("ab", "c"), ObjectCache.key("a", "bc"));
    assertNotEquals(ObjectCache.key("a", "b"), ObjectCache.key("a", "c"));
    assertEquals(ObjectCache.key("a", "b"), ObjectCache.key("a", "b"));
    assertNull(ObjectCache.at(dir).get(ObjectCache.key("absent")));
  }
}
