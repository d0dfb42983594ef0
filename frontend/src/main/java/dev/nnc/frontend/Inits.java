package dev.nnc.frontend;

import dev.nnc.frontend.Val.NumV;
import dev.nnc.frontend.Val.StrV;
import dev.nnc.frontend.Val.SymV;
import dev.nnc.ir.ops.Init;
import java.util.Map;

/** The initialiser names of the language ({@code init=he_normal}) and numbers for constants. */
final class Inits {
  static final Map<String, Init.Kind> NAMES = Map.ofEntries(
      Map.entry("glorot_uniform", Init.Kind.GLOROT_UNIFORM),
      Map.entry("xavier_uniform", Init.Kind.GLOROT_UNIFORM),
      Map.entry("glorot", Init.Kind.GLOROT_UNIFORM),
      Map.entry("xavier", Init.Kind.GLOROT_UNIFORM),
      Map.entry("glorot_normal", Init.Kind.GLOROT_NORMAL),
      Map.entry("xavier_normal", Init.Kind.GLOROT_NORMAL),
      Map.entry("he", Init.Kind.HE_NORMAL),
      Map.entry("he_normal", Init.Kind.HE_NORMAL),
      Map.entry("he_uniform", Init.Kind.HE_UNIFORM),
      Map.entry("zeros", Init.Kind.ZEROS),
      Map.entry("ones", Init.Kind.ONES),
      Map.entry("torch", Init.Kind.FAN_IN_UNIFORM),
      Map.entry("normal", Init.Kind.NORMAL));

  private Inits() {}

  static Init parse(Val v, String what) {
    if (v instanceof NumV n) {
      return new Init(Init.Kind.CONSTANT, n.value());
    }
    String name = v instanceof SymV s ? s.name() : v instanceof StrV s ? s.value() : null;
    if (name != null && NAMES.containsKey(name)) {
      return Init.of(NAMES.get(name));
    }
    String hint = name == null ? null : Diagnostics.suggest(name, NAMES.keySet());
    throw new LayerException("unknown initialiser " + Val.describe(v) + " for " + what,
        hint != null ? hint : "use one of " + String.join(", ", new java.util.TreeSet<>(NAMES.keySet()))
            + ", or a number for a constant");
  }
}
