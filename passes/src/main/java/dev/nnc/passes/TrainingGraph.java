package dev.nnc.passes;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.UnaryFn;
import dev.nnc.ir.train.TrainSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code differentiate}: turns a forward graph with a {@code loss_per_example} output into one
 * training step: the mean loss (plus regularisation), the backward pass, clipping, and the
 * optimizer update of every trainable weight. The result's outputs are {@code loss} and the
 * model's outputs; its updates write weights, optimizer state and the step counter.
 */
public final class TrainingGraph {
  public static final String LOSS = "loss";
  public static final String LOSS_PER_EXAMPLE = "loss_per_example";
  public static final String STEP = "step";
  public static final String LR = "lr";

  private TrainingGraph() {}

  public static Graph build(Graph forward, TrainSpec spec) {
    Graph.Builder b = forward.toBuilder();
    Node perExample = forward.output(LOSS_PER_EXAMPLE);
    Node loss = Ops.meanAll(b, perExample);
    List<Node> weights = new ArrayList<>();
    for (Node n : forward.nodes()) {
      if (n.op() instanceof Param p && p.role() == Param.Role.WEIGHT) {
        weights.add(n);
      }
    }
    if (weights.isEmpty()) {
      throw new IllegalArgumentException("the model has no trainable weights (all frozen?)");
    }
    // Keras-style regularisers on weight matrices (not biases): l1·Σ|w| + l2·Σw².
    for (Node w : weights) {
      if (w.shape().rank() < 2) {
        continue;
      }
      if (spec.l2() != 0) {
        loss = Ops.add(b, loss, Ops.scale(b, Ops.sumAll(b, Ops.unary(b, UnaryFn.SQUARE, w)), spec.l2()));
      }
      if (spec.l1() != 0) {
        loss = Ops.add(b, loss, Ops.scale(b, Ops.sumAll(b, Ops.unary(b, UnaryFn.ABS, w)), spec.l1()));
      }
    }
    Map<Node, Node> grads = Autodiff.gradients(b, loss, weights);
    if (spec.clipValue() > 0) {
      Node hi = Ops.constant(b, spec.clipValue());
      Node lo = Ops.constant(b, -spec.clipValue());
      grads.replaceAll((w, g) -> b.add(new Binary(BinaryFn.MIN), b.add(new Binary(BinaryFn.MAX), g, lo), hi));
    }
    if (spec.clipNorm() > 0) {
      // torch.nn.utils.clip_grad_norm_: coef = min(1, max_norm / (‖g‖ + 1e-6)) over all gradients.
      Node sq = null;
      for (Node g : grads.values()) {
        Node s = Ops.sumAll(b, Ops.unary(b, UnaryFn.SQUARE, g));
        sq = sq == null ? s : Ops.add(b, sq, s);
      }
      Node norm = Ops.unary(b, UnaryFn.SQRT, sq);
      Node coef = b.add(new Binary(BinaryFn.MIN), Ops.constant(b, 1),
          Ops.div(b, Ops.constant(b, spec.clipNorm()), Ops.add(b, norm, Ops.constant(b, 1e-6))));
      grads.replaceAll((w, g) -> Ops.mul(b, g, coef));
    }
    Node step = OptimizerUpdate.scalarState(b, STEP, Init.ZEROS);
    Node lr = OptimizerUpdate.scalarState(b, LR, new Init(Init.Kind.CONSTANT, spec.optimizer().lr()));
    Node t = Ops.add(b, step, Ops.constant(b, 1));
    OptimizerUpdate opt = new OptimizerUpdate(b, spec.optimizer(), lr, t);
    grads.forEach(opt::update);
    b.update(step, t);
    Map<String, Node> modelOutputs = new java.util.LinkedHashMap<>(forward.outputs());
    b.clearOutputs();
    b.output(LOSS, loss);
    modelOutputs.forEach((k, v) -> {
      if (!k.equals(LOSS_PER_EXAMPLE)) {
        b.output(k, v);
      }
    });
    return b.build();
  }

  /** The gradients alone (for gradient checks): outputs {@code loss} and {@code grad:<param>}. */
  public static Graph gradientsOnly(Graph forward) {
    Graph.Builder b = forward.toBuilder();
    Node loss = Ops.meanAll(b, forward.output(LOSS_PER_EXAMPLE));
    List<Node> weights = forward.params().stream()
        .filter(n -> ((Param) n.op()).role() == Param.Role.WEIGHT).toList();
    Map<Node, Node> grads = Autodiff.gradients(b, loss, weights);
    b.clearOutputs();
    b.output(LOSS, loss);
    grads.forEach((w, g) -> b.output("grad:" + ((Param) w.op()).name(), g));
    return b.build();
  }
}
