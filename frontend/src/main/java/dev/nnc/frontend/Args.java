package dev.nnc.frontend;

import dev.nnc.frontend.Val.ListV;
import dev.nnc.frontend.Val.NumV;
import dev.nnc.frontend.Val.StrV;
import dev.nnc.frontend.Val.SymV;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The compile-time arguments of a layer call, bound to the layer's declared parameters
 * ({@code dense(10, bias=false)}: units=10, bias=false). Binding reports unknown and missing
 * parameters with the layer's signature.
 */
public final class Args {
  /** A declared parameter; {@code fallback} null means required. */
  public record Spec(String name, Val fallback) {
    public static Spec required(String name) {
      return new Spec(name, null);
    }

    public static Spec of(String name, double v) {
      return new Spec(name, new NumV(v, v == Math.rint(v)));
    }

    public static Spec sym(String name, String v) {
      return new Spec(name, new SymV(v));
    }
  }

  private final String layer;
  private final Map<String, Val> bound;

  private Args(String layer, Map<String, Val> bound) {
    this.layer = layer;
    this.bound = bound;
  }

  public static Args bind(String layer, List<Spec> specs, List<Val> positional, Map<String, Val> named) {
    Map<String, Val> out = new LinkedHashMap<>();
    String signature = signature(layer, specs);
    if (positional.size() > specs.size()) {
      throw new LayerException(layer + " takes at most " + specs.size() + " argument(s), got " + positional.size(),
          "the signature is " + signature);
    }
    for (int i = 0; i < positional.size(); i++) {
      out.put(specs.get(i).name(), positional.get(i));
    }
    List<String> names = specs.stream().map(Spec::name).toList();
    for (Map.Entry<String, Val> e : named.entrySet()) {
      if (!names.contains(e.getKey())) {
        String hint = Diagnostics.suggest(e.getKey(), names);
        throw new LayerException(layer + " has no parameter `" + e.getKey() + "`",
            hint != null ? hint : "the signature is " + signature);
      }
      if (out.containsKey(e.getKey())) {
        throw new LayerException("parameter `" + e.getKey() + "` of " + layer + " is given twice");
      }
      out.put(e.getKey(), e.getValue());
    }
    for (Spec s : specs) {
      if (!out.containsKey(s.name())) {
        if (s.fallback() == null) {
          throw new LayerException(layer + " needs parameter `" + s.name() + "`", "the signature is " + signature);
        }
        out.put(s.name(), s.fallback());
      }
    }
    return new Args(layer, out);
  }

  static String signature(String layer, List<Spec> specs) {
    List<String> parts = new ArrayList<>();
    for (Spec s : specs) {
      parts.add(s.fallback() == null ? s.name() : s.name() + "=" + show(s.fallback()));
    }
    return layer + "(" + String.join(", ", parts) + ")";
  }

  private static String show(Val v) {
    return switch (v) {
      case NumV n -> n.integral() ? String.valueOf((long) n.value()) : String.valueOf(n.value());
      case SymV s -> s.name();
      case StrV s -> "\"" + s.value() + "\"";
      default -> "…";
    };
  }

  public Val get(String name) {
    return bound.get(name);
  }

  public double num(String name) {
    if (bound.get(name) instanceof NumV n) {
      return n.value();
    }
    throw new LayerException("`" + name + "` of " + layer + " must be a number, got " + Val.describe(bound.get(name)));
  }

  public int positiveInt(String name) {
    double v = num(name);
    if (v != Math.rint(v) || v < 1 || v > Integer.MAX_VALUE) {
      throw new LayerException("`" + name + "` of " + layer + " must be an integer between 1 and 2,147,483,647, got "
          + (v == Math.rint(v) && Math.abs(v) < 1e18 ? String.valueOf((long) v) : String.valueOf(v)));
    }
    return (int) v;
  }

  public boolean bool(String name) {
    if (bound.get(name) instanceof SymV s && (s.name().equals("true") || s.name().equals("false"))) {
      return s.name().equals("true");
    }
    throw new LayerException("`" + name + "` of " + layer + " must be true or false, got "
        + Val.describe(bound.get(name)));
  }

  public List<Integer> ints(String name) {
    if (bound.get(name) instanceof ListV l) {
      List<Integer> out = new ArrayList<>();
      for (Val v : l.items()) {
        if (v instanceof NumV n && n.integral() && Math.abs(n.value()) <= Integer.MAX_VALUE) {
          out.add((int) n.value());
        } else {
          throw new LayerException("`" + name + "` of " + layer + " must be a list of integers (each at most "
              + "2,147,483,647 in size)");
        }
      }
      return out;
    }
    throw new LayerException("`" + name + "` of " + layer + " must be a list like [4, 4], got "
        + Val.describe(bound.get(name)));
  }

}
