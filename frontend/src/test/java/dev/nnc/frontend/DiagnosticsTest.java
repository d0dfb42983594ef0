package dev.nnc.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every file in {@code bad/} is a malformed model whose header lists the errors it must produce:
 * {@code // expect: LINE:COL: message | hint}. All of them, and nothing else, must be reported,
 * at the right place, with the message (and hint) given.
 */
class DiagnosticsTest {
  static Stream<Path> files() throws IOException {
    Path dir = Path.of("src/test/resources/bad");
    return Files.list(dir).filter(p -> p.toString().endsWith(".nn")).sorted();
  }

  record Expect(int line, int col, String message, String hint) {}

  static List<Expect> expectations(String text) {
    List<Expect> out = new ArrayList<>();
    for (String l : text.split("\n")) {
      if (!l.startsWith("// expect: ")) {
        continue;
      }
      String[] parts = l.substring(11).split(":", 3);
      String[] mh = parts[2].strip().split(" \\| ", 2);
      out.add(new Expect(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]), mh[0], mh.length > 1 ? mh[1] : null));
    }
    return out;
  }

  @ParameterizedTest
  @MethodSource("files")
  void reportsExpectedErrors(Path file) throws IOException {
    String text = Files.readString(file);
    List<Expect> want = expectations(text);
    assertFalse(want.isEmpty(), file + " has no expectations");
    List<Diagnostic> got = new ArrayList<>();
    String rendered = "";
    try {
      SourceFile src = SourceFile.read(file);
      Program p = Program.parse(src);
      Recipe r = Elaborator.recipe(p, null);
      Elaborator.elaborate(p, null, 4, LayerContext.Mode.TRAIN, r);
      fail(file + " compiled without errors");
    } catch (CompileException e) {
      got = e.diagnostics();
      rendered = e.render();
    }
    for (Expect x : want) {
      boolean found = got.stream().anyMatch(d -> d.line() == x.line() && d.column() == x.col()
          && d.message().contains(x.message()) && (x.hint() == null || (d.hint() != null && d.hint().contains(x.hint()))));
      assertTrue(found, file.getFileName() + ": expected " + x + "\n got:\n" + rendered);
    }
    assertEquals(want.size(), got.size(), file.getFileName() + ": unexpected extra errors:\n" + rendered);
    // Rendering shows the source line and a caret under the column.
    Diagnostic d = got.get(0);
    String line = SourceFile.of("x", text).line(d.line());
    assertTrue(rendered.contains(line), rendered);
    assertTrue(rendered.contains(" ".repeat(d.column() + 1) + "^") || rendered.contains("^"), rendered);
  }
}
