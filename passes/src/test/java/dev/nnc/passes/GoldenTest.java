package dev.nnc.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.IrParser;
import dev.nnc.ir.IrPrinter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.kernel.KernelPrinter;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.train.OptimizerSpec;
import dev.nnc.ir.train.TrainSpec;
import dev.nnc.passes.lower.LowerToKernels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Golden tests: {@code golden/<pass>/*.ir} hold cases of input IR and the expected IR (or kernel
 * IR for {@code lower}), separated by {@code // ====}; {@code // expect: no change} says the pass
 * must leave the graph as it is. Outputs are compared after canonical renumbering (print → parse
 * → print), must re-parse (the shape rules re-verify every node), and graph-to-graph passes must
 * compute the same outputs as their input on random values.
 * Run with {@code -Dgolden.update=true} to write the expectations of new (empty) cases.
 */
class GoldenTest {
  static final Path ROOT = Path.of("src/test/resources/golden");

  record Case(Path file, String pass, String name, String input, String expected, int index) {
    @Override
    public String toString() {
      return pass + ": " + name;
    }
  }

  static Map<String, Function<Graph, String>> passes() {
    Map<String, Function<Graph, String>> m = new HashMap<>();
    m.put("cse", g -> IrPrinter.print(new CommonSubexpressionElimination().apply(g)));
    m.put("fold-constants", g -> IrPrinter.print(new FoldConstants().apply(g)));
    m.put("dce", g -> IrPrinter.print(new DeadCodeElimination().apply(g)));
    m.put("fold-conv-bn", g -> IrPrinter.print(new FoldConvBatchNorm().apply(g)));
    m.put("lower-conv", g -> IrPrinter.print(new LowerConv().apply(g)));
    m.put("fold-linear", g -> IrPrinter.print(new FoldLinear().apply(g)));
    m.put("sink-reshape", g -> IrPrinter.print(new SinkReshape().apply(g)));
    m.put("differentiate", g -> IrPrinter.print(
        TrainingGraph.build(g, TrainSpec.of(OptimizerSpec.of("sgd", Map.of("lr", 0.1))))));
    m.put("lower", g -> KernelPrinter.print(LowerToKernels.lower(g, "p")));
    // The prepare program (when there is one), then the rewritten program.
    m.put(HoistWeights.NAME, g -> {
      HoistWeights.Result r = HoistWeights.apply(Map.of("p", g));
      return (r.prepare() != null ? IrPrinter.print(r.prepare()) : "") + IrPrinter.print(r.programs().get("p"));
    });
    return m;
  }

  static Stream<Case> cases() throws IOException {
    List<Case> out = new ArrayList<>();
    try (Stream<Path> dirs = Files.list(ROOT)) {
      for (Path dir : dirs.sorted().toList()) {
        try (Stream<Path> files = Files.list(dir)) {
          for (Path f : files.filter(p -> p.toString().endsWith(".ir")).sorted().toList()) {
            String[] parts = Files.readString(f).split("// ====\n");
            for (int i = 0; i < parts.length; i++) {
              String part = parts[i];
              int e = part.indexOf("// expect:");
              String head = part.substring(0, e);
              String name = head.lines().filter(l -> l.startsWith("// case:")).findFirst().orElse("case " + i)
                  .substring(8).strip();
              String input = head.lines().filter(l -> !l.startsWith("//")).reduce("", (a, b) -> a + b + "\n");
              String expected = part.substring(e + 10);
              out.add(new Case(f, dir.getFileName().toString(), name, input, expected, i));
            }
          }
        }
      }
    }
    return out.stream();
  }

  @ParameterizedTest
  @MethodSource("cases")
  void passProducesExpectedIr(Case c) throws IOException {
    Graph in = IrParser.parse(c.input());
    String got = passes().get(c.pass()).apply(in);
    String exp = c.expected().strip();
    String want;
    if (exp.equals("no change")) {
      want = IrPrinter.print(in);
    } else if (exp.isEmpty()) {
      if (Boolean.getBoolean("golden.update")) {
        update(c, got);
        return;
      }
      fail(c + ": no expectation; run with -Dgolden.update=true and review the result");
      return;
    } else {
      String body = exp.lines().map(l -> l.startsWith("// ") ? l.substring(3) : l).reduce("", (a, b) -> a + b + "\n");
      want = textOnly(c.pass()) ? body : IrPrinter.print(IrParser.parse(body));
    }
    assertEquals(want.strip(), got.strip(), c.toString());
    if (c.pass().equals(HoistWeights.NAME)) {
      HoistWeights.Result r = HoistWeights.apply(Map.of("p", in));
      HoistWeightsTest.sameOutputs(in, r, c.toString());
    } else if (!c.pass().equals("lower")) {
      Graph out = IrParser.parse(got);
      assertEquals(got, IrPrinter.print(out), c + ": output does not round-trip");
      if (!c.pass().equals("differentiate")) {
        sameOutputs(in, out, c.toString());
      }
    }
  }

  /** Passes whose output is compared as text (kernel IR; two graphs), not re-parsed as one graph. */
  static boolean textOnly(String pass) {
    return pass.equals("lower") || pass.equals(HoistWeights.NAME);
  }

  /** Interpreter outputs of the graph before and after the pass agree on random values. */
  static void sameOutputs(Graph before, Graph after, String what) {
    Random r = new Random(7);
    Map<String, Tensor> ins = new HashMap<>();
    Map<String, Tensor> ps = new HashMap<>();
    for (Node n : before.nodes()) {
      double[] v = new double[(int) Math.max(1, n.shape().size())];
      // Token ids: integers below the smallest vocabulary that looks them up.
      int ids = n.dtype() == dev.nnc.ir.DType.I32 ? before.nodes().stream()
          .filter(u -> u.op() instanceof dev.nnc.ir.ops.Embedding && u.input(1) == n)
          .mapToInt(u -> ((dev.nnc.ir.ops.Embedding) u.op()).vocab()).min().orElse(2) : 0;
      for (int i = 0; i < v.length; i++) {
        v[i] = ids > 0 ? r.nextInt(ids) : r.nextGaussian();
      }
      if (n.op() instanceof Input in) {
        ins.put(in.name(), new Tensor(n.shape(), v));
      } else if (n.op() instanceof Param p) {
        if (p.name().endsWith("running_var")) {
          v = java.util.Arrays.stream(v).map(Math::abs).toArray();   // a variance
        }
        ps.put(p.name(), new Tensor(n.shape(), v));
      }
    }
    Interpreter.Result a = Interpreter.run(before, ins, ps);
    Interpreter.Result b = Interpreter.run(after, ins, ps);
    for (String k : a.outputs().keySet()) {
      double[] x = a.outputs().get(k).data();
      double[] y = b.outputs().get(k).data();
      for (int i = 0; i < x.length; i++) {
        assertTrue(Math.abs(x[i] - y[i]) <= 1e-12 * Math.max(1, Math.abs(x[i])), what + ": output " + k + " changed");
      }
    }
  }

  /** Writes the pass's output as the expectation of case {@code c} (commented out, as in the file). */
  private static synchronized void update(Case c, String got) throws IOException {
    String text = Files.readString(c.file());
    String[] parts = text.split("// ====\n", -1);
    String part = parts[c.index()];
    int e = part.indexOf("// expect:");
    String rest = part.substring(e + 10);
    String commented = got.strip().lines().map(l -> "// " + l).reduce("", (a, b) -> a + b + "\n");
    parts[c.index()] = part.substring(0, e) + "// expect:\n" + commented + (rest.strip().isEmpty() ? "" : rest);
    Files.writeString(c.file(), String.join("// ====\n", parts));
  }
}
