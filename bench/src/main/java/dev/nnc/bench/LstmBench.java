package dev.nnc.bench;

import dev.nnc.cli.ModelCompiler;
import dev.nnc.runtime.NativeModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
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
 * The character LSTM: {@code embedding(60, 32) → lstm(128, layers=2,
 * return_sequences=true) → dense(60)} on every step, cross-entropy per character, Adam; batch 64
 * of sequences of 60. One compiled nnc training step beside libtorch's zero_grad + forward
 * ({@code torch::lstm}, fused, what {@code torch::nn::LSTM} runs) + cross_entropy + backward + Adam;
 * inference; and a generation step at batch 1 (nnc's step program, the LSTM states carried;
 * libtorch's lstm on one character with its states carried). Same weights, same threads.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 6, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xss8m"})
public class LstmBench {
  @Param({"2"})
  int threads;

  static final int BATCH = 64;
  static final int STEPS = 60;
  static final int VOCAB = 60;
  static final int HIDDEN = 128;

  static String model(Path text, int steps) {
    return """
        model CharLstm {
          input chars: int[%d]
          x = chars -> embedding(60, 32)
          h = x -> lstm(128, layers=2, return_sequences=true)
          output logits = h -> dense(60)
        }
        train CharLstm {
          data = text("%s", length=%d, vocab=60)
          loss = cross_entropy(logits, label)
          optimizer = adam
          batch = 64
        }
        """.formatted(steps, text.toAbsolutePath().toString().replace("\\\\", "/"), steps);
  }

  NativeModel nnc;
  NativeModel gen;
  Tensor ids;
  Tensor labels;
  Tensor emb;
  List<Tensor> lstm = new ArrayList<>();
  Tensor w;
  Tensor b;
  Adam adam;
  Tensor one;
  TensorVector state;
  float[][] states;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    Path text = Path.of(System.getProperty("nnc.samples", "samples")).resolve("data/text/sample.txt");
    nnc = Models.compile(model(text, STEPS), BATCH, threads);
    gen = Models.compile(model(text, STEPS), 1, 1);
    for (dev.nnc.runtime.Manifest.ParamSlot ps : gen.manifest().params()) {
      if (ps.saved()) {
        gen.setParam(ps.name(), nnc.param(ps.name()));
      }
    }
    Models.randomInputs(nnc, ModelCompiler.TRAIN, VOCAB);
    Models.randomInputs(nnc, ModelCompiler.PREDICT, VOCAB);
    torch.set_num_threads(threads);
    float[] iv = new float[BATCH * STEPS];
    float[] lv = new float[BATCH * STEPS];
    java.util.Random r = new java.util.Random(3);
    for (int i = 0; i < iv.length; i++) {
      iv[i] = r.nextInt(VOCAB);
      lv[i] = r.nextInt(VOCAB);
    }
    nnc.setInput(ModelCompiler.PREDICT, "chars", iv);
    nnc.setInput(ModelCompiler.TRAIN, "chars", iv);
    nnc.setInput(ModelCompiler.TRAIN, "label", lv);
    ids = Models.tensor(iv, BATCH, STEPS).to(torch.ScalarType.Long);
    labels = Models.tensor(lv, BATCH * STEPS).to(torch.ScalarType.Long);
    emb = param(nnc.param("embedding1.weight"), VOCAB, 32);
    for (int l = 0; l < 2; l++) {
      long in = l == 0 ? 32 : HIDDEN;
      lstm.add(param(nnc.param("lstm1.weight_ih_l" + l), 4 * HIDDEN, in));
      lstm.add(param(nnc.param("lstm1.weight_hh_l" + l), 4 * HIDDEN, HIDDEN));
      lstm.add(param(nnc.param("lstm1.bias_ih_l" + l), 4 * HIDDEN));
      lstm.add(param(nnc.param("lstm1.bias_hh_l" + l), 4 * HIDDEN));
    }
    w = param(nnc.param("dense1.weight"), VOCAB, HIDDEN);
    b = param(nnc.param("dense1.bias"), VOCAB);
    List<Tensor> all = new ArrayList<>(List.of(emb, w, b));
    all.addAll(lstm);
    adam = new Adam(new TensorVector(all.toArray(Tensor[]::new)), new AdamOptions(1e-3));
    // The same function on both sides, or the comparison means nothing.
    nnc.run(ModelCompiler.PREDICT);
    float[] ours = nnc.output(ModelCompiler.PREDICT, "logits");
    Tensor theirs;
    try (NoGradGuard g = new NoGradGuard()) {
      theirs = forward(ids, zeros(BATCH)).get0().contiguous().reshape(-1);
    }
    for (int i = 0; i < ours.length; i += 97) {
      float t = theirs.select(0, i).item_float();
      if (Math.abs(t - ours[i]) > 1e-3f * Math.max(1, Math.abs(t))) {
        throw new IllegalStateException("nnc and libtorch differ at logit " + i + ": " + ours[i] + " vs " + t);
      }
    }
    one = Models.tensor(new float[] {5}, 1, 1).to(torch.ScalarType.Long);
    state = zeros(1);
    states = new float[][] {new float[2 * HIDDEN], new float[2 * HIDDEN]};
    gen.setInput(ModelCompiler.STEP, "chars", new float[] {5});
  }

  private static TensorVector zeros(int batch) {
    Tensor z = torch.zeros(new long[] {2, batch, HIDDEN}, new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Float));
    return new TensorVector(z, z.clone());
  }

  private static Tensor param(float[] v, long... shape) {
    Tensor t = Models.tensor(v, shape);
    t.set_requires_grad(true);
    return t;
  }

  /** Logits [B, T, V] and the final states. */
  private org.bytedeco.pytorch.T_TensorTensor_T forward(Tensor chars, TensorVector hx) {
    Tensor x = torch.embedding(emb, chars);
    var o = torch.lstm(x, hx, new TensorVector(lstm.toArray(Tensor[]::new)), true, 2, 0, true, false, true);
    return new org.bytedeco.pytorch.T_TensorTensor_T(torch.linear(o.get0(), w, new TensorOptional(b)),
        torch.stack(new TensorVector(o.get1(), o.get2()), 0));
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    nnc.close();
    gen.close();
  }

  @Benchmark
  public void trainStepNnc() {
    nnc.run(ModelCompiler.TRAIN);
  }

  @Benchmark
  public void trainStepLibtorch() {
    adam.zero_grad();
    Tensor loss = torch.cross_entropy(forward(ids, zeros(BATCH)).get0().reshape(-1, VOCAB), labels);
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
      return forward(ids, zeros(BATCH)).get0();
    }
  }

  /** One character through the step program, the two layers' h and c carried to the next call. */
  @Benchmark
  public float[] generateStepNnc() {
    gen.setInput(ModelCompiler.STEP, "lstm1.h0", states[0]);
    gen.setInput(ModelCompiler.STEP, "lstm1.c0", states[1]);
    gen.run(ModelCompiler.STEP);
    gen.output(ModelCompiler.STEP, "lstm1.h", states[0]);
    gen.output(ModelCompiler.STEP, "lstm1.c", states[1]);
    return gen.output(ModelCompiler.STEP, "logits");
  }

  /** One character through libtorch's lstm, its (h, c) carried. */
  @Benchmark
  public Tensor generateStepLibtorch() {
    try (NoGradGuard g = new NoGradGuard()) {
      Tensor x = torch.embedding(emb, one);
      var o = torch.lstm(x, state, new TensorVector(lstm.toArray(Tensor[]::new)), true, 2, 0, false, false, true);
      state = new TensorVector(o.get1(), o.get2());
      return torch.linear(o.get0(), w, new TensorOptional(b));
    }
  }
}
