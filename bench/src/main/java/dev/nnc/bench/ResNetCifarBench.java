package dev.nnc.bench;

import dev.nnc.cli.ModelCompiler;
import dev.nnc.runtime.NativeModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
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
 * ResNet-18 at CIFAR shape (samples/resnet18-cifar.nn: 3×3 stem, four stages of basic blocks,
 * batchnorm, global average pooling, 10 classes), batch 32 on a fixed synthetic batch: one nnc
 * training step (forward, loss, backward, SGD with momentum, batchnorm's running statistics)
 * beside libtorch's (zero_grad, forward in training mode, loss, backward, SGD step; ATen/oneDNN
 * convolutions and batch_norm), and inference (nnc's predict program with batchnorm folded into
 * the convolutions; libtorch's forward in eval mode under no-grad). Same weights, same threads.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xss8m"})
public class ResNetCifarBench {
  @Param({"2"})
  int threads;

  @Param({"32"})
  int batch;

  NativeModel nnc;
  Tensor x;
  Tensor labels;
  final java.util.Map<String, Tensor> p = new java.util.LinkedHashMap<>();
  SGD sgd;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    Path file = Path.of(System.getProperty("nnc.samples", "samples")).resolve("resnet18-cifar.nn");
    nnc = Models.compile(Files.readString(file), batch, threads);
    Models.randomInputs(nnc, ModelCompiler.TRAIN, 10);
    Models.randomInputs(nnc, ModelCompiler.PREDICT, 10);
    torch.set_num_threads(threads);
    float[] xv = Models.random(batch * 3 * 32 * 32, 7);
    float[] lv = new float[batch];
    for (int i = 0; i < batch; i++) {
      lv[i] = i % 10;
    }
    x = Models.tensor(xv, batch, 3, 32, 32);
    labels = Models.tensor(lv, batch).to(torch.ScalarType.Long);
    TensorVector trainable = new TensorVector();
    for (var slot : nnc.manifest().params()) {
      if (!slot.saved()) {
        continue;
      }
      long[] shape = java.util.Arrays.stream(slot.shape()).asLongStream().toArray();
      Tensor t = Models.tensor(nnc.param(slot.name()), shape);
      if (slot.role().equals("weight")) {
        t.set_requires_grad(true);
        trainable.push_back(t);
      }
      p.put(slot.name(), t);
    }
    SGDOptions options = new SGDOptions(0.1);
    options.momentum().put(0.9);
    sgd = new SGD(trainable, options);
    // The same function first: nnc's predict program (running statistics, folded) equals
    // libtorch's eval-mode forward on the benchmark batch.
    Models.requireSameLogits(nnc, xv, () -> forward(false));
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    nnc.close();
  }

  private Tensor conv(Tensor h, String name, int stride, int pad) {
    return torch.conv2d(h, p.get(name + ".weight"), new TensorOptional(), new long[] {stride, stride},
        new long[] {pad, pad}, new long[] {1, 1}, 1);
  }

  private Tensor bn(Tensor h, String name, boolean training) {
    return torch.batch_norm(h, new TensorOptional(p.get(name + ".weight")), new TensorOptional(p.get(name + ".bias")),
        new TensorOptional(p.get(name + ".running_mean")), new TensorOptional(p.get(name + ".running_var")), training,
        0.1, 1e-5, true);
  }

  private Tensor block(Tensor h, String name, boolean down, boolean training) {
    Tensor y = torch.relu(bn(conv(h, name + ".conv2d1", down ? 2 : 1, 1), name + ".batchnorm1", training));
    y = bn(conv(y, name + ".conv2d2", 1, 1), name + ".batchnorm2", training);
    Tensor s = down ? bn(conv(h, name + ".conv2d3", 2, 0), name + ".batchnorm3", training) : h;
    return torch.relu(y.add(s));
  }

  private Tensor forward(boolean training) {
    Tensor h = torch.relu(bn(conv(x, "conv2d1", 1, 1), "batchnorm1", training));
    h = block(h, "basic1", false, training);
    h = block(h, "basic2", false, training);
    h = block(h, "down1", true, training);
    h = block(h, "basic3", false, training);
    h = block(h, "down2", true, training);
    h = block(h, "basic4", false, training);
    h = block(h, "down3", true, training);
    h = block(h, "basic5", false, training);
    h = h.mean(new long[] {2, 3});
    return torch.linear(h, p.get("dense1.weight"), new TensorOptional(p.get("dense1.bias")));
  }

  @Benchmark
  public void trainStepNnc() {
    nnc.run(ModelCompiler.TRAIN);
  }

  @Benchmark
  public void trainStepLibtorch() {
    sgd.zero_grad();
    Tensor loss = torch.cross_entropy(forward(true), labels);
    loss.backward();
    sgd.step();
  }

  @Benchmark
  public void inferenceNnc() {
    nnc.run(ModelCompiler.PREDICT);
  }

  @Benchmark
  public Tensor inferenceLibtorch() {
    try (NoGradGuard g = new NoGradGuard()) {
      return forward(false);
    }
  }
}
