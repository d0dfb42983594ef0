package dev.nnc.cli;

import dev.nnc.frontend.Elaborated;
import dev.nnc.ir.Node;
import dev.nnc.ir.ops.Param;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/** {@code nnc summary}: a Keras-like table of layers, output shapes and parameters. */
@Command(name = "summary", mixinStandardHelpOptions = true,
    description = "Print the model's layers, output shapes and parameter counts (like Keras' model.summary()).")
final class SummaryCommand implements Callable<Integer> {
  @Mixin
  Options opts;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    Session s = Session.open(opts.file, opts.model);
    Elaborated e = s.forward(1);
    PrintWriter out = spec.commandLine().getOut();
    out.print(render(e, s.recipe == null ? java.util.Set.of() : new java.util.HashSet<>(s.recipe.freeze())));
    // What the compiled programs need in memory (arena: parameters, optimizer state, inputs and
    // temporaries as planned), for inference alone and for a training step.
    int batch = s.recipe != null ? s.recipe.batch() : 1;
    java.util.Map<String, dev.nnc.ir.Graph> graphs = ModelCompiler.graphs(s.program, s.modelName, s.recipe, batch, null);
    // Inference: predict, with the prepare program that computes its derived tensors, if any.
    java.util.Map<String, dev.nnc.ir.Graph> inference = new java.util.LinkedHashMap<>();
    inference.put(ModelCompiler.PREDICT, graphs.get(ModelCompiler.PREDICT));
    if (graphs.containsKey(ModelCompiler.PREPARE)) {
      inference.put(ModelCompiler.PREPARE, graphs.get(ModelCompiler.PREPARE));
    }
    StringBuilder mem = new StringBuilder("Memory at batch " + batch + ": inference "
        + CheckCommand.mib(CheckCommand.arenaBytes(inference)));
    if (graphs.containsKey(ModelCompiler.TRAIN)) {
      mem.append(", training step ").append(CheckCommand.mib(CheckCommand.arenaBytes(java.util.Map.of(
          ModelCompiler.TRAIN, graphs.get(ModelCompiler.TRAIN)))));
    }
    out.println(mem);
    return 0;
  }

  static String render(Elaborated e, java.util.Set<String> frozenNames) {
    StringBuilder sb = new StringBuilder();
    int widest = 28;
    for (Elaborated.LayerInfo l : e.layers()) {
      widest = Math.max(widest, l.path().length() + l.kind().length() + 4);
    }
    final int w1 = widest;
    final int w2 = 16;
    final int w3 = 12;
    String rule = "-".repeat(w1 + w2 + w3 + 4);
    String dbl = "=".repeat(w1 + w2 + w3 + 4);
    sb.append("Model: \"").append(e.model()).append("\"\n").append(rule).append('\n');
    sb.append(String.format("%-" + w1 + "s  %-" + w2 + "s  %" + w3 + "s%n", "Layer (type)", "Output Shape", "Param #"));
    sb.append(dbl).append('\n');
    e.inputs().forEach((name, n) -> sb.append(String.format("%-" + w1 + "s  %-" + w2 + "s  %" + w3 + "s%n",
        name + " (input)", n.dtype().text().equals("i32") ? "int" + n.shape().dropFirst() : n.shape().dropFirst(), "0")));
    long total = 0;
    long frozen = 0;
    for (Elaborated.LayerInfo l : e.layers()) {
      sb.append(String.format("%-" + w1 + "s  %-" + w2 + "s  %," + w3 + "d%n", l.path() + " (" + l.kind() + ")",
          l.output(), l.paramCount()));
      total += l.paramCount();
      for (Node p : l.params()) {
        if (((Param) p.op()).role() == Param.Role.FROZEN
            || frozenNames.stream().anyMatch(f -> l.path().equals(f) || l.path().startsWith(f + "."))) {
          frozen += p.shape().size();
        }
      }
    }
    sb.append(dbl).append('\n');
    sb.append(String.format("Total params: %,d (%s)%n", total, bytes(total * 4)));
    sb.append(String.format("Trainable params: %,d%n", total - frozen));
    sb.append(String.format("Frozen params: %,d%n", frozen));
    sb.append(rule).append('\n');
    sb.append("Weights are named <layer>.weight and <layer>.bias in weight files.\n");
    return sb.toString();
  }

  private static String bytes(long b) {
    if (b < 1024) {
      return b + " B";
    }
    if (b < 1024 * 1024) {
      return String.format("%.2f KiB", b / 1024.0);
    }
    return String.format("%.2f MiB", b / 1048576.0);
  }
}
