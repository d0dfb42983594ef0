package dev.nnc.frontend;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** A source text and the name it is reported under. */
public record SourceFile(String name, String text, Path path) {
  public static SourceFile read(Path p) throws IOException {
    return new SourceFile(p.toString(), Files.readString(p, StandardCharsets.UTF_8), p);
  }

  public static SourceFile of(String name, String text) {
    return new SourceFile(name, text, null);
  }

  /** The 1-based line, without its line break; null when out of range. */
  public String line(int n) {
    String[] lines = text.split("\r?\n", -1);
    return n >= 1 && n <= lines.length ? lines[n - 1] : null;
  }

  /** Resolves a path written in the file relative to the file's folder. */
  public Path resolve(String relative) {
    Path rel = Path.of(relative);
    if (rel.isAbsolute() || path == null) {
      return rel;
    }
    Path dir = path.toAbsolutePath().getParent();
    return dir == null ? rel : dir.resolve(rel);
  }
}
