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
    if (best != null && bestDist <= Math.max(1, Math.min(3, name.length() / 3))) {
      return "did you mean `" + best + "`?";
    }
    return null;
  }

  static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }
}
