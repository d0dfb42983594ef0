package dev.nnc.ir;

/** A shape or dtype rule rejected its operands; the message is written for the model's author. */
public final class ShapeException extends RuntimeException {
  public ShapeException(String message) {
    super(message);
  }
}
