package dev.nnc.passes.lower;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Interpreter;
import dev.nnc.ir.Node;
import dev.nnc.ir.Tensor;
import dev.nnc.ir.kernel.Buffer;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.ir.kernel.KernelInterpreter;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.train.OptimizerSpec;
import dev.nnc.passes.Pipeline;
import dev.nnc.passes.TrainingGraph;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The lowering (fusion decisions, in-place updates, memory plan with shared buffers) preserves
 * meaning: kernel IR run by the kernel interpreter, in f32, with every buffer at its planned
 * offset in one arena, equals the graph interpreter for whole training steps.
 */
class LoweringTest {
  /**
   * Winograd transforms keep their description (Kernel.TileTransform) through the lowering
   * stages: an output transform and an input transform of the same loop extents are not merged
   * into one nest (which would drop both descriptions and run as the nest), and each names its
   * image and tile buffers.
   */
  @org.junit.jupiter.api.Test
  void winogradTransformsKeepTheirDescriptions() {
    Graph.Builder b = Graph.builder("g");
    Node m = b.addTyped(new Input("m"), java.util.List.of(), dev.nnc.ir.TensorType.f32(dev.nnc.ir.Shape.of(16, 2, 4)));
    Node z = b.addTyped(new Input("z"), java.util.List.of(), dev.nnc.ir.TensorType.f32(dev.nnc.ir.Shape.of(1, 2, 4, 4)));
    dev.nnc.ir.ops.Winograd out = new dev.nnc.ir.ops.Winograd(false, dev.nnc.ir.ops.Winograd.Matrix.AT2, false, 2, 0, 0, 2, 2, 4, 4);
    b.output("y", b.add(out, m));
    b.output("v", b.add(out.adjoint(), z));
    KernelProgram kp = LowerToKernels.lower(b.build(), "p");
    assertTrue(kp.kernels().size() == 2, kp.kernels().toString());
    for (Kernel k : kp.kernels()) {
      Kernel.TileTransform t = ((Kernel.Loops) k).transform();
      assertTrue(t != null, "no description: " + k.name());
      String image = t.op().toTiles() ? "z" : "y";
      assertTrue(kp.buffers().get(t.image()).name().contains(image) || kp.outputs().containsKey(image), k.name());
    }
    assertTrue(dev.nnc.ir.kernel.KernelVerifier.problems(kp).isEmpty(), dev.nnc.ir.kernel.KernelVerifier.problems(kp).toString());
  }

  @ParameterizedTest
  @ValueSource(strings = {"adam", "sgd(momentum=0.9)", "nadam", "adamax", "rmsprop(momentum=0.3)"})
  void trainingStepThroughKernelsMatchesGraph(String optimizer) throws Exception {
    Path csv = Files.createTempFile("l", ".csv");
    csv.toFile().deleteOnExit();
    Files.writeString(csv, "a,b,c,d,e,f,y\n");
    String text = MLP.formatted(csv.toString().replace("\\", "/"), optimizer);
    stepMatches(text, optimizer, true);
  }

  /** Padded, strided and dilated convolutions and pooling: predicated loads and the backward scatter. */
  @ParameterizedTest
  @ValueSource(strings = {"adam", "sgd(momentum=0.9)"})
  void convolutionalTrainingStepThroughKernelsMatchesGraph(String optimizer) throws Exception {
    Path csv = Files.createTempFile("l", ".csv");
    csv.toFile().deleteOnExit();
    StringBuilder header = new StringBuilder();
    for (int i = 0; i < 48; i++) {
      header.append('c').append(i).append(',');
    }
    Files.writeString(csv, header + "y\n");
    String text = """
        model M {
          input x: [48]
          h = x -> reshape([3, 4, 4])
                -> conv2d(4, 3, padding=same, bias=false) -> batchnorm -> relu
          a = h -> conv2d(2, 3, padding=1, groups=2)
          b = h -> conv2d(3, 3, padding=2, dilation=2)
          h = concat(a, b) -> maxpool(3, stride=2, padding=1) -> upsample(2) -> zeropad([1, 0, 0, 1])
                -> avgpool(2, stride=1, padding=1)
                -> conv2d(5, [2, 3], stride=[1, 2], padding=[1, 1]) -> tanh
          output y = h -> flatten -> dense(4)
        }
        train M {
          data = csv("%s", label="y")
          loss = cross_entropy(y, label)
          optimizer = %s
          batch = 5
        }
        """.formatted(csv.toString().replace("\\", "/"), optimizer);
    stepMatches(text, optimizer, false);
  }

