package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nnc.codegen.cuda.CudaBackend;
import dev.nnc.codegen.cuda.EmulatedCudaBackend;
import dev.nnc.codegen.cuda.Ptxas;
import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.runtime.cuda.FakeCuda;
import dev.nnc.runtime.Manifest;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CUDA target and device on the command line: the PTX folder, and every refusal with its fix. */
class CudaCliTest {
  @TempDir
  Path tmp;

  @Test
  void compileForCudaWritesPtxItsLaunchesWeightsAndManifest() throws Exception {
    Path out = tmp.resolve("lenet");
    CliRunner.Run r = CliRunner.run("compile", "../samples/lenet5.nn", "--target", "cuda", "--gpu", "sm_90", "-o",
        out.toString());
    assertEquals(0, r.code(), r.all());
    assertTrue(r.out().contains("PTX for sm_90"), r.out());
    Path ptx = out.resolve("lenet5.ptx");
    String text = Files.readString(ptx);
    assertTrue(text.contains(".target sm_90"), "the PTX is for the GPU asked for");
    Ptxas.check(text, "sm_90");
    Manifest m = Manifest.read(out.resolve(Manifest.FILE));
    assertEquals("lenet5.ptx", m.library().file());
    assertEquals(Manifest.sha256(ptx), m.library().sha256());
    assertEquals("sm_90", m.target().cpu());
    JsonNode launches = new ObjectMapper().readTree(out.resolve("launches.json").toFile());
    assertEquals("sm_90", launches.get("arch").asText());
    // Every call of every program has its launch, and its entry point is in the module.
    for (Manifest.Program p : m.programs().values()) {
      for (Manifest.Call c : p.calls()) {
        if (c.repeat() != null) {
          continue;
        }
        JsonNode l = launches.get("kernels").get(c.symbol());
        assertTrue(l != null, c.symbol() + " has a launch");
        assertTrue(text.contains(".entry " + l.get("entry").asText() + "("), c.symbol());
        assertEquals(c.extent(), l.get("blocks").asLong(), c.symbol());
        assertTrue(l.get("threads").asInt() >= 1 && l.get("offsets").isArray(), c.symbol());
      }
    }
    assertTrue(Files.exists(out.resolve("weights.safetensors")));
  }

