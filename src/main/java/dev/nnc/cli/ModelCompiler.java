package dev.nnc.cli;

import dev.nnc.frontend.CompileException;
import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.LayerContext;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.kernel.Buffer;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Param;
import dev.nnc.passes.Pipeline;
import dev.nnc.passes.TrainingGraph;
import dev.nnc.passes.backend.Backend;
import dev.nnc.passes.backend.Compiled;
import dev.nnc.passes.backend.NativeCall;
import dev.nnc.passes.backend.PlannedProgram;
import dev.nnc.passes.lower.LowerToKernels;
import dev.nnc.passes.lower.MemoryPlan;
import dev.nnc.runtime.Manifest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * The whole compiler for one model: elaborates its programs (train step, eval, predict), runs
 * the pass pipeline, lowers to kernels, lays out one arena shared by all programs (parameters
 * first, then the largest program's working space), and compiles with a back end.
 */
public final class ModelCompiler {
  public static final String TRAIN = "train";
  public static final String EVAL = "eval";
  public static final String PREDICT = "predict";
  /** Tensors derived from the weights alone, computed once per weight change ({@code hoist-weights}). */
  public static final String PREPARE = dev.nnc.passes.HoistWeights.PROGRAM;

  /**
   * The step program of a model with (unidirectional) recurrent layers: one element of each
   * sequence, each state read from input {@code <layer>.h0} / {@code .c0} and given back as output
   * {@code <layer>.h} / {@code .c} (see {@code Elaborator.elaborateStep}).
   */
  public static final String STEP = "step";

  /** The compiled model and what was built on the way. */
  public record Result(Manifest manifest, Compiled compiled, Map<String, Graph> graphs,
      Map<String, KernelProgram> kernels, Elaborated forward) {}

  private ModelCompiler() {}

  /** The graphs of each program after the pipeline (no code generation). */
  public static Map<String, Graph> graphs(Program prog, String model, Recipe recipe, int batch,
      BiConsumer<String, Graph> after) throws CompileException {
    return elaborate(prog, model, recipe, batch, after).graphs();
  }

  /** The optimised graphs by program, and the elaborated inference model (layers, outputs). */
  private record Elaboration(Map<String, Graph> graphs, Elaborated forward) {}

  private static Elaboration elaborate(Program prog, String model, Recipe recipe, int batch,
      BiConsumer<String, Graph> after) throws CompileException {
    Map<String, Graph> graphs = new LinkedHashMap<>();
    if (recipe != null) {
      Elaborated train = Elaborator.elaborate(prog, model, batch, LayerContext.Mode.TRAIN, recipe);
      notify(after, TRAIN, "elaborate", train.graph());
      Graph tg = TrainingGraph.build(train.graph(), recipe.trainSpec());
      notify(after, TRAIN, "differentiate", tg);
      graphs.put(TRAIN, Pipeline.canonical().run(tg, (p, g) -> notify(after, TRAIN, p, g)));
      Elaborated eval = Elaborator.elaborate(prog, model, batch, LayerContext.Mode.INFER, recipe);
      notify(after, EVAL, "elaborate", eval.graph());
      graphs.put(EVAL, Pipeline.canonical().run(eval.graph(), (p, g) -> notify(after, EVAL, p, g)));
    }
    Elaborated pred = Elaborator.elaborate(prog, model, batch, LayerContext.Mode.INFER, null);
    notify(after, PREDICT, "elaborate", pred.graph());
    graphs.put(PREDICT, Pipeline.canonical().run(pred.graph(), (p, g) -> notify(after, PREDICT, p, g)));
    // A model with recurrent layers also runs one step at a time, carrying its state (generation).
    Elaborated step = steppable(prog, model, batch, pred);
    if (step != null) {
      notify(after, STEP, "elaborate", step.graph());
      graphs.put(STEP, Pipeline.canonical().run(step.graph(), (p, g) -> notify(after, STEP, p, g)));
    }
    // What the inference programs compute from the weights alone moves into the prepare program.
    Map<String, Graph> inference = new LinkedHashMap<>();
    for (String name : List.of(EVAL, PREDICT, STEP)) {
      if (graphs.containsKey(name)) {
        inference.put(name, graphs.get(name));
      }
    }
    dev.nnc.passes.HoistWeights.Result hoisted = dev.nnc.passes.HoistWeights.apply(inference);
    if (graphs.containsKey(TRAIN)) {
      // A training step changes its weights: nothing of it is hoisted (the stage leaves it as it is).
      notify(after, TRAIN, dev.nnc.passes.HoistWeights.NAME, graphs.get(TRAIN));
    }
    hoisted.programs().forEach((name, g) -> {
      graphs.put(name, g);
      notify(after, name, dev.nnc.passes.HoistWeights.NAME, g);
    });
    if (hoisted.prepare() != null) {
      graphs.put(PREPARE, hoisted.prepare());
      notify(after, PREPARE, dev.nnc.passes.HoistWeights.NAME, hoisted.prepare());
    }
    return new Elaboration(graphs, pred);
  }

  /**
   * The model as a step program, or null: when it has no recurrent layer, when one is
   * bidirectional, or when its layers do not elaborate on one element of each sequence (a reshape
   * to the whole sequence's size, say) — the model then simply has no step program.
   */
  private static Elaborated steppable(Program prog, String model, int batch, Elaborated pred) {
    if (pred.layers().stream().noneMatch(l -> RECURRENT.contains(l.kind()))) {
      return null;
    }
    try {
      Elaborated step = Elaborator.elaborateStep(prog, model, batch);
      return step.step().steppable() ? step : null;
    } catch (CompileException e) {
      return null;
    }
  }

  /** The layers that carry a state from step to step. */
  private static final java.util.Set<String> RECURRENT = java.util.Set.of("lstm", "gru", "simple_rnn");

  private static void notify(BiConsumer<String, Graph> after, String program, String pass, Graph g) {
    if (after != null) {
      after.accept(program + ":" + pass, g);
    }
  }

  /** What the op with the tightest bound on {@code input} calls its values (null: none bounds it). */
  static String indexNoun(Graph g, Node input) {
    int bound = 0;
    String noun = null;
    for (Node n : g.nodes()) {
      for (int i = 0; i < n.inputs().size(); i++) {
        int b = n.input(i) == input ? n.op().indexBound(i, n.inputs()) : 0;
        if (b > 0 && (bound == 0 || b < bound)) {
          bound = b;
          noun = n.op().indexNoun(i);
        }
      }
    }
    return noun;
  }

  /** The tightest bound the ops that read {@code input} put on its values (0: none). */
  static int indexBound(Graph g, Node input) {
    int bound = 0;
    for (Node n : g.nodes()) {
      for (int i = 0; i < n.inputs().size(); i++) {
        int b = n.input(i) == input ? n.op().indexBound(i, n.inputs()) : 0;
        if (b > 0) {
          bound = bound == 0 ? b : Math.min(bound, b);
        }
      }
    }
    return bound;
  }

  /** The least value the ops that read {@code input} accept (0, or 1 for sequence lengths). */
  static int indexMin(Graph g, Node input) {
    int min = 0;
    for (Node n : g.nodes()) {
      for (int i = 0; i < n.inputs().size(); i++) {
        if (n.input(i) == input) {
          min = Math.max(min, n.op().indexMin(i));
        }
      }
    }
    return min;
  }

  /** Where everything lives in the arena: parameters first (model-wide), then each program's plan. */
  record Layout(List<Manifest.ParamSlot> slots, List<PlannedProgram> planned, long arena) {}

  /**
   * {@code plan-memory} for a whole model: the parameters of all programs, by name, each once
   * (weights in model order, then state), 16-float aligned; after them each program's working
   * space, planned from its kernels, all programs sharing the same region.
   */
  static Layout layout(Map<String, Graph> graphs, Map<String, KernelProgram> kernels, Backend backend) {
    return layout(graphs, kernels, backend, Backend.NATIVE);
  }

  /** As above, for the CPU (or GPU) named by {@code cpu} (packed operands may depend on it). */
  static Layout layout(Map<String, Graph> graphs, Map<String, KernelProgram> kernels, Backend backend, String cpu) {
    Map<String, Node> params = new LinkedHashMap<>();
    for (Graph g : graphs.values()) {
      for (Node n : g.params()) {
        params.putIfAbsent(((Param) n.op()).name(), n);
      }
    }
    List<Manifest.ParamSlot> slots = new ArrayList<>();
    Map<String, Long> offsets = new LinkedHashMap<>();
    long cursor = 0;
    for (Node n : params.values()) {
      Param p = (Param) n.op();
      offsets.put(p.name(), cursor);
      Init init = p.init();
      slots.add(new Manifest.ParamSlot(p.name(), cursor, n.shape().dims(), p.role().text(), init.kind().text(),
          init.value()));
      cursor = (cursor + Math.max(1, n.shape().size()) + 15) / 16 * 16;
    }
    long paramEnd = cursor;
    long arena = paramEnd;
    List<PlannedProgram> planned = new ArrayList<>();
    for (KernelProgram kp : kernels.values()) {
      if (!kp.name().equals(PREPARE)) {
        MemoryPlan plan = MemoryPlan.plan(kp, offsets, paramEnd, backend::scratchFloats,
            (x, y) -> backend.sharesPackedA(x, y, cpu));
        planned.add(new PlannedProgram(kp, plan));
        arena = Math.max(arena, plan.regionEnd());
      }
    }
    // The runtime runs prepare between setting an inference program's inputs and running it, so
    // its working space lies after every other program's.
    KernelProgram prepare = kernels.get(PREPARE);
    if (prepare != null) {
      MemoryPlan plan = MemoryPlan.plan(prepare, offsets, (arena + 15) / 16 * 16, backend::scratchFloats,
          (x, y) -> backend.sharesPackedA(x, y, cpu));
      planned.add(new PlannedProgram(prepare, plan));
      arena = Math.max(arena, plan.regionEnd());
    }
    // Last, the back end's persistent packed copies of the inference GEMMs' weight operands.
    MemoryPlan.Packed packed = MemoryPlan.packOperands(planned.stream().map(PlannedProgram::program).toList(),
        planned.stream().map(PlannedProgram::plan).toList(), java.util.Set.of(TRAIN, PREPARE), arena,
        (g, a) -> backend.packedFloats(g, a, cpu));
    List<PlannedProgram> withPacked = new ArrayList<>();
    for (int i = 0; i < planned.size(); i++) {
      withPacked.add(new PlannedProgram(planned.get(i).program(), packed.plans().get(i)));
    }
    return new Layout(slots, withPacked, Math.max(arena, packed.end()));
  }

  public static Result compile(Program prog, String model, Recipe recipe, int batch, Backend backend)
      throws CompileException {
    return compile(prog, model, recipe, batch, backend, Backend.NATIVE);
  }

  /** As above, for the CPU (or GPU) named by {@code cpu}; see {@link Backend#compile(String, List, String)}. */
  public static Result compile(Program prog, String model, Recipe recipe, int batch, Backend backend, String cpu)
      throws CompileException {
    Elaboration el = elaborate(prog, model, recipe, batch, null);
    Map<String, Graph> graphs = el.graphs();
    Elaborated forward = el.forward();
    Map<String, KernelProgram> kernels = new LinkedHashMap<>();
    graphs.forEach((name, g) -> kernels.put(name, LowerToKernels.lower(g, name)));

    Layout layout = layout(graphs, kernels, backend, cpu);
    List<Manifest.ParamSlot> slots = layout.slots();
    List<PlannedProgram> planned = layout.planned();
    long arena = layout.arena();
    Compiled compiled = backend.compile(graphs.values().iterator().next().name(), planned, cpu);
    Map<String, Manifest.Program> programs = new LinkedHashMap<>();
    for (PlannedProgram pp : planned) {
      KernelProgram kp = pp.program();
      List<Manifest.Slot> ins = new ArrayList<>();
      kp.inputs().forEach((name, buf) -> {
        Buffer b = kp.buffers().get(buf);
        Graph g = graphs.get(kp.name());
        Node input = g.input(name);
        String noun = indexNoun(g, input);
        ins.add(new Manifest.Slot(name, pp.plan().offset(buf), b.shape().dims(), input.dtype().text(),
            indexBound(g, input), "class index".equals(noun) ? null : noun, indexMin(g, input)));
      });
      List<Manifest.Slot> outs = new ArrayList<>();
      kp.outputs().forEach((name, view) ->
          outs.add(new Manifest.Slot(name, pp.plan().offset(view.buffer()), view.shape().dims(), "f32")));
      List<Manifest.Call> calls = new ArrayList<>();
      for (NativeCall c : compiled.schedules().get(kp.name())) {
        calls.add(manifestCall(c));
      }
      programs.put(kp.name(), new Manifest.Program(ins, outs, calls));
    }
    // The back end may prepare data of its own (packed weights) where the graphs have no prepare.
    if (!programs.containsKey(PREPARE) && compiled.schedules().containsKey(PREPARE)) {
      List<Manifest.Call> calls = new ArrayList<>();
      for (NativeCall c : compiled.schedules().get(PREPARE)) {
        calls.add(manifestCall(c));
      }
      programs.put(PREPARE, new Manifest.Program(List.of(), List.of(), calls));
    }
    Map<String, Object> info = new LinkedHashMap<>();
    info.put("backend", backend.name());
    info.put("source", prog.source().name());
    Compiled.Target t = compiled.target();
    Manifest manifest = new Manifest(forward.model(), Manifest.FORMAT, batch, arena, slots, programs, info)
        .withTarget(new Manifest.Target(t.triple(), t.cpu(), t.features()));
    return new Result(manifest, compiled, graphs, kernels, forward);
  }

  /** A schedule's call as the manifest records it (a loop's head with its repeat). */
  static Manifest.Call manifestCall(NativeCall c) {
    NativeCall.Repeat r = c.repeat();
    return new Manifest.Call(c.symbol(), c.extent(), c.costPerItem(),
        r == null ? null : new Manifest.Repeat(r.counter(), r.steps(), r.first(), r.delta(), r.calls()));
  }
}
