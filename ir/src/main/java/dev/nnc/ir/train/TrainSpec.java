package dev.nnc.ir.train;

/**
 * What the training graph compiles in besides the loss: the optimizer, regularisation (added to
 * the loss: l1·Σ|w| + l2·Σw² over weight matrices, as Keras' regularizers) and gradient clipping
 * (by value, then by global norm as {@code torch.nn.utils.clip_grad_norm_}); 0 turns each off.
 */
public record TrainSpec(OptimizerSpec optimizer, double l1, double l2, double clipValue, double clipNorm) {
  public static TrainSpec of(OptimizerSpec optimizer) {
    return new TrainSpec(optimizer, 0, 0, 0, 0);
  }
}
