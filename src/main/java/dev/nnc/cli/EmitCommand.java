package dev.nnc.cli;

import dev.nnc.frontend.Recipe;
import dev.nnc.ir.Graph;
import dev.nnc.ir.IrPrinter;
import dev.nnc.ir.kernel.KernelPrinter;
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

  @Option(names = "--verify", description = "check every program's kernels (each access inside its buffer for all "
      + "loop values, loop variables in scope, GEMM operands and workspace in bounds); exit 1 on a problem")
  boolean verify;

  @Option(names = "--after", paramLabel = "PASS",
      description = "with --ir: print the graph after this pass: ${COMPLETION-CANDIDATES}",
      completionCandidates = PassNames.class)
  String after;

  @Option(names = "--program", paramLabel = "NAME",
      description = "train, eval or predict (default: train when the file has a recipe, else predict)")
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
    if (!java.util.List.of("train", "eval", "predict").contains(prog)) {
      throw new UserError("--program must be train, eval or predict, not '" + prog + "'");
    }
    if (r == null && !prog.equals(ModelCompiler.PREDICT)) {
      throw new UserError(opts.file + " has no training recipe, so it has only the predict program");
    }
    if (after != null && !Pipeline.passNames().contains(after)) {
      throw new UserError("no pass named '" + after + "'; passes are " + Pipeline.passNames());
    }
    if (what == null && !verify) {
      throw new UserError("say what to emit: --ir, --kernels or --llvm (or --verify)");
    }
    if (verify) {
      Map<String, Graph> all = ModelCompiler.graphs(s.program, s.modelName, r, b, null);
      int bad = 0;
      for (Map.Entry<String, Graph> e : all.entrySet()) {
        var kp = LowerToKernels.lowerUnchecked(e.getValue(), e.getKey());
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
      if (what == null) {
        return 0;
      }
    }
    if (what.llvm) {
      ModelCompiler.Result res = s.compile(r, b, null);
      out.print(res.compiled().text());
      return 0;
    }
    Map<String, Graph> snapshots = new LinkedHashMap<>();
    Map<String, Graph> graphs = ModelCompiler.graphs(s.program, s.modelName, r, b, snapshots::put);
    Graph g = graphs.get(prog);
    if (what.kernels || "lower".equals(after)) {
      out.print(KernelPrinter.print(LowerToKernels.lower(g, prog)));
      return 0;
    }
    if (after != null) {
      Graph snap = null;
      for (Map.Entry<String, Graph> e : snapshots.entrySet()) {
        if (e.getKey().equals(prog + ":" + after)) {
          snap = e.getValue();
        }
      }
      if (snap == null) {
        throw new UserError("the " + prog + " program does not run pass '" + after + "'");
      }
      g = snap;
    }
    out.print(IrPrinter.print(g));
    return 0;
  }
}
