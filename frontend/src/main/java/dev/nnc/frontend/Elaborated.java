package dev.nnc.frontend;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import java.util.List;
import java.util.Map;

/**
 * A model elaborated into a graph at a fixed batch size: its inputs, outputs, the per-example
 * loss when a recipe was given, one row per layer application for {@code nnc summary}, and the
 * warnings (values never used, whose layers were left out).
 */
public record Elaborated(String model, Graph graph, Map<String, Node> inputs, Map<String, Node> outputs,
    Node lossPerExample, List<LayerInfo> layers, int batch, List<Diagnostic> warnings, Step step) {

  public Elaborated(String model, Graph graph, Map<String, Node> inputs, Map<String, Node> outputs,
      Node lossPerExample, List<LayerInfo> layers, int batch, List<Diagnostic> warnings) {
    this(model, graph, inputs, outputs, lossPerExample, layers, batch, warnings, null);
  }

  /**
   * Of a model elaborated as a step program: each state's input and output names (input
   * {@code lstm1.h0} carries what output {@code lstm1.h} gave at the previous step), and why the
   * model cannot run step by step when it cannot (null when it can).
   */
  public record Step(Map<String, String> states, String blocked) {
    public boolean steppable() {
      return blocked == null && !states.isEmpty();
    }
  }

  /**
   * One applied layer: its path ({@code block1.dense2}), kind, per-example output shape,
   * parameters, and for tools that rebuild the model elsewhere (the libtorch baseline of
   * {@code nnc bench}) its operands, its output node and its bound arguments.
   */
  public record LayerInfo(String path, String kind, Shape output, List<Node> params, List<Node> inputs, Node node,
      Args args) {
    /** Parameters as PyTorch and Keras count them: weights, trainable or frozen, not buffers. */
    public long paramCount() {
      return params.stream().filter(p -> ((dev.nnc.ir.ops.Param) p.op()).role() != dev.nnc.ir.ops.Param.Role.BUFFER)
          .mapToLong(p -> p.shape().size()).sum();
    }
  }
}
