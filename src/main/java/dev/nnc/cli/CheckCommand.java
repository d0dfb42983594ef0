package dev.nnc.cli;

import dev.nnc.frontend.Elaborated;
import dev.nnc.ir.Graph;
import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.passes.lower.LowerToKernels;
import dev.nnc.runtime.ModelTooLargeException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/**
 * {@code nnc check}: parse, elaborate and shape-check, plan the memory; print every error at once.
 * Nothing is compiled to native code and nothing is allocated.
 */
@Command(name = "check", mixinStandardHelpOptions = true,
    description = "Check a .nn file: syntax, names, shapes, the training recipe, CSV data and whether the model fits "
        + "in memory. Exit status 1 on errors.")
final class CheckCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  /** Bytes of the arena that {@code graphs} need together, planned as compile would (no code generated). */
  static long arenaBytes(Map<String, Graph> graphs) {
    Map<String, KernelProgram> programs = new LinkedHashMap<>();
    graphs.forEach((name, g) -> programs.put(name, LowerToKernels.lower(g, name)));
    return ModelCompiler.layout(graphs, programs, dev.nnc.passes.backend.Backend.find("cpu")).arena() * 4;
  }

  static String mib(long bytes) {
    return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30))
        : String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
  }

  @Override
  public Integer call() throws Exception {
    Session s = Session.open(opts.file, opts.model);
    int batch = s.recipe != null ? s.recipe.batch() : 1;
    Elaborated e = s.forward(batch);
    // The arena, planned as compile would (no code generated): what the model needs in memory.
    Map<String, Graph> graphs = ModelCompiler.graphs(s.program, s.modelName, s.recipe, batch, null);
    long bytes = arenaBytes(graphs);
    ModelTooLargeException.checkFits(e.model(), batch, bytes, ModelTooLargeException.availableBytes());
    if (s.recipe != null) {
      if (s.recipe.data().kind().equals("csv")) {
        // Every row, against the model (labels within its classes): the errors train would hit.
        s.data(s.recipe, null);
      }
    }
    long params = e.layers().stream().mapToLong(Elaborated.LayerInfo::paramCount).sum();
    spec.commandLine().getOut().printf("%s: ok: model %s, %d layers, %,d parameters%s, memory %s at batch %d%n",
        opts.file, e.model(), e.layers().size(), params, s.recipe != null ? ", training recipe checked" : "",
        mib(bytes), batch);
    return 0;
  }
}
