package dev.nnc.frontend;

/**
 * One problem in a source file, at a 1-based line and column, with an optional hint (the fix).
 * {@link #render} prints it the way compilers do: location, message, the line, a caret.
 */
public record Diagnostic(String file, int line, int column, String message, String hint) {
  /** Source lines longer than this are shown as a window around the column. */
  static final int WIDTH = 100;

  public String render(SourceFile src) {
    return render(src, "error");
  }

  /** Rendered as an {@code error} or a {@code warning}. */
  public String render(SourceFile src, String severity) {
    StringBuilder sb = new StringBuilder();
    sb.append(file).append(':').append(line).append(':').append(column).append(": ").append(severity).append(": ")
        .append(message)
        .append('\n');
    String text = src == null ? null : src.line(line);
    int col = column;
    if (text != null && text.length() > WIDTH) {
      // A very long line (a machine-written model): show a window around the column.
      int from = Math.max(0, Math.min(col - 1 - WIDTH / 2, text.length() - WIDTH));
      int to = Math.min(text.length(), from + WIDTH);
      text = (from > 0 ? "…" : "") + text.substring(from, to) + (to < text.length() ? "…" : "");
      col = col - from + (from > 0 ? 1 : 0);
    }
    if (text != null) {
      sb.append("  ").append(text).append('\n');
      sb.append("  ");
      for (int i = 1; i < col && i <= text.length(); i++) {
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
