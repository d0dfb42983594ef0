package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input through the command line: exit status 1, a message with the place and the fix, no trace. */
class HardeningCliTest {
  @TempDir
  Path tmp;

  private Path classifier(String csv) throws Exception {
    Files.writeString(tmp.resolve("d.csv"), csv);
    Path nn = tmp.resolve("c.nn");
    Files.writeString(nn, """
        model C {
          input x: [2]
          output logits = x -> dense(3)
        }
        train C {
          data = csv("d.csv", label="y")
          loss = cross_entropy(logits, label)
          batch = 2
          epochs = 1
        }
        """);
    return nn;
  }

  /** A label outside the model's classes names the file and line in check, train and eval alike. */
  @Test
  void csvLabelsOutsideTheClassesAreLocated() throws Exception {
    Path nn = classifier("a,b,y\n0,1,0\n1,0,2\n1,1,12\n0,0,1\n");
    String want = tmp.resolve("d.csv") + ":4: label 12 is not one of the model's 3 classes (0 to 2)";
    for (String cmd : new String[] {"check", "train", "eval"}) {
      CliRunner.Run r = CliRunner.run(cmd, nn.toString());
      assertEquals(1, r.code(), cmd + ": " + r.all());
      assertTrue(r.err().contains(want), cmd + ": " + r.err());
      CliTest.noStackTrace(r);
    }
    Path ok = classifier("a,b,y\n0,1,0\n1,0,2\n1,1,1\n0,0,1\n");
    assertEquals(0, CliRunner.run("check", ok.toString()).code());
  }

  @Test
  void predictOnAnEmptyCsvSaysSo() throws Exception {
    Path nn = classifier("a,b,y\n0,1,0\n1,0,2\n1,1,1\n0,0,1\n");
    Path run = tmp.resolve("run");
    assertEquals(0, CliRunner.run("train", nn.toString(), "-q", "-o", run.toString()).code());
    Path empty = tmp.resolve("empty.csv");
    Files.writeString(empty, "");
    CliRunner.Run r = CliRunner.run("predict", nn.toString(), "--weights", run.resolve("weights.safetensors").toString(),
        "--input", empty.toString());
    assertEquals(1, r.code(), r.all());
    assertTrue(r.err().contains(empty + ": empty file"), r.err());
    CliTest.noStackTrace(r);
    Files.writeString(empty, "a,b\n");
    r = CliRunner.run("predict", nn.toString(), "--weights", run.resolve("weights.safetensors").toString(),
        "--input", empty.toString());
    assertEquals(1, r.code(), r.all());
    assertTrue(r.err().contains(empty + ": no data rows"), r.err());
  }

  /**
   * Larger than the machine: said by check (which plans the memory without generating code) and by
   * train before it allocates or trains, with both sizes, instead of an OutOfMemoryError.
   */
  @Test
  void anArenaLargerThanTheMachineIsRefusedUpFront() throws Exception {
    Path nn = tmp.resolve("wide.nn");
    // 784 × 2,000,000 weights (6.3 GB) with Adam's two moments and the gradient: over 25 GB.
    Files.writeString(nn, Files.readString(Path.of(CliTest.MLP))
        .replace("-> dense(256) -> relu", "-> dense(2000000) -> relu").replace("-> dense(128) -> relu\n", ""));
    for (CliRunner.Run r : new CliRunner.Run[] {CliRunner.run("check", nn.toString()),
        CliRunner.run("train", nn.toString(), "--data", "../samples/data/fashion-mnist", "--limit", "64", "-q", "-o",
            tmp.resolve("wide").toString())}) {
      assertEquals(1, r.code(), r.all());
      assertTrue(r.err().matches("(?s).*error: model Mlp needs [0-9.]+ GiB of memory .* and this machine has [0-9.]+ "
          + "GiB available.*lower the batch size.*"), r.err());
      assertTrue(!r.out().contains("training Mlp"), "refused before training:\n" + r.out());
      CliTest.noStackTrace(r);
    }
  }

  @Test
  void deadValuesAreWarnedAboutAndNotCounted() throws Exception {
    Path nn = tmp.resolve("dead.nn");
    Files.writeString(nn, """
        model M {
          input x: [4]
          y = x -> dense(3)
          y = x -> dense(2)
          output y
        }
        """);
    CliRunner.Run r = CliRunner.run("check", nn.toString());
    assertEquals(0, r.code(), r.all());
    assertTrue(r.err().contains(nn + ":3:3: warning: the value assigned to `y` here is never used"), r.err());
    assertTrue(r.out().contains("1 layers, 10 parameters"), r.out());
  }

  /** A bad output folder fails before anything is compiled or trained. */
  @Test
  void anOutputPathThatIsAFileFailsFirst() throws Exception {
    Path file = tmp.resolve("file");
    Files.writeString(file, "x");
    for (String cmd : new String[] {"train", "compile"}) {
      CliRunner.Run r = CliRunner.run(cmd, CliTest.XOR, "-o", file.toString());
      assertEquals(1, r.code(), r.all());
      assertTrue(r.err().contains(file + " exists and is not a folder"), r.err());
      assertTrue(!r.out().contains("compiled"), "nothing compiled: " + r.out());
    }
  }
}
