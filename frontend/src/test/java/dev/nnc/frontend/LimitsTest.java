package dev.nnc.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.ir.ops.Param;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models and files at and past the limits: located errors, never a stack overflow, heap
 * exhaustion or a trace; encodings; values that are never used.
 */
class LimitsTest {
  @TempDir
  Path tmp;

  static Elaborated elaborate(String text) throws CompileException {
    Program p = Program.parse(SourceFile.of("t.nn", text));
    return Elaborator.elaborate(p, null, 2, LayerContext.Mode.INFER, null);
  }

  /** A machine-written chain of 300,000 stages on one line: the layer limit, at its column. */
  @Test
  void veryLongChainIsALocatedErrorNotAStackOverflow() {
    String chain = "x" + " -> relu".repeat(300_000);
    CompileException e = assertThrows(CompileException.class,
        () -> elaborate("model M {\n  input x: [4]\n  output y = " + chain + "\n}\n"));
    Diagnostic d = e.diagnostics().get(0);
    assertEquals(3, d.line());
    assertEquals("the model is too large: more than 2,000 layers", d.message());
    // The 2,001st relu: "  output y = x" is 14 characters, each " -> relu" 8.
    assertEquals(14 + 2000 * 8 + 5, d.column());
    // A very long line is shown as a window around the column, caret included.
    String rendered = e.render();
    assertTrue(rendered.lines().allMatch(l -> l.length() < 200), rendered.substring(0, Math.min(400, rendered.length())));
  }

  /** Just under the limit compiles (elaborates) fine. */
  @Test
  void chainAtTheLimitElaborates() throws Exception {
    Elaborated e = elaborate("model M {\n  input x: [4]\n  output y = x" + " -> relu".repeat(Elaborator.MAX_LAYERS)
        + "\n}\n");
    assertEquals(Elaborator.MAX_LAYERS, e.layers().size());
  }

  @Test
  void deeplyNestedParenthesesAreALocatedError() {
    int depth = 200_000;
    String expr = "(".repeat(depth) + "x" + ")".repeat(depth);
    CompileException e = assertThrows(CompileException.class,
        () -> elaborate("model M {\n  input x: [4]\n  output y = " + expr + " -> dense(1)\n}\n"));
    assertTrue(e.diagnostics().get(0).message().contains("too deeply"), e.render());
  }

  @Test
  void byteOrderMarkIsIgnoredAndBadUtf8IsLocated() throws Exception {
    Path bom = tmp.resolve("bom.nn");
    Files.write(bom, ("\uFEFFmodel M {\n  input x: [4]\n  output y = x -> dense(2)\n}\n").getBytes(StandardCharsets.UTF_8));
    Program.parse(SourceFile.read(bom));
    Path bad = tmp.resolve("bad.nn");
    byte[] head = "model M {\n  input x: [4]  // caf".getBytes(StandardCharsets.UTF_8);
    byte[] bytes = new byte[head.length + 1];
    System.arraycopy(head, 0, bytes, 0, head.length);
    bytes[head.length] = (byte) 0xE9; // Latin-1 é
    Files.write(bad, bytes);
    SourceFile.MalformedSourceException e = assertThrows(SourceFile.MalformedSourceException.class,
        () -> SourceFile.read(bad));
    assertEquals(bad + ":2:23: the file is not valid UTF-8 (byte 0xe9); save it as UTF-8", e.getMessage());
  }

  /** A value assigned and never used: a warning at its assignment, and its layer is not in the model. */
  @Test
  void deadValuesAreWarnedAboutAndLeftOut() throws Exception {
    Elaborated e = elaborate("""
        model M {
          input x: [4]
          y = x -> dense(3)
          y = x -> dense(2)
          z = y -> dense(7)
          h = x -> dense(5)
          h = h -> relu
          output y, h
        }
        """);
    assertEquals(2, e.warnings().size(), e.warnings().toString());
    assertEquals(3, e.warnings().get(0).line());
    assertEquals(3, e.warnings().get(0).column());
    assertTrue(e.warnings().get(0).message().contains("`y` here is never used"));
    assertEquals(5, e.warnings().get(1).line());
    assertEquals(java.util.List.of("dense2", "dense4", "relu1"),
        e.layers().stream().map(Elaborated.LayerInfo::path).toList());
    long params = e.graph().params().stream().mapToLong(n -> n.shape().size()).sum();
    assertEquals(4 * 2 + 2 + 4 * 5 + 5, params, "dense1 and dense3 are neither in the graph nor counted");
    assertTrue(e.graph().params().stream().map(n -> ((Param) n.op()).name()).noneMatch(n -> n.startsWith("dense1")
        || n.startsWith("dense3")));
  }
}
