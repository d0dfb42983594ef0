package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPU check end to end without a GPU: a bundle packed with the stand-in driver and small
 * sizes, run by the runner in a fresh JVM as {@code DIR/run --stand-in} runs it; it passes, and an
 * op whose results are not within its tolerance fails the check, as does a TF32 case held to
 * FP32's tolerance. (CI also runs
 * {@code scripts/gpu-check dry-run}, which adds the jlinked Java runtime and the script.)
 */
class GpuCheckTest {
  @TempDir
  Path tmp;

  @Test
  void aDryRunPassesAndADifferenceFailsIt() throws Exception {
    Path dir = tmp.resolve("bundle");
    GpuCheckPack.pack(dir, new GpuCheckPack.Options(20, true, true), new PrintStream(PrintStream.nullOutputStream()));
    Run r = run(dir);
    assertEquals(0, r.code(), r.out());
    assertTrue(r.out().contains("gpu-check: GPU 0, nnc stand-in GPU 0 (sm_80, 1024 MiB)"), r.out());
    long ops;
    try (var s = Files.list(dir.resolve("ops"))) {
      ops = s.count();
    }
    assertTrue(ops >= 7, "op cases packed: " + ops);
    int tf32 = dev.nnc.passes.GpuCheckOps.tf32Items(true).size();
    assertTrue(r.out().contains("ops: " + ops + " of " + ops + " equal to the CPU (" + tf32
        + " on the TF32 tensor cores, within TF32's bound)"), r.out());
    assertTrue(r.out().contains("train LeNet-5 on Fashion-MNIST (3000 training, 1000 test images)"), r.out());
    assertTrue(r.out().contains("bench GEMM 64×64×64"), r.out());
    assertTrue(r.out().endsWith("gpu-check: passed\n"), r.out());
    JsonNode results = new ObjectMapper().readTree(dir.resolve("results.json").toFile());
    assertEquals(0, results.get("failed").asInt());
    assertEquals(ops, results.get("ops").size());
    assertTrue(results.get("train").get(0).get("ok").asBoolean());
    assertEquals(4, results.get("bench").size());
    assertTrue(r.out().contains("bench GEMM 128×128×128, TF32"), r.out());

    // One op held to an impossible tolerance: the check says which and fails.
    Path first;
    try (var s = Files.list(dir.resolve("ops"))) {
      first = s.sorted().findFirst().orElseThrow();
    }
    ObjectMapper json = new ObjectMapper();
    ObjectNode item = (ObjectNode) json.readTree(first.resolve("item.json").toFile());
    item.put("tolerance", -1.0);
    json.writeValue(first.resolve("item.json").toFile(), item);
    // A TF32 case held to FP32's tolerance fails it: the GPU's products carry TF32's rounding.
    Path last;
    try (var s = Files.list(dir.resolve("ops"))) {
      last = s.sorted().reduce((x, y) -> y).orElseThrow();
    }
    ObjectNode tf32Item = (ObjectNode) json.readTree(last.resolve("item.json").toFile());
    assertTrue(tf32Item.get("name").asText().startsWith("TF32 "), tf32Item.toString());
    assertTrue(tf32Item.get("tensorCoreKernels").asInt() >= 3, tf32Item.toString());
    tf32Item.put("tf32", 0.0);
    json.writeValue(last.resolve("item.json").toFile(), tf32Item);
    Run bad = run(dir);
    assertEquals(1, bad.code(), bad.out());
    assertTrue(bad.out().contains("op " + item.get("name").asText()), bad.out());
    assertTrue(bad.out().contains("FAILED: error"), bad.out());
    assertTrue(bad.out().contains("op " + tf32Item.get("name").asText()), bad.out());
    assertTrue(bad.out().contains("times TF32's bound"), bad.out());
    assertTrue(bad.out().endsWith("gpu-check: 2 FAILED\n"), bad.out());
  }

  record Run(int code, String out) {}

  /** The runner on {@code dir} in a new JVM on the stand-in driver, as {@code DIR/run --stand-in} does. */
  static Run run(Path dir) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
        "dev.nnc.runtime.cuda.GpuCheckRunner", dir.toString()));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("NNC_CUDA_DRIVER", dir.resolve("stand-in").resolve("libcuda.so.1").toString());
    pb.environment().put("NNC_FAKE_CUDA_KERNELS_DIR", dir.resolve("stand-in").resolve("kernels").toString());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the runner did not finish:\n" + out);
    return new Run(p.exitValue(), out);
  }
}
