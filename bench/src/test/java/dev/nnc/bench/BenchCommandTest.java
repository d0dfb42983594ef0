package dev.nnc.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.cli.Nnc;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code nnc bench} with its libtorch baseline: the model rebuilt from nnc's graph computes the
 * same outputs and the same first training loss (batchnorm in training mode, residual adds,
 * concat, pooling with padding, the optimizers libtorch has), and the report has both engines'
 * times and the speed-up.
 */
class BenchCommandTest {
  @TempDir
  Path tmp;

  record Run(int code, String out) {}

  static synchronized Run nnc(String... args) {
    PrintStream old = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    StringWriter w = new StringWriter();
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = Nnc.execute(args, new PrintWriter(w, true), new PrintWriter(w, true));
    } finally {
      System.setOut(old);
      System.setErr(oldErr);
    }
    return new Run(code, captured.toString(StandardCharsets.UTF_8) + w);
  }

  static final String SAMPLES = "../samples/";

  /** The speed-up of a report row, which must be there with both engines' times. */
  static double speedup(String out, String row) {
    Matcher m = Pattern.compile(row + " +[0-9.]+ \\([0-9.]+–[0-9.]+\\) +[0-9.]+ \\([0-9.]+–[0-9.]+\\) +([0-9.]+)x")
        .matcher(out);
    assertTrue(m.find(), "a timed " + row + " row:\n" + out);
    return Double.parseDouble(m.group(1));
  }

  @Test
  void lenetAgreesWithLibtorchAndIsTimed() {
    Run r = nnc("bench", SAMPLES + "lenet5.nn", "--batch", "8", "--threads", "1", "--time", "0.05");
    assertEquals(0, r.code(), r.out());
    assertTrue(r.out().contains("check: logits agree (80 values"), r.out());
    Matcher loss = Pattern.compile("first training step loss ([0-9.]+) and ([0-9.]+)").matcher(r.out());
    assertTrue(loss.find(), r.out());
    assertEquals(Double.parseDouble(loss.group(1)), Double.parseDouble(loss.group(2)), 1e-4);
    assertTrue(r.out().contains("conv2d ×2, linear ×3, max_pool2d ×2"), "layers run as libtorch's own calls:\n"
        + r.out());
    assertTrue(speedup(r.out(), "inference") > 0);
    assertTrue(speedup(r.out(), "training step") > 0);
  }

  /** Batchnorm (training mode: batch statistics, running averages), residual adds, concat, padded pooling, SGD. */
  @Test
  void residualBatchnormModelAgrees() throws Exception {
    Path f = tmp.resolve("m.nn");
    Files.writeString(f, """
        block res(c) (x) {
          y = x -> conv2d(c, 3, padding=1, bias=false) -> batchnorm -> relu -> conv2d(c, 3, padding=same)
          return relu(y + x)
        }
        model M {
          input image: [3, 9, 9]
          h = image -> conv2d(4, 3, padding=1, bias=false) -> batchnorm(momentum=0.2) -> relu -> res(4)
          a = h -> maxpool(3, stride=2, padding=1)
          b = h -> avgpool(2, ceil_mode=true) -> conv_transpose2d(4, [3, 2], stride=2, padding=1, output_padding=1)
                -> upsample(2, mode=bilinear) -> maxpool(4) -> zeropad([0, 1, 0, 0])
          output logits = concat(a, b) -> global_avgpool -> dense(5) -> leaky_relu(0.1)
        }
        train M {
          data = synthetic(examples=16)
          loss = cross_entropy(logits, label)
          optimizer = sgd(lr=0.1, momentum=0.9, nesterov=true)
          batch = 4
        }
        """);
    Run r = nnc("bench", f.toString(), "--threads", "1", "--time", "0.05");
    assertEquals(0, r.code(), r.out());
    assertTrue(r.out().contains("check: logits agree (20 values"), r.out());
    assertTrue(r.out().contains("batch_norm ×2") && r.out().contains("conv_transpose2d ×1")
        && r.out().contains("upsample_bilinear2d ×1"), r.out());
    assertTrue(r.out().contains("first training step loss"), r.out());
    speedup(r.out(), "training step");
  }

  @Test
  void dropoutSkipsOnlyTheLossComparison() throws Exception {
    Path f = tmp.resolve("d.nn");
    Files.writeString(f, """
        model D {
          input x: [12]
          output y = x -> dense(16) -> relu -> dropout(0.3) -> dense(3)
        }
        train D {
          data = synthetic(examples=8)
          loss = cross_entropy(y, label)
          optimizer = adam(lr=0.01)
          batch = 4
        }
        """);
    Run r = nnc("bench", f.toString(), "--threads", "1", "--time", "0.02");
    assertEquals(0, r.code(), r.out());
    assertTrue(r.out().contains("check: y agree") && r.out().contains("training losses not compared (dropout"),
        r.out());
  }

  @Test
  void nncAloneWithVsNone() {
    Run r = nnc("bench", SAMPLES + "mlp.nn", "--vs", "none", "--batch", "4", "--time", "0.02");
    assertEquals(0, r.code(), r.out());
    assertTrue(r.out().contains("inference") && r.out().contains("—"), r.out());
  }

  @Test
  void optimizerLibtorchLacksIsAClearError() throws Exception {
    Path f = tmp.resolve("o.nn");
    Files.writeString(f, """
        model O {
          input x: [4]
          output y = x -> dense(3)
        }
        train O {
          data = synthetic(examples=8)
          loss = cross_entropy(y, label)
          optimizer = adadelta
          batch = 4
        }
        """);
    Run r = nnc("bench", f.toString(), "--time", "0.02");
    assertEquals(1, r.code(), r.out());
    assertTrue(r.out().contains("libtorch's C++ API has no adadelta optimizer"), r.out());
    Run unknown = nnc("bench", f.toString(), "--vs", "onnx");
    assertEquals(1, unknown.code(), unknown.out());
    assertTrue(unknown.out().contains("no baseline engine named 'onnx'; available: torch"), unknown.out());
  }
}
