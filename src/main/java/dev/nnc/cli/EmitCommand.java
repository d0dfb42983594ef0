package dev.nnc.cli;

import dev.nnc.frontend.Recipe;
import dev.nnc.ir.Graph;
import dev.nnc.ir.IrPrinter;
import dev.nnc.ir.kernel.KernelPrinter;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.passes.Pipeline;
import dev.nnc.passes.lower.LowerToKernels;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code nnc emit}: print what the compiler builds at any stage. */
@Command(name = "emit", mixinStandardHelpOptions = true,
    description = "Print the graph IR (after any pass), the kernel IR, or the generated LLVM IR.")
final class EmitCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  static final class What {
    @Option(names = "--ir", description = "the graph IR") boolean ir;
    @Option(names = "--kernels", description = "the kernel IR (loop nests and GEMMs, after fusion)") boolean kernels;
    @Option(names = "--llvm", description = "the optimised LLVM IR of the CPU back end") boolean llvm;
  }

  @ArgGroup(exclusive = true, multiplicity = "0..1")
  What what;

  @Option(names = "--print-after-all", description = "print the program after every stage, from elaboration through "
      + "the graph passes, the lowering stages and the memory plan")
  boolean printAfterAll;

  @Option(names = "--verify", description = "check every program's kernels (each access inside its buffer for all "
      + "loop values, loop variables in scope, GEMM operands and result in bounds); exit 1 on a problem")
  boolean verify;

  @Option(names = "--after", paramLabel = "PASS",
      description = "print the program after this stage (graph IR, or kernel IR from lower on): ${COMPLETION-CANDIDATES}",
      completionCandidates = PassNames.class)
  String after;

  @Option(names = "--program", paramLabel = "NAME",
      description = "train, eval, predict or prepare (default: train when the file has a recipe, else predict)")
  String program;

  @Option(names = "--batch", converter = Positive.class, paramLabel = "N", description = "batch size to compile for (default: the recipe's)")
  Integer batch;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  static final class PassNames implements Iterable<String> {
    @Override
    public java.util.Iterator<String> iterator() {
      return Pipeline.passNames().iterator();
    }
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    Session s = Session.open(opts.file, opts.model);
    Recipe r = s.recipe;
    int b = batch != null ? batch : r != null ? r.batch() : 1;
    String prog = program != null ? program : r != null ? ModelCompiler.TRAIN : ModelCompiler.PREDICT;
    if (!java.util.List.of("train", "eval", "predict", "prepare").contains(prog)) {
      throw new UserError("--program must be train, eval, predict or prepare, not '" + prog + "'");
    }
    if (r == null && !prog.equals(ModelCompiler.PREDICT)) {
      throw new UserError(opts.file + " has no training recipe, so it has only the predict program");
    }
    if (after != null && !Pipeline.passNames().contains(after)) {
      throw new UserError("no pass named '" + after + "'; passes are " + Pipeline.passNames());
    }
    if (what == null && !verify && !printAfterAll && after == null) {
      throw new UserError("say what to emit: --ir, --kernels or --llvm (or --after PASS, --print-after-all, --verify)");
    }
    if (verify) {
      Map<String, Graph> all = ModelCompiler.graphs(s.program, s.modelName, r, b, null);
      int bad = 0;
      for (Map.Entry<String, Graph> e : all.entrySet()) {
        var kp = LowerToKernels.lowerUnchecked(e.getValue(), e.getKey(), null);
        java.util.List<String> problems = dev.nnc.ir.kernel.KernelVerifier.problems(kp);
        if (problems.isEmpty()) {
          out.printf("%s: %d kernels verified%n", e.getKey(), kp.kernels().size());
        } else {
          bad += problems.size();
          problems.forEach(p -> out.printf("%s: %s%n", e.getKey(), p));
        }
      }
      if (bad > 0) {
        throw new UserError(bad + " kernel problem" + (bad == 1 ? "" : "s") + " (a compiler bug; please report it)");
      }
      if (what == null && !printAfterAll && after == null) {
        return 0;
      }
    }
    if (what != null && what.llvm) {
      ModelCompiler.Result res = s.compile(r, b, null);
      out.print(res.compiled().text());
      return 0;
    }
    // Every stage's graph, in order (a pass that runs twice, like cse, appears twice); --after
    // takes a pass's last run.
    java.util.List<Map.Entry<String, Graph>> history = new java.util.ArrayList<>();
    Map<String, Graph> snapshots = new LinkedHashMap<>();
    Map<String, Graph> graphs = ModelCompiler.graphs(s.program, s.modelName, r, b, (key, sg) -> {
      history.add(Map.entry(key, sg));
      snapshots.put(key, sg);
    });
    Graph g = graphs.get(prog);
    if (g == null) {
      throw new UserError("the model has no " + prog + " program" + (prog.equals(ModelCompiler.PREPARE)
          ? " (its inference programs compute nothing from the weights alone)" : ""));
    }
    boolean kernelStage = after != null && Pipeline.kernelStages().contains(after);
    if (!printAfterAll && !kernelStage && !(what != null && what.kernels)) {
      if (after != null) {
        g = snapshots.get(prog + ":" + after);
        if (g == null) {
          throw new UserError("the " + prog + " program does not run pass '" + after + "'");
        }
        if (after.equals("lower-conv")) {
          // The choice per convolution, read off the graph lower-conv received.
          Graph before = snapshots.get(prog + ":fold-linear");
          out.print(new dev.nnc.passes.LowerConv().explain(before));
        }
      }
      out.print(IrPrinter.print(g));
      return 0;
    }
    // Kernel stages: lowering's, then the memory plan of the whole model (all programs share it).
    Map<String, KernelProgram> stages = new LinkedHashMap<>();
    Map<String, KernelProgram> programs = new LinkedHashMap<>();
    graphs.forEach((name, pg) -> programs.put(name, LowerToKernels.lowerUnchecked(pg, name,
        name.equals(prog) ? stages::put : null)));
    ModelCompiler.Layout layout = ModelCompiler.layout(graphs, programs, dev.nnc.passes.backend.Backend.find("cpu"));
    String plan = layout.planned().stream().filter(pp -> pp.program().name().equals(prog)).findFirst()
        .map(pp -> pp.plan().describe(pp.program())).orElseThrow();
    if (printAfterAll) {
      for (Map.Entry<String, Graph> e : history) {
        if (e.getKey().startsWith(prog + ":")) {
          out.printf("// ---- %s: after %s ----%n%s", prog, e.getKey().substring(prog.length() + 1),
              IrPrinter.print(e.getValue()));
        }
      }
      stages.forEach((stage, kp) -> out.printf("// ---- %s: after %s ----%n%s", prog, stage, KernelPrinter.print(kp)));
      out.printf("// ---- %s: after plan-memory ----%n%s", prog, plan);
      return 0;
    }
    if ("plan-memory".equals(after)) {
      out.print(plan);
      return 0;
    }
    out.print(KernelPrinter.print(stages.get(after != null ? after : "place-updates")));
    return 0;
  }
}
