package dev.nnc.frontend;

import dev.nnc.ir.Node;
import java.util.List;

/** A value during elaboration: a tensor in the graph, or a compile-time constant. */
public sealed interface Val {
  /** A tensor-valued graph node. */
  record TensorV(Node node) implements Val {}

  record NumV(double value, boolean integral) implements Val {}

  record StrV(String value) implements Val {}

  record ListV(List<Val> items) implements Val {}

  /** A bare word that names no tensor: {@code same}, {@code true}, {@code he}, {@code accuracy}. */
  record SymV(String name) implements Val {}

  /** A source path from {@code from "weights.safetensors"}. */
  record FromV(String path) implements Val {}

  /** A call whose name is no layer: recipe values like {@code adam(lr=1e-3)}. */
  record CallV(String name, List<Val> args, java.util.Map<String, Val> named) implements Val {}

  /** The value of an expression that already failed; operations on it report nothing more. */
  record ErrV() implements Val {}

  static String describe(Val v) {
    return switch (v) {
      case TensorV t -> "a tensor " + t.node().dtype().text() + t.node().shape().dropFirst();
      case NumV n -> "the number " + (n.integral() ? String.valueOf((long) n.value()) : String.valueOf(n.value()));
      case StrV s -> "the string \"" + s.value() + "\"";
      case ListV l -> "a list";
      case SymV s -> "`" + s.name() + "`";
      case FromV f -> "from \"" + f.path() + "\"";
      case CallV c -> c.name() + "(…)";
      case ErrV e -> "an erroneous value";
    };
  }
}
