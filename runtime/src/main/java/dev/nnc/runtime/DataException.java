package dev.nnc.runtime;

/** Bad data or weight files: the message names the file and the problem. */
public final class DataException extends java.io.IOException {
  public DataException(String message) {
    super(message);
  }
}
