package dev.nnc.codegen.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelTemplate;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import dev.nnc.passes.lower.LowerToKernels;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Kernels that differ only in their buffers share one compiled body: a chain of identical layers
 * compiles one body per distinct kernel, each kernel's symbol calls it with its own buffers, and
 * the result equals the reference interpreter's (a wrapper passing another layer's offsets, or a
 * body reading a constant offset, would not).
 */
class KernelSharingTest {
  static final int LAYERS = 8;
  static final Shape X = Shape.of(6, 37);
  static final Shape W = Shape.of(37, 37);

  /** {@code h = softmax(tanh(h·w_i + x))} for eight weights w_i: eight copies of the same kernels. */
  static Graph chain() {
    Graph.Builder b = Graph.builder("m");
    Node x = b.addTyped(new Input("x"), List.of(), TensorType.f32(X));
    Node h = x;
    for (int i = 0; i < LAYERS; i++) {
      Node w = b.addTyped(new Input("w" + i), List.of(), TensorType.f32(W));
      h = b.add(new Softmax(), b.add(new Unary(UnaryFn.TANH, 0), Ops.add(b, b.add(new MatMul(false, false), h, w), x)));
    }
    b.output("y", h);
    return b.build();
  }

  static Map<String, float[]> inputs() {
    Random r = new Random(11);
    Map<String, float[]> in = new HashMap<>();
    in.put("x", gaussian(r, (int) X.size()));
    for (int i = 0; i < LAYERS; i++) {
      in.put("w" + i, gaussian(r, (int) W.size()));
    }
    return in;
  }

  static float[] gaussian(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (r.nextGaussian() * 2);
    }
    return v;
  }

  @Test
  void identicalLayersShareBodiesAndComputeTheReference() {
    Graph g = chain();
    List<Kernel> kernels = LowerToKernels.lower(g, "p").kernels();
    Map<Kernel, Integer> instances = new HashMap<>();
    for (Kernel k : kernels) {
      instances.merge(KernelTemplate.of(k).kernel(), 1, Integer::sum);
    }
    Set<Kernel> templates = instances.keySet();
    assertTrue(templates.size() * 3 <= kernels.size(),
        "the layers' kernels are copies: " + templates.size() + " templates for " + kernels.size() + " kernels");
    List<Kernel> shared = templates.stream().filter(t -> instances.get(t) > 1).toList();
    assertTrue(shared.size() < templates.size(), "the first layer (it adds its own input) is a kernel of its own");

    CpuHarness.Built built = CpuHarness.build(g, new CpuBackend(), ObjectCache.disabled());
    CpuCompiled c = (CpuCompiled) built.compiled();
    assertEquals(templates.size(), c.bodies(), c.report());
    assertTrue(c.report().contains(templates.size() + " distinct kernel bodies"), c.report());
    String ir = c.text();
    // Every shared body is defined once; a template with one instance is compiled as that kernel.
    Matcher m = Pattern.compile("define internal [^@\n]*@(\\w+_body\\w*)\\(").matcher(ir);
    Set<String> bodies = new HashSet<>();
    while (m.find()) {
      assertTrue(bodies.add(m.group(1)), "body " + m.group(1) + " defined once");
    }
    int gemms = (int) shared.stream().filter(k -> k instanceof Kernel.Gemm).count();
    // A GEMM body is its compute function and the packing of each operand it does not read in
    // place (here [6,37]·[37,37]: both are read in place).
    GemmEmitter.Tiling t = GemmEmitter.Tiling.forHost(Llvm.host()).narrowedTo(W.dim(1));
    GemmEmitter.Blocking blocking = new CpuBackend().blocking(Llvm.host());
    int perGemm = 1 + (GemmEmitter.readsAInPlace(blocking, X.dim(0), W.dim(1), W.dim(0), false, 1) ? 0 : 1)
        + (GemmEmitter.readsBInPlace(X.dim(0), W.dim(1), false, t) ? 0 : 1);
    assertEquals(shared.size() + (perGemm - 1) * gemms, bodies.size(), "bodies in the IR: " + bodies + "\n"
        + String.join("\n", ir.lines().filter(l -> l.startsWith("define")).toList()));
    for (var call : built.manifest().program("p").calls()) {
      assertTrue(ir.contains("define void @" + call.symbol() + "("), "kernel " + call.symbol());
    }
    // Each copy of a shared kernel is a wrapper: one call of its body per function.
    long copies = shared.stream().mapToLong(k -> instances.get(k) * (k instanceof Kernel.Gemm ? perGemm : 1L)).sum();
    assertEquals(copies, ir.lines().filter(l -> l.contains("call") && l.matches(".*@\\w+_body\\w*\\(.*")).count(),
        "calls of shared bodies");

    ElementwiseJitTest.check(new dev.nnc.runtime.NativeModel(built.manifest(),
        dev.nnc.runtime.KernelLibrary.ofAddresses(built.compiled().jit()), 2), g, inputs(), "shared layers");
  }

  @Test
  void sharedBodiesLinkIntoALibrary() throws Exception {
    java.nio.file.Path so = java.nio.file.Files.createTempFile("sharing", ".so");
    so.toFile().deleteOnExit();
    try {
      ElementwiseJitTest.check(CpuHarness.compileLibrary(chain(), 2, so), chain(), inputs(), "shared layers, library");
    } finally {
      java.nio.file.Files.deleteIfExists(so);
    }
  }
}