  /** Token ids through an embedding, repeated within a batch: the scatter-add gradient feeds Adam. */
  @ParameterizedTest
  @ValueSource(strings = {"adam", "sgd(momentum=0.9)"})
  void embeddingTrainingStepThroughKernelsMatchesGraph(String optimizer) throws Exception {
    Path csv = Files.createTempFile("l", ".csv");
    csv.toFile().deleteOnExit();
    Files.writeString(csv, "c0,c1,c2,c3,c4,c5,y\n");
    String text = """
        model M {
          input x: int[6]
          h = x -> embedding(5, 3)
          output y = h -> flatten -> dense(4)
        }
        train M {
          data = csv("%s", label="y")
          loss = cross_entropy(y, label)
          optimizer = %s
          batch = 5
        }
        """.formatted(csv.toString().replace("\\", "/"), optimizer);
    stepMatches(text, optimizer, false);
  }

  /**
   * Recurrent layers through their loops of kernels: a training step (forward loop, backward
   * loop through time, Adam) equals the graph interpreter's, for each cell, reversed and stacked
   * directions, and lengths (masking; ids in [0, 4) make some lengths 0 and all shorter than 6);
   * and a wider layer (32 units: gate gradients 128 columns wide).
   */
  @ParameterizedTest
  @ValueSource(strings = {"lstm(4)", "gru(4, return_sequences=true) -> flatten", "simple_rnn(3, layers=2, dropout=0.2)",
      "lstm(3, bidirectional=true, return_sequences=true) -> flatten", "gru(x2, len, 3, bidirectional=true)",
      "lstm(x2, len, 4, layers=2)", "simple_rnn(x2, len, 2, return_sequences=true) -> flatten",
      "lstm(32, return_sequences=true) -> flatten"})
  void recurrentTrainingStepThroughKernelsMatchesGraph(String layer) throws Exception {
    stepMatches(recurrentModel(layer.contains("x2,") ? layer : "x2 -> " + layer), "adam", false);
  }

  /**
   * A model of token ids (and lengths {@code len}) through an embedding {@code x2}, then {@code
   * layer} (an expression of x2), then a dense layer, trained with Adam on an empty CSV (the
   * tests feed their own inputs).
   */
  private static String recurrentModel(String layer) throws java.io.IOException {
    Path csv = Files.createTempFile("l", ".csv");
    csv.toFile().deleteOnExit();
    Files.writeString(csv, "c0,c1,c2,c3,c4,c5,y\n");
    return """
        model M {
          input x: int[6]
          input len: int[1]
          x2 = x -> embedding(5, 3)
          h = %s
          output y = h -> dense(4)
        }
        train M {
          data = csv("%s", label="y")
          loss = cross_entropy(y, label)
          optimizer = adam
          batch = 5
        }
        """.formatted(layer, csv.toString().replace("\\", "/"));
  }

  /**
   * A layer returning its sequences gets a trace gradient that is the outputs' gradient beside
   * blocks of zeros (the other state slots, the initial row): the backward loop reads the outputs'
   * gradient where it is and the zeros as zeros, so no kernel stores the concatenation (or reads
   * it), stacked layers included; the training step still equals the graph interpreter's.
   */
  @ParameterizedTest
  @ValueSource(strings = {"x2 -> lstm(4, return_sequences=true) -> flatten",
      "x2 -> gru(4, return_sequences=true) -> flatten", "x2 -> simple_rnn(3, return_sequences=true) -> flatten",
      "x2 -> lstm(3, layers=2, return_sequences=true) -> flatten",
      "lstm(x2, len, 4, return_sequences=true) -> flatten"})
  void traceGradientsAreReadThroughTheirBlocksOfZeros(String layer) throws Exception {
    String text = recurrentModel(layer);
    Graph g = trainingGraph(text);
    long recurrenceGrads = g.nodes().stream().filter(n -> n.op() instanceof dev.nnc.ir.ops.RecurrenceGrad).count();
    assertTrue(recurrenceGrads >= 1, layer + ": a recurrence gradient");
    KernelProgram kp = LowerToKernels.lower(g, "train");
    java.util.List<String> concats = kp.kernels().stream().map(Kernel::name).filter(n -> n.endsWith("_concat")).toList();
    assertTrue(concats.isEmpty(), layer + ": no trace gradient stored, got " + concats);
    stepMatches(text, "adam", false);
  }