  @Test
  void badCudaOptionsAreRefusedWithTheFix() {
    String[][] cases = {
        {"--gpu sm_12 is not a GPU architecture nnc knows; use one of sm_70", "compile", "../samples/xor.nn",
            "--target", "cuda", "--gpu", "sm_12", "-o", tmp.resolve("a").toString()},
        {"--gpu sm_80 needs --target cuda", "compile", "../samples/xor.nn", "--gpu", "sm_80", "-o",
            tmp.resolve("b").toString()},
        {"--target tpu is not a target nnc knows; use cpu or cuda", "compile", "../samples/xor.nn", "--target", "tpu",
            "-o", tmp.resolve("c").toString()},
        {"--cpu x86-64-v3 is for --target cpu", "compile", "../samples/xor.nn", "--target", "cuda", "--cpu",
            "x86-64-v3", "-o", tmp.resolve("e").toString()},
        {"--device tpu is not a device nnc knows; use cpu or cuda", "train", "../samples/xor.nn", "--device", "tpu"},
        {"--tf32 needs --target cuda (the tensor cores of an NVIDIA GPU)", "compile", "../samples/xor.nn", "--tf32", "-o",
            tmp.resolve("f").toString()},
        {"TF32 tensor cores need sm_80 or newer, not sm_75; leave out --tf32 or choose --gpu sm_80", "compile",
            "../samples/xor.nn", "--target", "cuda", "--gpu", "sm_75", "--tf32", "-o", tmp.resolve("g").toString()},
        {"--tf32 needs --device cuda (the tensor cores of an NVIDIA GPU)", "train", "../samples/xor.nn", "--tf32"},
    };
    for (String[] c : cases) {
      String[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
      CliRunner.Run r = CliRunner.run(args);
      assertEquals(1, r.code(), String.join(" ", args) + ":\n" + r.all());
      assertTrue(r.err().contains(c[0]), String.join(" ", args) + ":\n" + r.all());
      assertFalse(r.all().contains("\tat "), "no stack trace:\n" + r.all());
    }
    assertFalse(Files.exists(tmp.resolve("a")), "nothing written for refused options");
    assertFalse(Files.exists(tmp.resolve("g")), "nothing written for refused options");
  }

  /** {@code --tf32}: the GEMMs that run register-blocked run on the tensor cores, and the report says how many. */
  @Test
  void tf32PutsTheLargeGemmsOnTheTensorCores() throws Exception {
    Path fp32 = tmp.resolve("fp32");
    Path tf32 = tmp.resolve("tf32");
    CliRunner.Run a = CliRunner.run("compile", "../samples/mlp.nn", "--target", "cuda", "--batch", "2048", "-o",
        fp32.toString());
    assertEquals(0, a.code(), a.all());
    assertFalse(a.out().contains("TF32"), a.out());
    CliRunner.Run b = CliRunner.run("compile", "../samples/mlp.nn", "--target", "cuda", "--batch", "2048",
        "--tf32", "-o", tf32.toString());
    assertEquals(0, b.code(), b.all());
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("TF32: (\\d+) GEMMs? on the tensor cores").matcher(b.out());
    assertTrue(m.find() && Integer.parseInt(m.group(1)) > 0, b.out());
    String ptx = Files.readString(tf32.resolve("mlp.ptx"));
    assertTrue(ptx.contains("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32"), "tensor-core GEMMs");
    assertFalse(Files.readString(fp32.resolve("mlp.ptx")).contains("mma.sync"), "FP32 unless asked");
    Ptxas.check(ptx, "sm_80");
  }

  /** Without a driver: every running command says there is none and to use the CPU. */
  @Test
  void cudaDeviceIsRefusedClearlyByEveryRunningCommand() {
    String before = System.getProperty("nnc.cuda.driver");
    System.setProperty("nnc.cuda.driver", tmp.resolve("no-libcuda.so.1").toString());
    try {
      for (String cmd : new String[] {"train", "eval", "predict", "bench"}) {
        CliRunner.Run r = CliRunner.run(cmd, "../samples/xor.nn", "--device", "cuda");
        assertEquals(1, r.code(), cmd + ":\n" + r.all());
        assertTrue(r.err().contains("error: no CUDA driver found (" + tmp.resolve("no-libcuda.so.1") + " could not be "
            + "loaded"), cmd + ":\n" + r.all());
        assertTrue(r.err().contains("use --device cpu"), cmd + ":\n" + r.all());
        assertFalse(r.all().contains("\tat "), "no stack trace:\n" + r.all());
      }
    } finally {
      restore(before);
    }
  }

  static void restore(String driver) {
    if (driver == null) {
      System.clearProperty("nnc.cuda.driver");
    } else {
      System.setProperty("nnc.cuda.driver", driver);
    }
  }

  @Test
  void aMissingDriverLibraryIsNamed() {
    UserError e = assertThrows(UserError.class, () -> DeviceOption.check("cuda", "libcuda-not-here.so.1"));
    assertEquals("no CUDA driver found (libcuda-not-here.so.1 could not be loaded: there is no NVIDIA driver on this "
        + "machine, or NNC_CUDA_DRIVER names a missing file); use --device cpu", e.getMessage());
  }

  /**
   * {@code --device cuda} end to end on the stand-in driver (its kernels: the emulated back end's
   * driver entries for the same model): train, then eval, predict and bench on the GPU; training
   * reaches what it does on the CPU.
   */
  @Test
  void trainEvalPredictAndBenchRunOnTheGpu() throws Exception {
    Program prog = Program.parse(SourceFile.read(Path.of("../samples/xor.nn")));
    Recipe r = Elaborator.recipe(prog, null);
    ModelCompiler.Result kernels = ModelCompiler.compile(prog, null, r, r.batch(), new EmulatedCudaBackend(true),
        CudaBackend.DEFAULT_ARCH);
    Path so = tmp.resolve("xor-kernels.so");
    kernels.compiled().writeLibrary(so);
    FakeCuda.useKernels(so);
    String before = System.getProperty("nnc.cuda.driver");
    System.setProperty("nnc.cuda.driver", FakeCuda.library().toString());
    try {
      long launches = FakeCuda.stat("launches");
      Path run = tmp.resolve("run");
      CliRunner.Run t = CliRunner.run("train", "../samples/xor.nn", "--device", "cuda", "-o", run.toString(), "--quiet");
      assertEquals(0, t.code(), t.all());
      assertTrue(t.out().contains("on GPU 0, nnc stand-in GPU 0 (sm_80, 1024 MiB)"), t.out());
      assertTrue(t.out().contains("(PTX for sm_80:"), "compiled for the GPU:\n" + t.out());
      assertTrue(FakeCuda.stat("launches") - launches >= 300, "the kernels ran on the GPU runtime");
      double gpu = CliRunner.testAccuracy(t.out());
      CliRunner.Run c = CliRunner.run("train", "../samples/xor.nn", "-o", tmp.resolve("cpu").toString(), "--quiet");
      assertEquals(0, c.code(), c.all());
      assertEquals(CliRunner.testAccuracy(c.out()), gpu, "the GPU trains as the CPU does");
      assertEquals(1.0, gpu, "XOR learnt");

      Path weights = run.resolve("weights.safetensors");
      CliRunner.Run e = CliRunner.run("eval", "../samples/xor.nn", "--device", "cuda", "--weights", weights.toString());
      assertEquals(0, e.code(), e.all());
      assertTrue(e.out().contains("accuracy 1.0000"), e.out());
      Path csv = tmp.resolve("in.csv");
      Files.writeString(csv, "x0,x1\n0,1\n1,1\n");
      CliRunner.Run p = CliRunner.run("predict", "../samples/xor.nn", "--device", "cuda", "--weights", weights.toString(),
          "--input", csv.toString());
      assertEquals(0, p.code(), p.all());
      CliRunner.Run b = CliRunner.run("bench", "../samples/xor.nn", "--device", "cuda", "--vs", "none", "--time", "0.2");
      assertEquals(0, b.code(), b.all());
      assertTrue(b.out().contains("bench Xor: batch 4, GPU 0, nnc stand-in GPU 0"), b.out());
      assertEquals(0, FakeCuda.stat("live"), "every command freed its GPU memory");
    } finally {
      restore(before);
      FakeCuda.useKernels(null);
    }
  }

  /** A GPU folder loaded where it cannot run: no driver, or a GPU older than its PTX; each with the fix. */
  @Test
  void aGpuFolderIsRefusedWhereItCannotRun() throws Exception {
    Path out = tmp.resolve("xor90");
    CliRunner.Run c = CliRunner.run("compile", "../samples/xor.nn", "--target", "cuda", "--gpu", "sm_90", "-o",
        out.toString());
    assertEquals(0, c.code(), c.all());
    String before = System.getProperty("nnc.cuda.driver");
    try {
      System.setProperty("nnc.cuda.driver", tmp.resolve("none.so").toString());
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> dev.nnc.runtime.LoadedModel.load(out, 1, 1));
      assertEquals(out + " holds GPU code (PTX for sm_90) and no CUDA driver found (" + tmp.resolve("none.so")
          + " could not be loaded: there is no NVIDIA driver on this machine, or NNC_CUDA_DRIVER names a missing "
          + "file); compile the model for the CPU (nnc compile --target cpu) to run it here", e.getMessage());
      System.setProperty("nnc.cuda.driver", FakeCuda.library().toString());
      e = assertThrows(IllegalStateException.class, () -> dev.nnc.runtime.LoadedModel.load(out, 1, 1));
      assertEquals(out + " holds PTX for sm_90, newer than GPU 0, nnc stand-in GPU 0 (sm_80, 1024 MiB) runs; compile "
          + "the model with --gpu sm_80 (or an older architecture)", e.getMessage());
    } finally {
      restore(before);
    }
    assertEquals(dev.nnc.runtime.cuda.CudaModels.TRIPLE, CudaBackend.TRIPLE, "the runtime knows GPU manifests");
  }
}
