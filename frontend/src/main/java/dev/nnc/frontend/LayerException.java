package dev.nnc.frontend;

/** A layer rejected its arguments or operands; reported at the call with its hint. */
public final class LayerException extends RuntimeException {
  private final String hint;

  public LayerException(String message, String hint) {
    super(message);
    this.hint = hint;
  }

  public LayerException(String message) {
    this(message, null);
  }

  public String hint() {
    return hint;
  }
}
