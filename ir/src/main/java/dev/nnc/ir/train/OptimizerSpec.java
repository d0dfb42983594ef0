package dev.nnc.ir.train;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * An optimizer and its hyper-parameters, with PyTorch's defaults (so that {@code adam()} here
 * and {@code torch.optim.Adam(params)} take the same steps). The learning rate is not baked into
 * the code: it is a state scalar the runtime sets from the schedule.
 */
public record OptimizerSpec(String name, Map<String, Double> hyper) {
  private static final Map<String, Map<String, Double>> DEFAULTS = new LinkedHashMap<>();

  static {
    DEFAULTS.put("sgd", ordered("lr", 0.01, "momentum", 0.0, "nesterov", 0.0));
    DEFAULTS.put("adagrad", ordered("lr", 0.01, "eps", 1e-10, "initial_accumulator", 0.0));
    DEFAULTS.put("adadelta", ordered("lr", 1.0, "rho", 0.9, "eps", 1e-6));
    DEFAULTS.put("rmsprop", ordered("lr", 0.01, "alpha", 0.99, "eps", 1e-8, "momentum", 0.0));
    DEFAULTS.put("adam", ordered("lr", 1e-3, "beta1", 0.9, "beta2", 0.999, "eps", 1e-8));
    DEFAULTS.put("adamax", ordered("lr", 2e-3, "beta1", 0.9, "beta2", 0.999, "eps", 1e-8));
    DEFAULTS.put("nadam", ordered("lr", 2e-3, "beta1", 0.9, "beta2", 0.999, "eps", 1e-8,
        "momentum_decay", 4e-3));
  }

  private static Map<String, Double> ordered(Object... kv) {
    Map<String, Double> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], (Double) kv[i + 1]);
    }
    return m;
  }

  public static Set<String> names() {
    return DEFAULTS.keySet();
  }

  /** The hyper-parameters an optimizer takes, with their defaults; null for an unknown name. */
  public static Map<String, Double> defaults(String name) {
    Map<String, Double> d = DEFAULTS.get(name);
    return d == null ? null : new LinkedHashMap<>(d);
  }

  /** {@code name} with {@code given} laid over the defaults. */
  public static OptimizerSpec of(String name, Map<String, Double> given) {
    Map<String, Double> h = defaults(name);
    if (h == null) {
      throw new IllegalArgumentException("unknown optimizer " + name);
    }
    for (Map.Entry<String, Double> e : given.entrySet()) {
      if (!h.containsKey(e.getKey())) {
        throw new IllegalArgumentException(name + " has no hyper-parameter " + e.getKey());
      }
      h.put(e.getKey(), e.getValue());
    }
    return new OptimizerSpec(name, h);
  }

  public double get(String key) {
    Double v = hyper.get(key);
    if (v == null) {
      throw new IllegalArgumentException(name + " has no hyper-parameter " + key);
    }
    return v;
  }

  public double lr() {
    return get("lr");
  }
}