  /**
   * A recurrence's gradient is read only by slices (the loop's rows for the weights' products;
   * the initial row for initial states computed by the model): the loops store each slot's rows
   * straight into the slice that holds them, and nowhere when none does, so the gradient itself
   * has no buffer and no kernel copies a slice of it; the training step still equals the graph
   * interpreter's. Both directions, masked, stacked and every cell.
   */
  @ParameterizedTest
  @ValueSource(strings = {"x2 -> lstm(4, return_sequences=true) -> flatten", "x2 -> gru(4) -> flatten",
      "x2 -> simple_rnn(3, return_sequences=true) -> flatten",
      "x2 -> lstm(3, layers=2, return_sequences=true) -> flatten",
      "lstm(x2, len, 4, return_sequences=true) -> flatten", "gru(x2, len, 4, bidirectional=true) -> flatten",
      "x2 -> lstm(3, bidirectional=true, return_sequences=true) -> flatten",
      "lstm(x2, x2 -> flatten -> dense(4), x2 -> flatten -> dense(4), 4, return_sequences=true) -> flatten",
      "gru(x2, x2 -> flatten -> dense(6), 3, bidirectional=true) -> flatten"})
  void recurrenceGradientsAreWrittenIntoTheirSlices(String layer) throws Exception {
    String text = recurrentModel(layer);
    Graph g = trainingGraph(text);
    java.util.Set<String> grads = new java.util.TreeSet<>();
    g.nodes().stream().filter(n -> n.op() instanceof dev.nnc.ir.ops.RecurrenceGrad)
        .forEach(n -> grads.add("t" + n.id()));
    assertTrue(!grads.isEmpty(), layer + ": a recurrence gradient");
    KernelProgram kp = LowerToKernels.lower(g, "train");
    java.util.List<String> stored = kp.buffers().stream().map(Buffer::name).filter(grads::contains).toList();
    assertTrue(stored.isEmpty(), layer + ": no recurrence gradient stored, got " + stored);
    stepMatches(text, "adam", false);
  }

  /**
   * A first recurrent layer over embedded tokens: {@code fold-linear} turns its input projection
   * into a lookup of the mapped table (5 rows instead of the 30 looked up), and the loop reads
   * each step's projections from that table at the token's row, so the lookup has no buffer of
   * its own and no GEMM runs over the sequence's rows; the training step still equals the graph
   * interpreter's (which runs the unfolded projection's algebra on the folded graph).
   */
  @ParameterizedTest
  @ValueSource(strings = {"x2 -> lstm(4, return_sequences=true) -> flatten", "x2 -> gru(4) -> flatten",
      "lstm(x2, len, 4, return_sequences=true) -> flatten", "x2 -> simple_rnn(3, bidirectional=true) -> flatten",
      "x2 -> lstm(3, layers=2, return_sequences=true) -> flatten"})
  void embeddedProjectionsAreReadFromTheMappedTable(String layer) throws Exception {
    String text = recurrentModel(layer);
    Graph g = trainingGraph(text);
    java.util.List<Node> lookups = new java.util.ArrayList<>();
    for (Node n : g.nodes()) {
      if (n.op() instanceof dev.nnc.ir.ops.Recurrence) {
        Node x = n.input(0);
        while (x.op() instanceof dev.nnc.ir.ops.Reshape) {
          x = x.input(0);
        }
        if (x.op() instanceof dev.nnc.ir.ops.Embedding) {
          lookups.add(x);
        }
      }
    }
    assertTrue(!lookups.isEmpty(), layer + ": a recurrence reading a lookup of the mapped table");
    KernelProgram kp = LowerToKernels.lower(g, "train");
    for (Node l : lookups) {
      assertTrue(l.input(0).shape().dim(0) == 5,
          layer + ": a table of the 5-token vocabulary, got " + l.input(0).shape());
      assertTrue(kp.buffers().stream().noneMatch(b -> b.name().equals("t" + l.id())),
          layer + ": the lookup is not stored");
    }
    stepMatches(text, "adam", false);
  }

