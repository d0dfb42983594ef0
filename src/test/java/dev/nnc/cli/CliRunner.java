package dev.nnc.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;

/** Runs the CLI in-process, capturing what it prints. */
final class CliRunner {
  record Run(int code, String out, String err) {
    String all() {
      return out + err;
    }
  }

  private CliRunner() {}

  static synchronized Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    ByteArrayOutputStream capturedErr = new ByteArrayOutputStream();
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(capturedErr, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = Nnc.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
    } finally {
      System.out.flush();
      System.err.flush();
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
    return new Run(code, out + captured.toString(StandardCharsets.UTF_8),
        capturedErr.toString(StandardCharsets.UTF_8) + err);
  }

  /** The test accuracy that {@code nnc train} prints last. */
  static double testAccuracy(String out) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("test: loss [0-9.]+  accuracy ([0-9.]+)").matcher(out);
    if (!m.find()) {
      throw new AssertionError("no test accuracy in:\n" + out);
    }
    return Double.parseDouble(m.group(1));
  }
}
