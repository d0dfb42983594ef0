package dev.nnc.frontend;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The layers of the language by name: each a {@link Layer} (operands, arguments, shape rule,
 * graph construction). A new layer is one class and one line here.
 */
final class LayerRegistry {
  private LayerRegistry() {}

  /** Ops of the language that later issues implement; rejected with "not supported yet". */
  static final Set<String> NOT_YET = Set.of(
      "sample_normal", "project", "kl_normal", "dice", "attention");

  private static final Map<String, Layer> LAYERS;

  static {
    List<Layer> all = new ArrayList<>();
    all.add(new Dense());
    all.add(new EmbeddingLayer());
    all.add(new EmbeddingBagLayer());
    all.addAll(RecurrentLayer.all());
    all.addAll(Activation.all());
    all.addAll(Structural.all());
    all.addAll(Convolution.all());
    all.addAll(Normalization.all());
    all.addAll(Losses.all());
    Map<String, Layer> byName = new LinkedHashMap<>();
    for (Layer l : all) {
      byName.put(l.name(), l);
    }
    LAYERS = Collections.unmodifiableMap(byName);
  }

  /** The layer called {@code name}; null when there is none. */
  static Layer get(String name) {
    return LAYERS.get(name);
  }

  static boolean has(String name) {
    return LAYERS.containsKey(name);
  }

  /** Every layer name, in registration order. */
  static Set<String> names() {
    return LAYERS.keySet();
  }
}
