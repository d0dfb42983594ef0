package dev.nnc.frontend;

/**
 * One problem in a source file, at a 1-based line and column, with an optional hint (the fix).
 * {@link #render} prints it the way compilers do: location, message, the line, a caret.
 */
public record Diagnostic(String file, int line, int column, String message, String hint) {
  public String render(SourceFile src) {
    StringBuilder sb = new StringBuilder();
    sb.append(file).append(':').append(line).append(':').append(column).append(": error: ").append(message)
        .append('\n');
    String text = src == null ? null : src.line(line);
    if (text != null) {
      sb.append("  ").append(text).append('\n');
      sb.append("  ");
      for (int i = 1; i < column && i <= text.length(); i++) {
        sb.append(text.charAt(i - 1) == '\t' ? '\t' : ' ');
      }
      sb.append("^\n");
    }
    if (hint != null && !hint.isEmpty()) {
      sb.append("  hint: ").append(hint).append('\n');
    }
    return sb.toString();
  }

  @Override
  public String toString() {
    return file + ":" + line + ":" + column + ": " + message + (hint == null ? "" : " (" + hint + ")");
  }
}
