package dev.nnc.frontend;

import dev.nnc.frontend.Val.TensorV;
import dev.nnc.grammar.NnParser;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Input;
import java.util.List;
import java.util.Map;

/**
 * Binds a training recipe to an elaborated model: the data's fields that the model does not take
 * (labels, targets) become inputs, the feature field must match the model's input, and the
 * recipe's loss expression is evaluated against them into one value per example.
 */
final class LossBinding {
  private LossBinding() {}

  static Node bind(Elaborator e, Recipe recipe, Elaborator.Scope scope, Map<String, Node> inputs) {
    NnParser.TrainDeclContext decl = e.program.trains().get(e.graph.name());
    // Bind data fields the model does not take as inputs (labels, targets).
    for (Map.Entry<String, TensorType> f : recipe.data().fields().entrySet()) {
      String field = f.getKey();
      TensorType t = f.getValue();
      if (field.equals(recipe.data().featureField())) {
        checkFeatureField(e, recipe, inputs, decl);
        continue;
      }
      if (scope.vars.containsKey(field)) {
        continue;
      }
      Node n = e.graph.addTyped(new Input(field), List.of(), new TensorType(t.shape().prepend(e.batch), t.dtype()));
      scope.vars.put(field, new TensorV(n));
      inputs.put(field, n);
    }
    if (recipe.loss() == null) {
      e.diag.error(decl.name, "train recipe needs a `loss`", "e.g. `loss = cross_entropy(logits, label)`");
      return null;
    }
    e.currentNames.clear();
    e.currentNames.addAll(scope.vars.keySet());
    Val v = e.eval(recipe.loss(), scope);
    Node n = e.tensor(v, recipe.loss(), "the loss");
    if (n == null) {
      return null;
    }
    if (!n.shape().equals(Shape.of(e.batch))) {
      e.diag.error(recipe.loss(), "the loss must give one value per example, got " + Layer.perExample(n),
          "use a loss function such as cross_entropy(logits, label) or mse(y, target)");
      return null;
    }
    return n;
  }

  private static void checkFeatureField(Elaborator e, Recipe recipe, Map<String, Node> inputs,
      NnParser.TrainDeclContext decl) {
    DataSpec d = recipe.data();
    TensorType want = d.fields().get(d.featureField());
    Node in = inputs.get(d.featureField());
    if (in == null) {
      e.diag.error(decl.name, d.kind() + " gives `" + d.featureField() + "`, which is no input of the model",
          "name the model's input `" + d.featureField() + "`");
      return;
    }
    if (want.dtype() == dev.nnc.ir.DType.I32 && in.dtype() != dev.nnc.ir.DType.I32) {
      e.diag.error(decl.name, "input `" + d.featureField() + "` is declared as floats but " + d.kind()
          + " gives token ids int" + want.shape(), "declare it `input " + d.featureField() + ": int" + want.shape() + "`");
      return;
    }
    if (!d.kind().equals("synthetic") && !in.shape().dropFirst().equals(want.shape())) {
      String hint = d.kind().equals("fashion_mnist")
          ? (want.shape().rank() == 3 ? "use `data = fashion_mnist(flatten=true)` for a [784] input"
              : "use `data = fashion_mnist` for a [1,28,28] input")
          : "the data has " + want.shape() + " per example";
      e.diag.error(decl.name, "input `" + d.featureField() + "` is declared " + in.shape().dropFirst() + " but "
          + d.kind() + " gives " + want.shape(), hint);
    }
  }

}
