package dev.nnc.bench;

import dev.nnc.cli.ModelCompiler;
import dev.nnc.runtime.NativeModel;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Transcendental activations over a 64×4096 batch (262,144 elements): nnc's generated kernel
 * beside libtorch's, same process, same threads. {@code vecmath=false} compiles nnc's kernel with
 * scalar libm calls instead of glibc's libmvec (the property is read at the fork's first compile),
 * to show what the vector math library brings.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 6, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xss8m"})
public class ActivationBench {
  static final int BATCH = 64;
  static final int WIDTH = 4096;

  @Param({"tanh", "sigmoid", "gelu", "softplus"})
  String fn;

  @Param({"true"})
  String vecmath;

  @Param({"2"})
  int threads;

  NativeModel nnc;
  Tensor x;
  NoGradGuard noGrad;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    System.setProperty("nnc.vecmath", vecmath);
    nnc = Models.compile("""
        model A {
          input x: [%d]
          output y = x -> %s
        }
        """.formatted(WIDTH, fn), BATCH, threads);
    float[] xv = Models.random(BATCH * WIDTH, 1);
    nnc.setInput(ModelCompiler.PREDICT, "x", xv);
    torch.set_num_threads(threads);
    noGrad = new NoGradGuard();
    x = Models.tensor(xv, BATCH, WIDTH);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    nnc.close();
  }

  @Benchmark
  public void nnc() {
    nnc.run(ModelCompiler.PREDICT);
  }

  @Benchmark
  public Tensor libtorch() {
    return switch (fn) {
      case "tanh" -> torch.tanh(x);
      case "sigmoid" -> torch.sigmoid(x);
      case "gelu" -> torch.gelu(x);
      case "softplus" -> torch.softplus(x);
      default -> throw new IllegalArgumentException(fn);
    };
  }
}
