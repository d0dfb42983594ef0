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
 * sgemm n×n×n, C = X·Wᵀ (the dense-layer form): nnc's generated GEMM beside libtorch's matmul in
 * the same process, same thread count. GFLOP/s = 2n³ / time. nnc packs X on every call and W
 * once per weight change (the weight's packed copy); {@code -jvmArgsAppend
 * -Dnnc.gemm.prepack=false} packs both per call.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 6, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xss8m"})
public class GemmBench {
  @Param({"256", "512", "1024"})
  int n;

  @Param({"2"})
  int threads;

  NativeModel nnc;
  Tensor x;
  Tensor w;
  Tensor wt;
  Tensor out;
  NoGradGuard noGrad;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    nnc = Models.compile("""
        model G {
          input x: [%d]
          output y = x -> dense(%d, bias=false)
        }
        """.formatted(n, n), n, threads);
    float[] xv = Models.random(n * n, 1);
    float[] wv = Models.random(n * n, 2);
    nnc.setInput(ModelCompiler.PREDICT, "x", xv);
    nnc.setParam("dense1.weight", wv);
    torch.set_num_threads(threads);
    noGrad = new NoGradGuard();
    x = Models.tensor(xv, n, n);
    w = Models.tensor(wv, n, n);
    wt = w.t().contiguous();
    out = x.matmul(wt);
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
    return x.matmul(w.t());
  }

  /** libtorch on a pre-transposed, contiguous Wᵀ: plain X·B. */
  @Benchmark
  public Tensor libtorchContiguous() {
    return x.matmul(wt);
  }

  /**
   * libtorch in its most favourable form: {@code mm_out} into a preallocated output (no 4 MB
   * allocation per call at 1024³), on the contiguous Wᵀ.
   */
  @Benchmark
  public Tensor libtorchOut() {
    return torch.mm_out(out, x, wt);
  }
}
