package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.ops.Param;
import dev.nnc.passes.LowerConv;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.NativeModel;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Native code of every convolution lowering (forced with {@code -Dnnc.conv}, or the cost
 * model's), at batch 1 and at a batch, equals the reference interpreter on the unlowered graph:
 * 1×1 convolutions as a plain GEMM, 3×3 through W·colsᵀ with the bias and ReLU in the GEMM's
 * epilogue, strided 1×1, and the block permute of a batch's channel-major output.
 */
class ConvLoweringJitTest {
  static final String MODEL = """
      model M {
        input x: [4, 6, 6]
        output y = x -> conv2d(8, 1) -> relu -> conv2d(6, 3, padding=1) -> relu
                     -> conv2d(5, 1, stride=2, bias=false) -> conv2d(3, [2, 1], groups=1) -> flatten -> dense(3)
      }
      """;

  /** Linear chains for fold-linear: 1×1 → 1×1 with a bias and a 1×1 expansion → 3×3 fold; dense → dense at batch 1 does not. */
  static final String FOLDABLE = """
      model F {
        input x: [32, 16, 16]
        h = x -> conv2d(64, 1) -> conv2d(8, 1) -> conv2d(48, 1, bias=false) -> conv2d(8, 3, padding=1)
        output y = h -> flatten -> dense(256) -> dense(10)
      }
      """;

  @org.junit.jupiter.api.Test
  void foldedLinearChainsMatchInterpreter() throws Exception {
    Program p = Program.parse(SourceFile.of("f.nn", FOLDABLE));
    ModelCompiler.Result res = ModelCompiler.compile(p, null, null, 1, Backend.find("cpu"));
    Elaborated e = Elaborator.elaborate(p, null, 1, LayerContext.Mode.INFER, null);
    long before = e.graph().nodes().stream().filter(n -> n.op() instanceof dev.nnc.ir.ops.Conv2d
        || n.op() instanceof dev.nnc.ir.ops.MatMul).count();
    assertEquals(6, before);
    // Folded: 1×1 pair → one, 1×1 expansion + 3×3 → one, and the dense pair → one (plus weight products).
    String ir = dev.nnc.ir.IrPrinter.print(res.graphs().get(ModelCompiler.PREDICT));
    assertTrue(ir.contains("f32[8,32,3,3]") || ir.contains("f32[8,8,3,3]"), "folded 3×3 weight:\n" + ir);
    // The 1×1 pair and the 1×1 expansion with the 3×3 fold; the dense pair does not at batch 1
    // (W₂·W₁ each run would cost ten times the two products).
    assertTrue(!ir.contains("f32[1,64,16,16]") && !ir.contains("f32[1,48,16,16]"),
        "no intermediate of a folded convolution chain is left:\n" + ir);
    assertTrue(ir.contains("f32[1,256]"), "the dense pair stays at batch 1:\n" + ir);
    compareWithInterpreter(p, res, e, 1, "fold-linear");
  }

  /** Native predict output on random input equals the interpreter on the unoptimised graph {@code e} (1e-4). */
  static void compareWithInterpreter(Program p, ModelCompiler.Result res, Elaborated e, int batch, String what)
      throws Exception {
    double[][] wantGot = run(res, e, batch, what);
    double[] want = wantGot[0];
    double[] got = wantGot[1];
    for (int i = 0; i < want.length; i++) {
      assertTrue(Math.abs(want[i] - got[i]) <= 1e-4 * Math.max(1, Math.abs(want[i])),
          what + " batch " + batch + " y[" + i + "]: reference " + want[i] + ", native " + got[i]);
    }
  }

  /** {reference, native}: the predict output on random input, of the interpreter on {@code e} and of the native code. */
  static double[][] run(ModelCompiler.Result res, Elaborated e, int batch, String what) throws Exception {
    Random r = new Random(batch * 31L + what.hashCode());
    int size = (int) e.graph().input("x").shape().size();
    float[] x = new float[size];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    float[] got;
    Map<String, Tensor> params = new HashMap<>();
    try (NativeModel m = new NativeModel(res.manifest(), KernelLibrary.ofAddresses(res.compiled().jit()), 2)) {
      m.initParams(5);
      m.setInput(ModelCompiler.PREDICT, "x", x);
      m.run(ModelCompiler.PREDICT);
      got = m.output(ModelCompiler.PREDICT, "y");
      for (Node n : e.graph().params()) {
        String name = ((Param) n.op()).name();
        float[] v = m.param(name);
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
          d[i] = v[i];
        }
        params.put(name, new Tensor(n.shape(), d));
      }
    }
    double[] xd = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      xd[i] = x[i];
    }
    double[] want = Interpreter.run(e.graph(), Map.of("x", new Tensor(e.graph().input("x").shape(), xd)), params)
        .outputs().get("y").data();
    assertEquals(want.length, got.length);
    double[] gotD = new double[got.length];
    for (int i = 0; i < got.length; i++) {
      gotD[i] = got[i];
    }
    return new double[][] {want, gotD};
  }

  /**
   * Winograd's shapes: 3×3 stride 1, padded (tiles reading the zero border) and valid, odd map
   * sizes (partial tiles at the bottom and right, for F(2×2) and F(4×4) alike), channels that
   * are not a multiple of the vector width.
   */
  static final String WINOGRAD = """
      model W {
        input x: [3, 11, 9]
        output y = x -> conv2d(8, 3, padding=1) -> relu -> conv2d(5, 3) -> relu -> flatten -> dense(3)
      }
      """;

  @ParameterizedTest(name = "nnc.conv={0}, batch {1}")
  @CsvSource({"auto, 1", "auto, 3", "im2col-rows, 1", "im2col-columns, 1", "im2col-columns, 3", "gemm-1x1, 1",
      "winograd-2, 1", "winograd-4, 1", "winograd-4, 3", "direct, 1", "direct, 3"})
  void loweringMatchesInterpreter(String lowering, int batch) throws Exception {
    lowered(lowering, batch, MODEL);
  }

  @ParameterizedTest(name = "nnc.conv={0}, batch {1}")
  @CsvSource({"winograd-2, 1", "winograd-2, 2", "winograd-4, 1", "winograd-4, 2", "auto, 2", "direct, 1", "direct, 2"})
  void winogradMatchesInterpreter(String lowering, int batch) throws Exception {
    lowered(lowering, batch, WINOGRAD);
  }

  /** One ResNet-like 3×3 layer, for the lowerings' rounding error. */
  static final String LAYER = """
      model L {
        input x: [64, 20, 20]
        output y = x -> conv2d(64, 3, padding=1, bias=false)
      }
      """;

  /**
   * The rounding error of each lowering's native f32 code against the interpreter's direct
   * convolution in f64, as the largest error over the largest output magnitude (standard normal
   * inputs, the layer's default initialisation, 576 products per output). The bounds are docs/benchmarks.md's: F(4×4)'s
   * transform constants (up to 8 and 1/24) cost about ten times F(2×2)'s precision, which is no
   * worse than im2col's.
   */
  @ParameterizedTest(name = "nnc.conv={0}: error at most {1} of max |y|")
  @CsvSource({"im2col-columns, 2e-6", "winograd-2, 2e-6", "winograd-4, 2e-5"})
  void roundingErrorWithinDocumentedBound(String lowering, double bound) throws Exception {
    withLowering(lowering, () -> {
      Program p = Program.parse(SourceFile.of("l.nn", LAYER));
      ModelCompiler.Result res = ModelCompiler.compile(p, null, null, 1, Backend.find("cpu"));
      Elaborated e = Elaborator.elaborate(p, null, 1, LayerContext.Mode.INFER, null);
      double[][] wantGot = run(res, e, 1, "rounding");       // the same input for every lowering
      double maxY = 0;
      double maxErr = 0;
      for (int i = 0; i < wantGot[0].length; i++) {
        maxY = Math.max(maxY, Math.abs(wantGot[0][i]));
        maxErr = Math.max(maxErr, Math.abs(wantGot[0][i] - wantGot[1][i]));
      }
      double rel = maxErr / maxY;
      System.out.printf("%s: largest error %.3g of max |y| %.3g = %.3g%n", lowering, maxErr, maxY, rel);
      assertTrue(rel <= bound, lowering + ": error " + rel + " of max |y| exceeds " + bound);
      assertTrue(rel > 0, "f32 code cannot equal the f64 reference exactly");
    });
  }

  /** Code that throws, run by {@link #withLowering}. */
  interface Body {
    void run() throws Exception;
  }

  /** Runs {@code body} with {@code -Dnnc.conv=lowering}, then restores the property as it was. */
  static void withLowering(String lowering, Body body) throws Exception {
    String old = System.getProperty(LowerConv.PROPERTY);
    System.setProperty(LowerConv.PROPERTY, lowering);
    try {
      body.run();
    } finally {
      if (old == null) {
        System.clearProperty(LowerConv.PROPERTY);
      } else {
        System.setProperty(LowerConv.PROPERTY, old);
      }
    }
  }

  private static void lowered(String lowering, int batch, String model) throws Exception {
    withLowering(lowering, () -> {
      Program p = Program.parse(SourceFile.of("m.nn", model));
      ModelCompiler.Result res = ModelCompiler.compile(p, null, null, batch, Backend.find("cpu"));
      Elaborated e = Elaborator.elaborate(p, null, batch, LayerContext.Mode.INFER, null);
      compareWithInterpreter(p, res, e, batch, lowering);
    });
  }
}
