package dev.nnc.cli;

import dev.nnc.frontend.Elaborated;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/** {@code nnc check}: parse, elaborate and shape-check; print every error at once. */
@Command(name = "check", mixinStandardHelpOptions = true,
    description = "Check a .nn file: syntax, names, shapes and the training recipe. Exit status 1 on errors.")
final class CheckCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    Session s = Session.open(opts.file, opts.model);
    int batch = s.recipe != null ? s.recipe.batch() : 1;
    Elaborated e = s.forward(batch);
    if (s.recipe != null) {
      ModelCompiler.graphs(s.program, s.modelName, s.recipe, batch, null);
      if (s.recipe.data().kind().equals("csv")) {
        // Every row, against the model (labels within its classes): the errors train would hit.
        s.data(s.recipe, null);
      }
    }
    long params = e.layers().stream().mapToLong(Elaborated.LayerInfo::paramCount).sum();
    spec.commandLine().getOut().printf("%s: ok: model %s, %d layers, %,d parameters%s%n", opts.file, e.model(),
        e.layers().size(), params, s.recipe != null ? ", training recipe checked" : "");
    return 0;
  }
}
