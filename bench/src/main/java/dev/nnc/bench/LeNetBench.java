package dev.nnc.bench;

import dev.nnc.cli.ModelCompiler;
import dev.nnc.runtime.NativeModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
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
 * LeNet-5 of samples/lenet5.nn (conv 5×5 ×6 padded, max pool, conv 5×5 ×16, max pool, 120-84-10,
 * ReLU, cross-entropy, Adam), batch 64 on a fixed batch: one compiled nnc training step beside
 * libtorch's zero_grad + forward + loss + backward + Adam step (oneDNN/ATen convolutions), and
 * inference (nnc's predict program, libtorch's forward under no-grad). Same weights, same threads.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 6, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xss8m"})
public class LeNetBench {
  @Param({"2"})
  int threads;

  static final int BATCH = 64;

  NativeModel nnc;
  Tensor x;
  Tensor labels;
  Tensor c1;
  Tensor cb1;
  Tensor c2;
  Tensor cb2;
  Tensor w1;
  Tensor b1;
  Tensor w2;
  Tensor b2;
  Tensor w3;
  Tensor b3;
  Adam adam;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    Path mlp = Path.of(System.getProperty("nnc.samples", "samples")).resolve("lenet5.nn");
    String text = Files.readString(mlp).replace("data      = fashion_mnist", "data = fashion_mnist");
    nnc = Models.compile(text, BATCH, threads);
    Models.randomInputs(nnc, ModelCompiler.TRAIN, 10);
    Models.randomInputs(nnc, ModelCompiler.PREDICT, 10);
    torch.set_num_threads(threads);
    float[] xv = Models.random(BATCH * 784, 7);
    float[] lv = new float[BATCH];
    for (int i = 0; i < BATCH; i++) {
      lv[i] = i % 10;
    }
    x = Models.tensor(xv, BATCH, 1, 28, 28);
    labels = Models.tensor(lv, BATCH).to(torch.ScalarType.Long);
    c1 = param(nnc.param("conv2d1.weight"), 6, 1, 5, 5);
    cb1 = param(nnc.param("conv2d1.bias"), 6);
    c2 = param(nnc.param("conv2d2.weight"), 16, 6, 5, 5);
    cb2 = param(nnc.param("conv2d2.bias"), 16);
    w1 = param(nnc.param("dense1.weight"), 120, 400);
    b1 = param(nnc.param("dense1.bias"), 120);
    w2 = param(nnc.param("dense2.weight"), 84, 120);
    b2 = param(nnc.param("dense2.bias"), 84);
    w3 = param(nnc.param("dense3.weight"), 10, 84);
    b3 = param(nnc.param("dense3.bias"), 10);
    adam = new Adam(new TensorVector(c1, cb1, c2, cb2, w1, b1, w2, b2, w3, b3), new AdamOptions(1e-3));
    // Both engines compute the same function: nnc's predict program on the benchmark batch
    // equals libtorch's forward (the comparison is meaningless otherwise).
    Models.requireSameLogits(nnc, xv, this::forward);
  }

  private static Tensor param(float[] v, long... shape) {
    Tensor t = Models.tensor(v, shape);
    t.set_requires_grad(true);
    return t;
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    nnc.close();
  }

  private Tensor forward() {
    long[] one = {1, 1};
    Tensor h = torch.conv2d(x, c1, new org.bytedeco.pytorch.TensorOptional(cb1), one, new long[] {2, 2}, one, 1);
    h = torch.max_pool2d(torch.relu(h), 2, 2);
    h = torch.conv2d(h, c2, new org.bytedeco.pytorch.TensorOptional(cb2), one, new long[] {0, 0}, one, 1);
    h = torch.max_pool2d(torch.relu(h), 2, 2).flatten(1, 3);
    h = torch.relu(torch.linear(h, w1, new org.bytedeco.pytorch.TensorOptional(b1)));
    h = torch.relu(torch.linear(h, w2, new org.bytedeco.pytorch.TensorOptional(b2)));
    return torch.linear(h, w3, new org.bytedeco.pytorch.TensorOptional(b3));
  }

  @Benchmark
  public void trainStepNnc() {
    nnc.run(ModelCompiler.TRAIN);
  }

  @Benchmark
  public void trainStepLibtorch() {
    adam.zero_grad();
    Tensor loss = torch.cross_entropy(forward(), labels);
    loss.backward();
    adam.step();
  }

  @Benchmark
  public void inferenceNnc() {
    nnc.run(ModelCompiler.PREDICT);
  }

  @Benchmark
  public Tensor inferenceLibtorch() {
    try (NoGradGuard g = new NoGradGuard()) {
      return forward();
    }
  }
}
