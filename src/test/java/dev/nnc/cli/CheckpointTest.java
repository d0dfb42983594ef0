package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.runtime.Checkpoint;
import dev.nnc.runtime.SafeTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoints after every epoch, {@code --resume}, and the run folder as one set: a run killed
 * after epoch 2 of 6 and resumed ends with the same bytes as one that never stopped.
 */
class CheckpointTest {
  @TempDir
  Path tmp;

  static final String[] MLP_RUN = {"--limit", "3000", "-q", "--threads", "2"};

  private CliRunner.Run train(String out, int epochs, String... more) {
    List<String> args = new ArrayList<>(List.of("train", CliTest.MLP, "--epochs", String.valueOf(epochs)));
    args.addAll(List.of(MLP_RUN));
    args.addAll(List.of(more));
    if (out != null) {
      args.addAll(List.of("-o", out));
    }
    return CliRunner.run(args.toArray(String[]::new));
  }

  private static int epochsIn(Path checkpoint) throws Exception {
    String progress = SafeTensors.metadata(checkpoint).get("progress");
    return new com.fasterxml.jackson.databind.ObjectMapper().readTree(progress).get("epochs").asInt();
  }

  @Test
  void killedRunResumesToTheSameBytes() throws Exception {
    Path whole = tmp.resolve("whole");
    assertEquals(0, train(whole.toString(), 6).code());
    assertTrue(Files.isRegularFile(whole.resolve(Checkpoint.DIR).resolve(Checkpoint.BEST)));
    assertEquals(6, epochsIn(whole.resolve(Checkpoint.DIR).resolve(Checkpoint.LAST)));

    // A real kill (SIGKILL) of a separate process once its checkpoint says epoch 2.
    Path killed = tmp.resolve("killed");
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "-Dnnc.cache.dir=" + System.getProperty("nnc.cache.dir", "off"), "-cp",
        System.getProperty("java.class.path"), Nnc.class.getName(), "train", CliTest.MLP, "--epochs", "6"));
    cmd.addAll(List.of(MLP_RUN));
    cmd.addAll(List.of("-o", killed.toString()));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("killed.log").toFile())
        .start();
    Path last = killed.resolve("checkpoints/last.safetensors");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    int at = -1;
    while (p.isAlive() && System.nanoTime() < deadline) {
      if (Files.isRegularFile(last) && (at = epochsIn(last)) >= 2) {
        p.destroyForcibly();
        break;
      }
      Thread.sleep(5);
    }
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    at = epochsIn(last);
    assertTrue(at >= 2 && at < 6, "killed after epoch " + at + ":\n" + Files.readString(tmp.resolve("killed.log")));
    assertTrue(!Files.exists(killed.resolve("run.json")), "the killed run wrote no final set");

    CliRunner.Run r = CliRunner.run("train", CliTest.MLP, "--epochs", "6", "--limit", "3000", "-q", "--threads", "2",
        "--resume", killed.toString());
    assertEquals(0, r.code(), r.all());
    assertTrue(r.out().contains("resuming Mlp from " + last + " after epoch " + at + " of 6"), r.out());
    assertArrayEquals(Files.readAllBytes(whole.resolve("weights.safetensors")),
        Files.readAllBytes(killed.resolve("weights.safetensors")), "resumed weights equal the uninterrupted run's");
    assertEquals(Files.readAllLines(whole.resolve("history.csv")).size(),
        Files.readAllLines(killed.resolve("history.csv")).size(), "the history covers all six epochs");
  }

  /** Extending a finished run: 2 epochs, then --resume with 4, equals 4 epochs straight. */
  @Test
  void extendingARunEqualsTrainingLonger() throws Exception {
    Path four = tmp.resolve("four");
    Path two = tmp.resolve("two");
    assertEquals(0, train(four.toString(), 4).code());
    assertEquals(0, train(two.toString(), 2).code());
    CliRunner.Run r = train(null, 4, "--resume", two.toString());
    assertEquals(0, r.code(), r.all());
    assertArrayEquals(Files.readAllBytes(four.resolve("weights.safetensors")),
        Files.readAllBytes(two.resolve("weights.safetensors")));
  }

  @Test
  void checkpointsOfAnotherModelOrRecipeAreRefused() throws Exception {
    Path xor = tmp.resolve("xor");
    assertEquals(0, CliRunner.run("train", CliTest.XOR, "--epochs", "2", "-q", "-o", xor.toString()).code());
    CliRunner.Run r = train(null, 2, "--resume", xor.toString());
    assertEquals(1, r.code(), r.all());
    assertTrue(r.err().contains("is a checkpoint of model Xor, not of Mlp"), r.err());

    Path run = tmp.resolve("run");
    assertEquals(0, train(run.toString(), 1).code());
    Path changed = tmp.resolve("changed.nn");
    Files.writeString(changed, Files.readString(Path.of(CliTest.MLP)).replace("adam(lr=1e-3)", "adam(lr=2e-3)"));
    r = CliRunner.run("train", changed.toString(), "--epochs", "2", "--limit", "3000", "-q", "--data",
        "../samples/data/fashion-mnist", "--resume", run.toString());
    assertEquals(1, r.code(), r.all());
    assertTrue(r.err().contains("was saved with another version of model Mlp or of its recipe"), r.err());
    CliTest.noStackTrace(r);

    r = train(null, 2, "--resume", tmp.resolve("nowhere").toString());
    assertEquals(1, r.code(), r.all());
    assertTrue(r.err().contains("no such checkpoint"), r.err());
  }

  /** run.json vouches for the set: weights from another run in the folder are refused by eval. */
  @Test
  void aRunFolderMixingTwoRunsIsRefused() throws Exception {
    Path a = tmp.resolve("a");
    Path b = tmp.resolve("b");
    assertEquals(0, train(a.toString(), 1).code());
    assertEquals(0, train(b.toString(), 2).code());
    CliRunner.Run ok = CliRunner.run("eval", CliTest.MLP, "--weights", a.resolve("weights.safetensors").toString());
    assertEquals(0, ok.code(), ok.all());
    Files.copy(b.resolve("weights.safetensors"), a.resolve("weights.safetensors"),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    CliRunner.Run r = CliRunner.run("eval", CliTest.MLP, "--weights", a.resolve("weights.safetensors").toString());
    assertEquals(1, r.code(), r.all());
    assertTrue(r.err().contains("is not the weights file that " + a.toAbsolutePath().resolve("run.json")), r.err());
  }
}
