package dev.nnc.frontend;

import dev.nnc.grammar.NnParser;
import dev.nnc.ir.train.OptimizerSpec;
import dev.nnc.ir.train.TrainSpec;
import java.util.List;
import java.util.Map;

/**
 * A checked {@code train} block. The loss stays an expression: it is elaborated into the model's
 * graph, where model outputs and data fields are tensors.
 */
public record Recipe(
    String model,
    DataSpec data,
    NnParser.ExprContext loss,
    OptimizerSpec optimizer,
    Schedule schedule,
    int batch,
    int epochs,
    List<String> metrics,
    double l1,
    double l2,
    double clipValue,
    double clipNorm,
    boolean shuffle,
    double validationSplit,
    EarlyStopping earlyStopping,
    long seed,
    List<String> freeze,
    List<Augmentation> augment) {

  /**
   * One online augmentation of training images: {@code random_crop} (amount = padding),
   * {@code translate} (amount = pixels) or {@code flip_horizontal} (amount unused).
   */
  public record Augmentation(String kind, int amount) {}

  /** A learning-rate schedule: {@code step(every=10, gamma=0.5)}, {@code exponential(gamma=0.95)}, {@code cosine(epochs=20)}. */
  public record Schedule(String kind, Map<String, Double> args) {}

  /** Stop when {@code monitor} (val_loss, val_accuracy, loss, accuracy) has not improved for {@code patience} epochs. */
  public record EarlyStopping(String monitor, int patience, double minDelta) {}

  public TrainSpec trainSpec() {
    return new TrainSpec(optimizer, l1, l2, clipValue, clipNorm);
  }
}
