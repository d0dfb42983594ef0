package dev.nnc.frontend;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import org.antlr.v4.runtime.ParserRuleContext;
import org.antlr.v4.runtime.Token;

/** Collects diagnostics for one file, so that all problems are reported at once. */
public final class Diagnostics {
  private final SourceFile source;
  private final List<Diagnostic> list = new ArrayList<>();

  public Diagnostics(SourceFile source) {
    this.source = source;
  }

  public SourceFile source() {
    return source;
  }

  public void error(int line, int col, String message, String hint) {
    Diagnostic d = new Diagnostic(source.name(), line, col, message, hint);
    if (!list.contains(d)) {
      list.add(d);
    }
  }

  public void error(Token t, String message, String hint) {
    error(t.getLine(), t.getCharPositionInLine() + 1, message, hint);
  }

  public void error(ParserRuleContext ctx, String message, String hint) {
    error(ctx.getStart(), message, hint);
  }

  public void error(ParserRuleContext ctx, String message) {
    error(ctx, message, null);
  }

  private final List<Diagnostic> warnings = new ArrayList<>();

  /** A problem that does not stop compilation (a value that is never used). */
  public void warning(Token t, String message, String hint) {
    Diagnostic d = new Diagnostic(source.name(), t.getLine(), t.getCharPositionInLine() + 1, message, hint);
    if (!warnings.contains(d)) {
      warnings.add(d);
    }
  }

  public List<Diagnostic> warnings() {
    List<Diagnostic> sorted = new ArrayList<>(warnings);
    sorted.sort(Comparator.comparingInt(Diagnostic::line).thenComparingInt(Diagnostic::column));
    return sorted;
  }

  public boolean hasErrors() {
    return !list.isEmpty();
  }

  public List<Diagnostic> all() {
    List<Diagnostic> sorted = new ArrayList<>(list);
    sorted.sort(Comparator.comparingInt(Diagnostic::line).thenComparingInt(Diagnostic::column));
    return sorted;
  }

  public void throwIfAny() throws CompileException {
    if (hasErrors()) {
      throw new CompileException(source, all());
    }
  }

  /** "did you mean `dense`?" for the closest candidate within a small edit distance, else null. */
  public static String suggest(String name, Collection<String> candidates) {
    String best = null;
    int bestDist = Integer.MAX_VALUE;
    for (String c : candidates) {
      int d = distance(name.toLowerCase(), c.toLowerCase());
      if (d < bestDist) {
        bestDist = d;
        best = c;
      }
    }
    int allowed = name.length() <= 3 ? 1 : name.length() <= 6 ? 2 : 3;
    if (best != null && bestDist <= allowed && bestDist < name.length()) {
      return "did you mean `" + best + "`?";
    }
    return null;
  }

  /** Edit distance where swapping two adjacent letters counts as one edit ("bais" → "bias"). */
  static int distance(String a, String b) {
    int[][] d = new int[a.length() + 1][b.length() + 1];
    for (int i = 0; i <= a.length(); i++) {
      d[i][0] = i;
    }
    for (int j = 0; j <= b.length(); j++) {
      d[0][j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
        if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
          d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    return d[a.length()][b.length()];
  }
}