  /**
   * The backward pass of that first layer goes through the table too: its input weights' and
   * the embedding's gradients are products with the table's gradient {@code embedding_grad(dG,
   * ids)} (5 rows instead of 30), the bias's the sums of its rows, so no product reads the
   * looked-up rows and they are not computed at all; the weights after an Adam step equal those
   * of the same graph optimised without {@code fold-linear} (the interpreter on both).
   */
  @ParameterizedTest
  @ValueSource(strings = {"x2 -> lstm(4, return_sequences=true) -> flatten", "x2 -> gru(4) -> flatten",
      "lstm(x2, len, 4, return_sequences=true) -> flatten", "x2 -> simple_rnn(3, bidirectional=true) -> flatten"})
  void lookupGradientsGoThroughTheTablesGradient(String layer) throws Exception {
    String text = recurrentModel(layer);
    Program p = Program.parse(SourceFile.of("m.nn", text));
    Recipe r = Elaborator.recipe(p, null);
    Elaborated e = Elaborator.elaborate(p, null, 5, LayerContext.Mode.TRAIN, r);
    Graph raw = TrainingGraph.build(e.graph(), r.trainSpec());
    Graph folded = Pipeline.canonical().run(raw, null);
    Graph unfolded = new Pipeline(Pipeline.canonical().passes().stream()
        .filter(pass -> !pass.name().equals("fold-linear")).toList()).run(raw, null);
    int tables = 0;
    for (Node n : folded.nodes()) {
      assertTrue(!(n.op() instanceof dev.nnc.ir.ops.Embedding && n.input(0).op() instanceof Param),
          layer + ": the embedding's own rows are not looked up: " + n);
      if (n.op() instanceof dev.nnc.ir.ops.EmbeddingGrad) {
        Node dy = n.input(0);
        while (dy.op() instanceof dev.nnc.ir.ops.Reshape) {
          dy = dy.input(0);
        }
        // The embedding's own gradient scatters dx = dG·W_ih (or a sum of them); the table's scatters dG.
        if (!(dy.op() instanceof dev.nnc.ir.ops.MatMul) && !(dy.op() instanceof dev.nnc.ir.ops.Binary)) {
          tables++;
        }
      }
    }
    assertTrue(tables >= 1, layer + ": the gradient of the mapped table, a scatter of the gates' gradient");
    Random rnd = new Random(7);
    Map<String, Tensor> ins = new HashMap<>();
    Map<String, Tensor> ps = new HashMap<>();
    for (Node n : raw.nodes()) {
      double[] v = randomValues(n, rnd);
      if (n.op() instanceof Input in) {
        ins.put(in.name(), new Tensor(n.shape(), v));
      } else if (n.op() instanceof Param pp) {
        ps.put(pp.name(), new Tensor(n.shape(), v));
      }
    }
    Interpreter.Result want = Interpreter.run(unfolded, ins, ps);
    Interpreter.Result got = Interpreter.run(folded, ins, ps);
    assertTrue(want.updates().keySet().equals(got.updates().keySet()), layer + ": the same weights updated");
    for (Map.Entry<String, Tensor> u : want.updates().entrySet()) {
      double[] w = u.getValue().data();
      double[] g = got.updates().get(u.getKey()).data();
      for (int i = 0; i < w.length; i++) {
        assertTrue(Math.abs(w[i] - g[i]) <= 1e-9 + 1e-7 * Math.abs(w[i]),
            layer + ": " + u.getKey() + "[" + i + "] unfolded " + w[i] + ", folded " + g[i]);
      }
    }
  }

