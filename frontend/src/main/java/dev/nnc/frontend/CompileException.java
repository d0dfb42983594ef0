package dev.nnc.frontend;

import java.util.List;
import java.util.stream.Collectors;

/** Thrown when a source file has errors; carries all of them, not only the first. */
public final class CompileException extends Exception {
  private final List<Diagnostic> diagnostics;
  private final SourceFile source;

  public CompileException(SourceFile source, List<Diagnostic> diagnostics) {
    super(diagnostics.stream().map(Diagnostic::toString).collect(Collectors.joining("\n")));
    this.source = source;
    this.diagnostics = List.copyOf(diagnostics);
  }

  public List<Diagnostic> diagnostics() {
    return diagnostics;
  }

  /** Every diagnostic rendered with its source line and caret, then a count. */
  public String render() {
    StringBuilder sb = new StringBuilder();
    for (Diagnostic d : diagnostics) {
      sb.append(d.render(source));
    }
    sb.append(diagnostics.size()).append(diagnostics.size() == 1 ? " error" : " errors").append('\n');
    return sb.toString();
  }
}
