package dev.nnc.cli;

/** A problem with the user's input, printed as {@code error: message} with exit status 1. */
public final class UserError extends RuntimeException {
  public UserError(String message) {
    super(message);
  }
}