  /**
   * The trace slots a forward step stores are those something reads other than the slices the
   * step stores into itself (the outputs, and the previous states for {@code dW_hh}): training an
   * LSTM (its backward loop reads c and the gates) stores slots 2 on, its outputs and previous
   * states going straight to their slices, masked or not; a GRU's backward loop reads h too; at
   * inference the trace holds nothing when the outputs are every step's, and h when a last
   * state is sliced from it. The step also stores one slice per fed output or previous state.
   */
  @ParameterizedTest
  @ValueSource(strings = {"train:x2 -> lstm(4, return_sequences=true):2,3,4,5,6:2",
      "train:lstm(x2, len, 4, return_sequences=true):2,3,4,5,6:2",
      "predict:x2 -> lstm(4, return_sequences=true)::1", "predict:lstm(x2, len, 4, return_sequences=true)::1",
      "predict:x2 -> lstm(4):0:0", "train:x2 -> gru(4, return_sequences=true):0,2,3,4,5:2"})
  void forwardStepsStoreTheTraceSlotsThatAreRead(String c) throws Exception {
    String[] parts = c.split(":", -1);
    String text = recurrentModel(parts[1] + " -> flatten");
    Program p = Program.parse(SourceFile.of("m.nn", text));
    Recipe r = Elaborator.recipe(p, null);
    boolean train = parts[0].equals("train");
    Elaborated e = Elaborator.elaborate(p, null, 5, train ? LayerContext.Mode.TRAIN : LayerContext.Mode.INFER, r);
    Graph g = train ? Pipeline.canonical().run(TrainingGraph.build(e.graph(), r.trainSpec()), null)
        : Pipeline.canonical().run(e.graph(), null);
    KernelProgram kp = LowerToKernels.lower(g, parts[0]);
    Node rec = g.nodes().stream().filter(n -> n.op() instanceof dev.nnc.ir.ops.Recurrence).findFirst().orElseThrow();
    int trace = kp.buffers().stream().filter(b -> b.name().equals("t" + rec.id())).findFirst().orElseThrow().id();
    java.util.TreeSet<Long> slots = new java.util.TreeSet<>();
    java.util.List<Integer> fed = new java.util.ArrayList<>();
    int loops = 0;
    for (Kernel k : kp.kernels()) {
      if (k instanceof Kernel.Steps st && st.body().stream().anyMatch(b -> b.name().endsWith("_cell"))) {
        loops++;
        for (Kernel b : st.body()) {
          if (b instanceof Kernel.Loops l && l.name().endsWith("_cell")) {
            collectTraceSlots(l.root(), 4, trace, slots, fed);
          }
        }
      }
    }
    assertTrue(loops == 1, c + ": one forward loop, got " + loops);
    String got = slots.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(","));
    org.junit.jupiter.api.Assertions.assertEquals(parts[2], got, c);
    org.junit.jupiter.api.Assertions.assertEquals(Integer.parseInt(parts[3]), fed.size(), c + ": slices fed " + fed);
    java.util.List<String> copies = kp.kernels().stream().map(Kernel::name).filter(n -> n.endsWith("_slice")).toList();
    if (!parts[3].equals("0")) {
      assertTrue(copies.isEmpty(), c + ": no slice copied, got " + copies);
    }
    if (train) {
      stepMatches(text, "adam", false);
    }
  }

  /**
   * The slots (of {@code hid} values) of the row stores into buffer {@code trace} under {@code s},
   * and the other buffers it stores rows into (the fed slices).
   */
  private static void collectTraceSlots(dev.nnc.ir.kernel.KStmt s, int hid, int trace, java.util.Set<Long> out,
      java.util.List<Integer> fed) {
    switch (s) {
      case dev.nnc.ir.kernel.KStmt.Loop l -> l.body().forEach(b -> collectTraceSlots(b, hid, trace, out, fed));
      case dev.nnc.ir.kernel.KStmt.Store st -> {
        if (st.row() != null && st.buf() == trace) {
          out.add(st.index().base() / hid);
        } else if (st.row() != null) {
          fed.add(st.buf());
        }
      }
      case dev.nnc.ir.kernel.KStmt.Assign a -> { }
    }
  }

  static final String MLP = """
        model M {
          input x: [6]
          h = x -> dense(9) -> relu -> dropout(0.3) -> dense(7) -> gelu
          s = h -> dense(7, bias=false) -> sigmoid
          output y = (h * s + h) -> dense(4) -> softmax
        }
        train M {
          data = csv("%s", label="y")
          loss = cross_entropy(y, label)
          optimizer = %s
          l2 = 0.001
          clip_norm = 1.0
          batch = 5
        }
        """;

  /** The training graph of model text {@code text} at batch 5, after the canonical passes. */
  private static Graph trainingGraph(String text) throws Exception {
    Program p = Program.parse(SourceFile.of("m.nn", text));
    Recipe r = Elaborator.recipe(p, null);
    Elaborated e = Elaborator.elaborate(p, null, 5, LayerContext.Mode.TRAIN, r);
    return Pipeline.canonical().run(TrainingGraph.build(e.graph(), r.trainSpec()), null);
  }

  /**
   * Values for node {@code n} of a training graph: labels and token ids (embedding(5, …) in these
   * models) integers in [0, 4), the step counter 3, optimizer state small and positive, the rest
   * Gaussian.
   */
  private static double[] randomValues(Node n, Random rnd) {
    double[] v = new double[(int) Math.max(1, n.shape().size())];
    for (int i = 0; i < v.length; i++) {
      v[i] = n.op() instanceof Input && n.dtype() == dev.nnc.ir.DType.I32 ? rnd.nextInt(4)
          : n.op() instanceof Param pp && pp.name().equals("step") ? 3
          : n.op() instanceof Param pp2 && pp2.role() == Param.Role.STATE ? Math.abs(rnd.nextGaussian()) * 0.01
          : rnd.nextGaussian() * 0.5;
    }
    return v;
  }

  static void stepMatches(String text, String optimizer, boolean fusedUpdates) throws Exception {
    Program p = Program.parse(SourceFile.of("m.nn", text));
    Recipe r = Elaborator.recipe(p, null);
    Elaborated e = Elaborator.elaborate(p, null, 5, LayerContext.Mode.TRAIN, r);
    Graph g = Pipeline.canonical().run(TrainingGraph.build(e.graph(), r.trainSpec()), null);
    KernelProgram kp = LowerToKernels.lower(g, "train");
    Map<String, Long> paramOffsets = new LinkedHashMap<>();
    long cursor = 0;
    for (Buffer b : kp.buffers()) {
      if (b.kind() == Buffer.Kind.PARAM) {
        paramOffsets.put(b.name(), cursor);
        cursor += b.size();
      }
    }
    MemoryPlan plan = MemoryPlan.plan(kp, paramOffsets, cursor);
    float[] arena = new float[(int) plan.regionEnd()];
    Random rnd = new Random(3);
    Map<String, Tensor> ins = new HashMap<>();
    Map<String, Tensor> ps = new HashMap<>();
    for (Node n : g.nodes()) {
      double[] v = randomValues(n, rnd);
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) v[i];
      }
      Integer buf = null;
      if (n.op() instanceof Input in) {
        ins.put(in.name(), new Tensor(n.shape(), v));
        buf = kp.inputs().get(in.name());
      } else if (n.op() instanceof Param pp) {
        ps.put(pp.name(), new Tensor(n.shape(), v));
        buf = kp.params().get(pp.name());
      }
      if (buf != null) {
        for (int i = 0; i < v.length; i++) {
          arena[(int) plan.offset(buf) + i] = (float) v[i];
        }
      }
    }
    Interpreter.Result want = Interpreter.run(g, ins, ps);
    KernelInterpreter ki = new KernelInterpreter(arena, plan.offsets());
    for (Kernel k : kp.kernels()) {
      ki.run(k);
    }
    double loss = want.outputs().get("loss").get(0);
    float gotLoss = arena[(int) plan.offset(kp.outputs().get("loss").buffer())];
    assertTrue(Math.abs(loss - gotLoss) <= 1e-4 * Math.max(1, Math.abs(loss)), optimizer + ": loss " + loss + " vs " + gotLoss);
    for (Map.Entry<String, Tensor> u : want.updates().entrySet()) {
      long off = plan.offset(kp.params().get(u.getKey()));
      double[] w = u.getValue().data();
      for (int i = 0; i < w.length; i++) {
        float got = arena[(int) off + i];
        assertTrue(Math.abs(w[i] - got) <= 1e-4 + 1e-3 * Math.abs(w[i]),
            optimizer + ": " + u.getKey() + "[" + i + "] graph " + w[i] + " kernels " + got);
      }
    }
    assertTrue(OptimizerSpec.names().contains(optimizer.replaceAll("\\(.*", "")));
    if (!fusedUpdates) {
      return;
    }

    // Each weight's update and its optimizer state's are one fused pass over the weight: the
    // optimizer's scalars (bias corrections) are computed before, not between, them.
    for (String w : kp.params().keySet()) {
      if (!w.contains(".weight") || w.contains(".weight.")) {
        continue;
      }
      java.util.Set<String> writers = new java.util.TreeSet<>();
      for (Kernel k : kp.kernels()) {
        if (k instanceof Kernel.Loops l) {
          dev.nnc.ir.kernel.KernelWalk.forEachStmt(l.root(), st -> {
            if (st instanceof dev.nnc.ir.kernel.KStmt.Store store) {
              String name = kp.buffers().get(store.buf()).name();
              if (name.equals(w) || name.startsWith(w + ".")) {
                writers.add(l.name());
              }
            }
          });
        }
      }
      assertTrue(writers.size() == 1, optimizer + ": " + w + " and its state are updated by " + writers);
    }
  }
}
