package dev.nnc.cli;

import dev.nnc.frontend.Elaborated;
import dev.nnc.frontend.Recipe;
import java.util.Map;

/**
 * An engine that runs the same model beside nnc for {@code nnc bench} — libtorch, in the
 * {@code bench} module. Found with {@link java.util.ServiceLoader}, so neither the compiler nor the
 * embedding runtime depends on one.
 */
public interface Baseline {
  /** The name {@code --vs} selects ({@code torch}). */
  String name();

  /** One line for the report: the library, its version and how it was configured. */
  String describe();

  /** Builds the model from the elaborated graphs, with these weights (parameters and buffers, by name). */
  Model build(Spec spec) throws Exception;

  /**
   * What to build: the inference graph; the training-mode graph with its per-example loss (null
   * without a recipe); the recipe (optimizer); the weights; the intra-op threads.
   */
  record Spec(Elaborated inference, Elaborated training, Recipe recipe, Map<String, float[]> weights, int threads) {}

  /** The model built in the baseline engine. */
  interface Model extends AutoCloseable {
    /** Sets an input by the model's input name (labels as class numbers). */
    void setInput(String name, float[] values);

    /** Runs inference (no gradients) and returns the named output. */
    float[] infer(String output);

    /** One training step on the inputs set: zero-grad, forward, loss, backward, optimizer step; returns the loss. */
    double trainStep();

    /** How the model runs in the engine (which layers are single library calls), for the report. */
    String summary();

    /** Whether two engines' training steps can agree exactly enough to compare (false with dropout). */
    boolean deterministicTraining();

    @Override
    void close();
  }
}
