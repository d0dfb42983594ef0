package dev.nnc.frontend;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** A source text and the name it is reported under. */
public record SourceFile(String name, String text, Path path) {
  /**
   * Reads a UTF-8 source. A leading byte-order mark is dropped (editors on Windows write one);
   * bytes that are not UTF-8 are a {@link MalformedSourceException} that says where.
   */
  public static SourceFile read(Path p) throws IOException {
    byte[] bytes = Files.readAllBytes(p);
    java.nio.charset.CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
        .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
    String text;
    try {
      text = dec.decode(java.nio.ByteBuffer.wrap(bytes)).toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      throw MalformedSourceException.at(p.toString(), bytes);
    }
    if (text.startsWith("\uFEFF")) {
      text = text.substring(1);
    }
    return new SourceFile(p.toString(), text, p);
  }

  /** A source file that is not valid UTF-8; the message gives the line and column of the first bad byte. */
  public static final class MalformedSourceException extends IOException {
    MalformedSourceException(String message) {
      super(message);
    }

    static MalformedSourceException at(String name, byte[] bytes) {
      // The longest valid prefix: decode byte by byte until the decoder stops.
      java.nio.charset.CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT);
      java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(bytes);
      java.nio.CharBuffer out = java.nio.CharBuffer.allocate(bytes.length + 1);
      dec.decode(in, out, true);
      int bad = in.position();
      out.flip();
      int line = 1;
      int col = 1;
      for (int i = 0; i < out.length(); i++) {
        if (out.charAt(i) == '\n') {
          line++;
          col = 1;
        } else {
          col++;
        }
      }
      String b = bad < bytes.length ? String.format("0x%02x", bytes[bad] & 0xff) : "the end";
      return new MalformedSourceException(name + ":" + line + ":" + col + ": the file is not valid UTF-8 (byte " + b
          + "); save it as UTF-8");
    }
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
