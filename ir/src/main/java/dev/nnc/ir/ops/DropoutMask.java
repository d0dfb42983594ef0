package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.TensorType;
import java.util.List;

/**
 * A fresh dropout mask per step: each element is 0 with probability {@code rate}, else
 * {@code 1/(1-rate)} (inverted dropout). The operand is the step counter; {@code salt} tells the
 * masks of one step apart. The random bits are a counter-based hash ({@link #uniform}), so the
 * interpreter and every back end draw the same mask.
 */
public record DropoutMask(double rate, Shape shape, int salt) implements Op {
  @Override
  public boolean elementwise() {
    return true;
  }

  @Override
  public boolean random() {
    return true;
  }

  @Override
  public String mnemonic() {
    return "dropout_mask";
  }

  @Override
  public String attributes() {
    return "rate=" + rate + ", shape=" + shape + ", salt=" + salt;
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    return TensorType.f32(shape);
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return Ops.grads((Node) null);
  }

  /** A 32-bit integer hash (lowbias32 by C. Wellons) of the element index, step and salt. */
  public static int hash(int index, int step, int salt) {
    int x = index ^ (step * 0x9E3779B9) ^ (salt * 0x85EBCA6B);
    x ^= x >>> 16;
    x *= 0x7feb352d;
    x ^= x >>> 15;
    x *= 0x846ca68b;
    x ^= x >>> 16;
    return x;
  }

  /** Uniform in [0, 1) from the top 24 bits of the hash, exact in f32. */
  public static double uniform(int index, int step, int salt) {
    return (hash(index, step, salt) >>> 8) * (1.0 / (1 << 24));
  }

  public double maskValue(int index, int step) {
    return uniform(index, step, salt) < rate ? 0 : 1 / (1 - rate);
  }
}
