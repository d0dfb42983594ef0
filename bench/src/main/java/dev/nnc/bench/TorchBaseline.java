package dev.nnc.bench;

import dev.nnc.cli.Baseline;
import dev.nnc.frontend.Elaborated;
import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Broadcast;
import dev.nnc.ir.ops.Concat;
import dev.nnc.ir.ops.Constant;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.DropoutMask;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.OneHot;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.Patches;
import dev.nnc.ir.ops.PatchesGrad;
import dev.nnc.ir.ops.Permute;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.Slice;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.ir.ops.SumTo;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import dev.nnc.ir.ops.Window;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * The libtorch baseline of {@code nnc bench}: the model rebuilt from nnc's elaborated graph as a
 * PyTorch user would write it — each layer through libtorch's own kernel where it has one
 * ({@code linear}, {@code conv2d} and {@code conv_transpose2d} with their bias, the
 * {@code upsample} kernels, {@code batch_norm}, {@code max_pool2d}, {@code avg_pool2d},
 * {@code cross_entropy}), everything else op by op (an activation, a residual
 * add, a reshape) — with nnc's weights, trained by {@code torch::optim} with the recipe's
 * optimizer, run eagerly on libtorch's intra-op threads.
 */
public final class TorchBaseline implements Baseline {
  @Override
  public String name() {
    return "torch";
  }

  @Override
  public String describe() {
    String v = torch.class.getPackage().getImplementationVersion();
    String blas = System.getenv("OPENBLAS_THREAD_TIMEOUT") == null
        ? "; OPENBLAS_THREAD_TIMEOUT is not set, so OpenBLAS workers spin and slow its matmuls (./nnc bench sets it)"
        : "";
    return "libtorch " + (v != null ? v : "(org.bytedeco:pytorch)") + " eager (oneDNN convolutions, OpenBLAS matmuls"
        + blas + ")";
  }

  @Override
  public Model build(Spec spec) {
    return new TorchModel(spec);
  }

  /** A tensor of {@code v} with {@code shape} (a copy). */
  static Tensor tensor(float[] v, Shape shape) {
    FloatPointer p = new FloatPointer(v);
    Tensor t = torch.from_blob(p, dims(shape), new TensorOptions(torch.ScalarType.Float)).clone();
    p.close();
    return t;
  }

  static long[] dims(Shape s) {
    long[] d = new long[s.rank()];
    for (int i = 0; i < d.length; i++) {
      d[i] = s.dim(i);
    }
    return d;
  }

  static float[] values(Tensor t) {
    Tensor c = t.contiguous().to(torch.ScalarType.Float).reshape(-1);
    float[] out = new float[(int) c.numel()];
    new FloatPointer(c.data_ptr_float()).capacity(out.length).get(out);
    return out;
  }

  static final class TorchModel implements Model {
    private final Spec spec;
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final Map<String, Tensor> inputs = new HashMap<>();
    private final Map<String, Node> inputNodes = new HashMap<>();
    private final Executor infer;
    private final Executor train;
    private final Optimizer optimizer;
    private final boolean dropout;

    TorchModel(Spec spec) {
      this.spec = spec;
      torch.set_num_threads(spec.threads());
      List<Tensor> trainable = new ArrayList<>();
      List<Graph> graphs = new ArrayList<>(List.of(spec.inference().graph()));
      if (spec.training() != null) {
        graphs.add(spec.training().graph());
      }
      boolean hasDropout = false;
      for (Graph g : graphs) {
        for (Node n : g.nodes()) {
          hasDropout |= n.op() instanceof DropoutMask;
          if (n.op() instanceof Input in) {
            inputNodes.putIfAbsent(in.name(), n);
          }
          if (!(n.op() instanceof Param p) || params.containsKey(p.name())) {
            continue;
          }
          float[] w = spec.weights().get(p.name());
          Tensor t = w != null ? tensor(w, n.shape()) : torch.zeros(dims(n.shape()));
          if (p.role() == Param.Role.WEIGHT && spec.training() != null) {
            t.set_requires_grad(true);
            trainable.add(t);
          }
          params.put(p.name(), t);
        }
      }
      this.dropout = hasDropout;
      this.infer = new Executor(spec.inference(), false);
      this.train = spec.training() != null ? new Executor(spec.training(), true) : null;
      this.optimizer = spec.training() != null ? optimizer(spec.recipe().optimizer(), trainable) : null;
      if (spec.recipe() != null && (spec.recipe().l1() != 0 || spec.recipe().l2() != 0
          || spec.recipe().clipValue() != 0 || spec.recipe().clipNorm() != 0)) {
        throw new UnsupportedOperationException("the libtorch baseline does not rebuild l1/l2 regularisation or "
            + "gradient clipping; bench the model without them");
      }
    }

    static Optimizer optimizer(dev.nnc.ir.train.OptimizerSpec o, List<Tensor> params) {
      TensorVector ps = new TensorVector(params.toArray(new Tensor[0]));
      Map<String, Double> h = o.hyper();
      return switch (o.name()) {
        case "sgd" -> {
          var opts = new org.bytedeco.pytorch.SGDOptions(h.get("lr"));
          opts.momentum().put(h.get("momentum"));
          opts.nesterov().put(h.get("nesterov") != 0);
          yield new org.bytedeco.pytorch.SGD(ps, opts);
        }
        case "adam" -> {
          var opts = new org.bytedeco.pytorch.AdamOptions(h.get("lr"));
          opts.betas().put(0, h.get("beta1")).put(1, h.get("beta2"));
          opts.eps().put(h.get("eps"));
          yield new org.bytedeco.pytorch.Adam(ps, opts);
        }
        case "rmsprop" -> {
          var opts = new org.bytedeco.pytorch.RMSpropOptions(h.get("lr"));
          opts.alpha().put(h.get("alpha"));
          opts.eps().put(h.get("eps"));
          opts.momentum().put(h.get("momentum"));
          yield new org.bytedeco.pytorch.RMSprop(ps, opts);
        }
        case "adagrad" -> {
          var opts = new org.bytedeco.pytorch.AdagradOptions(h.get("lr"));
          opts.eps().put(h.get("eps"));
          opts.initial_accumulator_value().put(h.get("initial_accumulator"));
          yield new org.bytedeco.pytorch.Adagrad(ps, opts);
        }
        default -> throw new UnsupportedOperationException("libtorch's C++ API has no " + o.name() + " optimizer; "
            + "bench the model with sgd, adam, rmsprop or adagrad");
      };
    }

    @Override
    public void setInput(String name, float[] values) {
      Node n = inputNodes.get(name);
      if (n == null) {
        return;  // an input only nnc's programs have
      }
      Tensor t = tensor(values, n.shape());
      inputs.put(name, n.dtype() == DType.I32 ? t.to(torch.ScalarType.Long) : t);
    }

    @Override
    public float[] infer(String output) {
      try (NoGradGuard g = new NoGradGuard()) {
        return values(infer.run(List.of(spec.inference().outputs().get(output))).get(0));
      }
    }

    @Override
    public double trainStep() {
      optimizer.zero_grad();
      Tensor loss = train.loss();
      loss.backward();
      optimizer.step();
      return loss.item_double();
    }

    @Override
    public String summary() {
      return "libtorch runs " + infer.describe() + " for inference" + (train != null ? ", " + train.describe()
          + " for the training step's forward pass" : "");
    }

    @Override
    public boolean deterministicTraining() {
      return !dropout;
    }

    @Override
    public void close() {
      // Tensors are freed with their Java objects.
    }

    /** A layer computed by one libtorch call: its operand nodes and the call. */
    record Fused(String name, List<Node> operands, Function<List<Tensor>, Tensor> call) {}

    /** One elaborated graph evaluated on libtorch tensors, each layer fused where libtorch has its kernel. */
    final class Executor {
      private final Elaborated model;
      private final boolean training;
      private final Map<Node, Fused> fused = new HashMap<>();

      Executor(Elaborated model, boolean training) {
        this.model = model;
        this.training = training;
        for (Elaborated.LayerInfo l : model.layers()) {
          Fused f = fuse(l);
          if (f != null) {
            fused.put(l.node(), f);
          }
        }
        for (Node n : model.graph().nodes()) {
          if (!fused.containsKey(n) && n.op() instanceof Reduce r && n.input(0).op() instanceof Patches p) {
            Fused f = pool(r, p, n.input(0).input(0));
            if (f != null) {
              fused.put(n, f);
            }
          }
        }
      }

      /** "7 layers as single libtorch calls and 12 ops one by one". */
      String describe() {
        Map<String, Integer> kinds = new java.util.TreeMap<>();
        Set<Node> seen = new HashSet<>();
        int single = 0;
        Deque<Node> todo = new ArrayDeque<>(model.outputs().values());
        if (training) {
          todo.add(model.lossPerExample());
        }
        while (!todo.isEmpty()) {
          Node n = todo.pop();
          if (!seen.add(n)) {
            continue;
          }
          Fused f = fused.get(n);
          if (f != null) {
            kinds.merge(f.name(), 1, Integer::sum);
            todo.addAll(f.operands());
          } else {
            boolean free = n.op() instanceof Input || n.op() instanceof Param || n.op() instanceof Constant
                || n.op() instanceof Reshape;
            single += free ? 0 : 1;
            todo.addAll(n.inputs());
          }
        }
        List<String> parts = new ArrayList<>();
        kinds.forEach((k, c) -> parts.add(k + " ×" + c));
        return parts.isEmpty() ? single + " ops one by one"
            : String.join(", ", parts) + " and " + single + " other ops one by one";
      }

      /** The mean training loss: libtorch's cross_entropy when the loss is one, else the mean of the per-example loss. */
      Tensor loss() {
        Node per = model.lossPerExample();
        for (Elaborated.LayerInfo l : model.layers()) {
          if (l.node() == per && l.kind().equals("cross_entropy") && l.inputs().get(0).shape().rank() == 2
              && l.inputs().get(1).dtype() == DType.I32) {
            List<Tensor> xs = run(l.inputs());
            return torch.cross_entropy(xs.get(0), xs.get(1));
          }
          // A class per step ([N, T, C] logits, [N, T] labels): libtorch's cross_entropy on N·T rows.
          if (l.node() == per && l.kind().equals("cross_entropy") && l.inputs().get(0).shape().rank() == 3
              && l.inputs().get(1).dtype() == DType.I32 && l.inputs().get(1).shape().rank() == 2) {
            List<Tensor> xs = run(l.inputs());
            long classes = l.inputs().get(0).shape().dim(2);
            return torch.cross_entropy(xs.get(0).reshape(-1, classes), xs.get(1).reshape(-1));
          }
        }
        return run(List.of(per)).get(0).mean();
      }

      List<Tensor> run(List<Node> wanted) {
        Set<Node> needed = new HashSet<>();
        Deque<Node> todo = new ArrayDeque<>(wanted);
        while (!todo.isEmpty()) {
          Node n = todo.pop();
          if (needed.add(n)) {
            todo.addAll(fused.containsKey(n) ? fused.get(n).operands() : n.inputs());
          }
        }
        Map<Node, Tensor> v = new HashMap<>();
        for (Node n : model.graph().nodes()) {
          if (!needed.contains(n)) {
            continue;
          }
          Fused f = fused.get(n);
          if (f != null) {
            v.put(n, f.call().apply(f.operands().stream().map(v::get).toList()));
          } else {
            v.put(n, op(n, v));
          }
        }
        return wanted.stream().map(v::get).toList();
      }

      private Tensor param(Elaborated.LayerInfo l, String suffix) {
        for (Node p : l.params()) {
          String name = ((Param) p.op()).name();
          if (name.endsWith("." + suffix)) {
            return params.get(name);
          }
        }
        return null;
      }

      /** libtorch's one call for a layer, when the layer's graph has the expected form; else null. */
      private Fused fuse(Elaborated.LayerInfo l) {
        Node out = l.node();
        List<Node> in = l.inputs();
        switch (l.kind()) {
          case "dense" -> {
            Tensor w = param(l, "weight");
            Tensor b = param(l, "bias");
            // On a sequence the product is over the [B·T, in] rows between two reshapes: linear takes [B, T, in].
            Node top = out.op() instanceof Reshape && in.get(0).shape().rank() == 3 ? out.input(0) : out;
            Node mm = top.op() instanceof Binary bin && bin.fn() == BinaryFn.ADD ? top.input(0) : top;
            Node rows = in.get(0).shape().rank() == 3 && mm.inputs().size() == 2 && mm.input(0).op() instanceof Reshape
                ? mm.input(0).input(0) : mm.inputs().isEmpty() ? null : mm.input(0);
            if (w != null && mm.op() instanceof MatMul m && !m.transA() && m.transB() && rows == in.get(0)) {
              return new Fused("linear", in, xs -> torch.linear(xs.get(0), w, b != null ? new TensorOptional(b)
                  : new TensorOptional()));
            }
          }
          case "conv2d" -> {
            Tensor w = param(l, "weight");
            Tensor b = param(l, "bias");
            Node conv = out.op() instanceof Binary bin && bin.fn() == BinaryFn.ADD ? out.input(0) : out;
            if (w != null && conv.op() instanceof Conv2d c && conv.input(0) == in.get(0)) {
              return new Fused("conv2d", in, xs -> conv(xs.get(0), w, b, c.window(), c.groups()));
            }
          }
          case "batchnorm" -> {
            Tensor w = param(l, "weight");
            Tensor b = param(l, "bias");
            Tensor mean = param(l, "running_mean");
            Tensor var = param(l, "running_var");
            double momentum = ((dev.nnc.frontend.Val.NumV) l.args().get("momentum")).value();
            double eps = ((dev.nnc.frontend.Val.NumV) l.args().get("eps")).value();
            if (w != null && b != null && mean != null && var != null) {
              return new Fused("batch_norm", in, xs -> torch.batch_norm(xs.get(0), new TensorOptional(w), new TensorOptional(b),
                  new TensorOptional(mean), new TensorOptional(var), training, momentum, eps, false));
            }
          }
          case "conv_transpose2d" -> {
            Tensor w = param(l, "weight");
            Tensor b = param(l, "bias");
            var a = l.args();
            long[] stride = pair(a.get("stride"));
            long[] pad = pair(a.get("padding"));
            long[] outPad = pair(a.get("output_padding"));
            long[] dil = pair(a.get("dilation"));
            long groups = pair(a.get("groups"))[0];
            if (w != null) {
              return new Fused("conv_transpose2d", in, xs -> torch.conv_transpose2d(xs.get(0), w,
                  b != null ? new TensorOptional(b) : new TensorOptional(), stride, pad, outPad, groups, dil));
            }
          }
          case "lstm", "gru", "simple_rnn" -> {
            Fused f = recurrent(l);
            if (f != null) {
              return f;
            }
          }
          case "upsample" -> {
            long[] scale = pair(l.args().get("scale"));
            boolean bilinear = l.args().get("mode") instanceof dev.nnc.frontend.Val.SymV m
                && m.name().equals("bilinear");
            long[] size = {out.shape().dim(2), out.shape().dim(3)};
            if (scale != null && out.shape().rank() == 4) {
              return new Fused(bilinear ? "upsample_bilinear2d" : "upsample_nearest2d", in, xs -> bilinear
                  ? torch.upsample_bilinear2d(xs.get(0), size, false) : torch.upsample_nearest2d(xs.get(0), size));
            }
          }
          default -> {
            return null;
          }
        }
        return null;
      }

      /**
       * A recurrent layer as libtorch's fused {@code torch::lstm} / {@code gru} / {@code rnn_tanh}
       * (what {@code torch::nn::LSTM} calls), batch-first, with the layer's weights in PyTorch's
       * order; null (step by step instead) with lengths, initial states or final states asked for.
       */
      private Fused recurrent(Elaborated.LayerInfo l) {
        var a = l.args();
        if (l.inputs().size() != 1 || a.get("return_state") instanceof dev.nnc.frontend.Val.SymV rs
            && rs.name().equals("true")) {
          return null;
        }
        int layers = (int) ((dev.nnc.frontend.Val.NumV) a.get("layers")).value();
        boolean bidirectional = a.get("bidirectional") instanceof dev.nnc.frontend.Val.SymV b && b.name().equals("true");
        boolean sequences = a.get("return_sequences") instanceof dev.nnc.frontend.Val.SymV q && q.name().equals("true");
        double dropout = ((dev.nnc.frontend.Val.NumV) a.get("dropout")).value();
        int units = (int) ((dev.nnc.frontend.Val.NumV) a.get("units")).value();
        int dirs = bidirectional ? 2 : 1;
        List<Tensor> weights = new ArrayList<>();
        for (int k = 0; k < layers; k++) {
          for (int d = 0; d < dirs; d++) {
            String sfx = "_l" + k + (d == 1 ? "_reverse" : "");
            Tensor wih = param(l, "weight_ih" + sfx);
            Tensor bih = param(l, "bias_ih" + sfx);
            Tensor bhh = param(l, "bias_hh" + sfx);
            weights.add(wih);
            weights.add(param(l, "weight_hh" + sfx));
            weights.add(bih);
            weights.add(bhh != null ? bhh : torch.zeros_like(bih));
          }
        }
        TensorVector params = new TensorVector(weights.toArray(Tensor[]::new));
        String kind = l.kind();
        return new Fused(kind.equals("simple_rnn") ? "rnn_tanh" : kind, l.inputs(), xs -> {
          Tensor x = xs.get(0);
          Tensor h0 = torch.zeros(new long[] {(long) layers * dirs, x.size(0), units}, new TensorOptions(x.scalar_type()));
          Tensor out;
          Tensor hn;
          switch (kind) {
            case "lstm" -> {
              var o = torch.lstm(x, new TensorVector(h0, h0), params, true, layers, dropout, training, bidirectional, true);
              out = o.get0();
              hn = o.get1();
            }
            case "gru" -> {
              var o = torch.gru(x, h0, params, true, layers, dropout, training, bidirectional, true);
              out = o.get0();
              hn = o.get1();
            }
            default -> {
              var o = torch.rnn_tanh(x, h0, params, true, layers, dropout, training, bidirectional, true);
              out = o.get0();
              hn = o.get1();
            }
          }
          return sequences ? out : hn.narrow(0, (long) (layers - 1) * dirs, dirs).permute(1, 0, 2).reshape(x.size(0), -1);
        });
      }

      /** A layer argument that is a number or {@code [h, w]}, as libtorch's pair; null otherwise. */
      private static long[] pair(dev.nnc.frontend.Val v) {
        if (v instanceof dev.nnc.frontend.Val.NumV n) {
          return new long[] {(long) n.value(), (long) n.value()};
        }
        if (v instanceof dev.nnc.frontend.Val.ListV list && list.items().size() == 2
            && list.items().get(0) instanceof dev.nnc.frontend.Val.NumV a
            && list.items().get(1) instanceof dev.nnc.frontend.Val.NumV b) {
          return new long[] {(long) a.value(), (long) b.value()};
        }
        return null;
      }

      /** Max or average pooling (a reduction over windows) as libtorch's pooling call. */
      private Fused pool(Reduce r, Patches p, Node x) {
        Window w = p.window();
        boolean windowAxes = r.axes().equals(List.of(4, 5)) && !r.keepDims() && !p.channelsLast()
            && w.dh() == 1 && w.dw() == 1;
        if (!windowAxes || r.fn() == ReduceFn.SUM) {
          return null;
        }
        boolean symmetric = w.pt() == w.pb() && w.pl() == w.pr();
        long[] k = {w.kh(), w.kw()};
        long[] s = {w.sh(), w.sw()};
        long[] pad = symmetric ? new long[] {w.pt(), w.pl()} : new long[] {0, 0};
        if (r.fn() == ReduceFn.MAX && p.fill() == Double.NEGATIVE_INFINITY) {
          return new Fused("max_pool2d", List.of(x), xs -> torch.max_pool2d(symmetric ? xs.get(0) : pad(xs.get(0), w,
              Double.NEGATIVE_INFINITY), k, s, pad, new long[] {1, 1}, false));
        }
        if (r.fn() == ReduceFn.MEAN && p.fill() == 0) {
          return new Fused("avg_pool2d", List.of(x), xs -> torch.avg_pool2d(symmetric ? xs.get(0) : pad(xs.get(0), w, 0), k, s, pad,
              false, true, new org.bytedeco.pytorch.LongOptional()));
        }
        return null;
      }

      private Tensor input(String name, Node n) {
        Tensor t = inputs.get(name);
        if (t == null) {
          t = torch.zeros(dims(n.shape()));
          inputs.put(name, t);
        }
        return t;
      }

      /** One graph op in libtorch (the exhaustive switch: a new op fails compilation here). */
      private Tensor op(Node n, Map<Node, Tensor> v) {
        Shape s = n.shape();
        return switch (n.op()) {
          case Input in -> input(in.name(), n);
          case Param p -> params.get(p.name());
          case Constant c -> torch.scalar_tensor(new Scalar(c.value()));
          case MatMul mm -> {
            Tensor a = v.get(n.input(0));
            Tensor b = v.get(n.input(1));
            yield (mm.transA() ? a.transpose(-2, -1) : a).matmul(mm.transB() ? b.transpose(-2, -1) : b);
          }
          case Unary u -> unary(u.fn(), u.alpha(), f(v.get(n.input(0))));
          case Binary bin -> binary(bin.fn(), n, v);
          case Reduce r -> {
            long[] ax = r.axes().stream().mapToLong(Integer::longValue).toArray();
            Tensor x = f(v.get(n.input(0)));
            yield switch (r.fn()) {
              case SUM -> x.sum(ax, r.keepDims(), new ScalarTypeOptional());
              case MEAN -> torch.mean(x, ax, r.keepDims(), new ScalarTypeOptional());
              case MAX -> torch.amax(x, ax, r.keepDims());
            };
          }
          case Broadcast bc -> f(v.get(n.input(0))).expand(dims(s));
          case SumTo st -> sumTo(v.get(n.input(0)), s);
          case Reshape rs -> v.get(n.input(0)).reshape(dims(s));
          case Softmax sm -> torch.softmax(v.get(n.input(0)), -1);
          case LogSoftmax ls -> torch.log_softmax(v.get(n.input(0)), -1);
          case OneHot oh -> torch.one_hot(v.get(n.input(0)).to(torch.ScalarType.Long), oh.classes())
              .to(torch.ScalarType.Float);
          case DropoutMask dm -> torch.rand(dims(s)).ge(new Scalar(dm.rate())).to(torch.ScalarType.Float)
              .mul(new Scalar(1 / (1 - dm.rate())));
          case Conv2d c -> conv(v.get(n.input(0)), v.get(n.input(1)), null, c.window(), c.groups());
          case Patches p -> patches(v.get(n.input(0)), p.window(), p.channelsLast(), p.fill());
          case PatchesGrad pg -> patchesGrad(v.get(n.input(0)), pg.window(), pg.channelsLast(), pg.h(), pg.w());
          // Made by lower-conv; the baseline is built from the elaborated graph, before any pass.
          case dev.nnc.ir.ops.Winograd _, dev.nnc.ir.ops.Conv2dGradInput _, dev.nnc.ir.ops.Conv2dGradWeight _ -> throw new IllegalStateException(
              "the baseline runs the elaborated graph, which has no " + n.op().mnemonic());
          case Permute p -> v.get(n.input(0)).permute(p.perm().stream().mapToLong(Integer::longValue).toArray());
          case Concat c -> torch.cat(new TensorVector(n.inputs().stream().map(v::get).toArray(Tensor[]::new)),
              c.axis());
          case Slice sl -> v.get(n.input(0)).narrow(sl.axis(), sl.start(), sl.size());
          case dev.nnc.ir.ops.Embedding e -> torch.embedding(v.get(n.input(0)), v.get(n.input(1)).to(torch.ScalarType.Long));
          case dev.nnc.ir.ops.Recurrence r -> recurrence(r, n, v);
          // Made by autodiff; the baseline differentiates with its own autograd.
          case dev.nnc.ir.ops.EmbeddingGrad _, dev.nnc.ir.ops.RecurrenceGrad _ -> throw new IllegalStateException(
              "the baseline runs the elaborated graph, which has no " + n.op().mnemonic());
        };
      }

      /**
       * A recurrence step by step in libtorch's eager ops (addmm for the hidden GEMM, then the
       * gates), building the same trace; its gradient is libtorch's autograd through the steps.
       */
      private Tensor recurrence(dev.nnc.ir.ops.Recurrence r, Node n, Map<Node, Tensor> v) {
        boolean lstm = r.cell() == dev.nnc.ir.ops.Recurrence.Cell.LSTM;
        Tensor xw = v.get(n.input(0));
        Tensor whhT = v.get(n.input(1)).t();
        Tensor bhh = v.get(n.input(2));
        Tensor h = v.get(n.input(3));
        Tensor c = lstm ? v.get(n.input(4)) : null;
        Tensor len = r.masked() ? v.get(n.input(r.lengthsOperand())).to(torch.ScalarType.Float).reshape(-1, 1) : null;
        int steps = n.input(0).shape().dim(1);
        int hid = r.hidden();
        Tensor zero = torch.zeros_like(h);
        Tensor[] rows = new Tensor[steps + 1];
        Tensor[] first = new Tensor[r.cell().slots];
        java.util.Arrays.fill(first, zero);
        first[0] = h;
        if (lstm) {
          first[2] = c;
        }
        rows[r.initialRow(steps)] = torch.cat(new TensorVector(first), 1);
        for (int s = 0; s < steps; s++) {
          int t = r.reverse() ? steps - 1 - s : s;
          Tensor x = xw.select(1, t);
          Tensor g = torch.addmm(bhh, h, whhT);
          java.util.function.IntFunction<Tensor> gx = k -> x.narrow(1, (long) k * hid, hid);
          java.util.function.IntFunction<Tensor> gh = k -> g.narrow(1, (long) k * hid, hid);
          Tensor hPrev = h;
          Tensor cPrev = c;
          Tensor[] slots = switch (r.cell()) {
            case TANH -> {
              Tensor hn = torch.tanh(gx.apply(0).add(gh.apply(0)));
              yield new Tensor[] {hn, hn};
            }
            case LSTM -> {
              Tensor i = torch.sigmoid(gx.apply(0).add(gh.apply(0)));
              Tensor f = torch.sigmoid(gx.apply(1).add(gh.apply(1)));
              Tensor gg = torch.tanh(gx.apply(2).add(gh.apply(2)));
              Tensor o = torch.sigmoid(gx.apply(3).add(gh.apply(3)));
              Tensor cn = f.mul(cPrev).add(i.mul(gg));
              Tensor hn = o.mul(torch.tanh(cn));
              yield new Tensor[] {hn, hn, cn, i, f, gg, o};
            }
            case GRU -> {
              Tensor rr = torch.sigmoid(gx.apply(0).add(gh.apply(0)));
              Tensor z = torch.sigmoid(gx.apply(1).add(gh.apply(1)));
              Tensor nn = torch.tanh(gx.apply(2).add(rr.mul(gh.apply(2))));
              Tensor hn = torch.ones_like(z).sub(z).mul(nn).add(z.mul(hPrev));
              yield new Tensor[] {hn, hn, rr, z, nn, gh.apply(2)};
            }
          };
          if (len != null) {
            // Past the length: the state carries on, output and gates 0.
            Tensor m = len.gt(new Scalar(t)).to(torch.ScalarType.Float);
            Tensor keep = torch.ones_like(m).sub(m);
            for (int k = 0; k < slots.length; k++) {
              Tensor carried = k == 0 ? h : lstm && k == 2 ? c : zero;
              slots[k] = slots[k].mul(m).add(carried.mul(keep));
            }
          }
          rows[r.row(t)] = torch.cat(new TensorVector(slots), 1);
          h = slots[0];
          c = lstm ? slots[2] : null;
        }
        return torch.stack(new TensorVector(rows), 1);
      }

      private Tensor binary(BinaryFn fn, Node n, Map<Node, Tensor> v) {
        Tensor x = f(v.get(n.input(0)));
        if (n.input(1).op() instanceof Constant c && (fn == BinaryFn.ADD || fn == BinaryFn.SUB || fn == BinaryFn.MUL
            || fn == BinaryFn.DIV)) {
          Scalar k = new Scalar(c.value());
          return switch (fn) {
            case ADD -> x.add(k);
            case SUB -> x.sub(k);
            case MUL -> x.mul(k);
            default -> x.div(k);
          };
        }
        Tensor y = f(v.get(n.input(1)));
        return switch (fn) {
          case ADD -> x.add(y);
          case SUB -> x.sub(y);
          case MUL -> x.mul(y);
          case DIV -> x.div(y);
          case MAX -> torch.maximum(x, y);
          case MIN -> torch.minimum(x, y);
          case GE -> x.ge(y).to(torch.ScalarType.Float);
          case EQ -> x.eq(y).to(torch.ScalarType.Float);
        };
      }
    }
  }

  /** Integer tensors (labels) as floats where an op computes with them. */
  static Tensor f(Tensor t) {
    return t.is_floating_point() ? t : t.to(torch.ScalarType.Float);
  }

  static Tensor unary(UnaryFn fn, double alpha, Tensor x) {
    return switch (fn) {
      case NEG -> x.neg();
      case ABS -> x.abs();
      case SIGN -> torch.sign(x);
      case STEP -> torch.heaviside(x.detach(), torch.scalar_tensor(new Scalar(0.0))).add(x.mul(new Scalar(0.0)));
      case EXP -> torch.exp(x);
      case LOG -> torch.log(x);
      case SQRT -> torch.sqrt(x);
      case SQUARE -> x.mul(x);
      case RECIP -> x.reciprocal();
      case RELU -> torch.relu(x);
      case LEAKY_RELU -> torch.leaky_relu(x, new Scalar(alpha));
      case ELU -> torch.elu(x, new Scalar(alpha), new Scalar(1.0), new Scalar(1.0));
      case SIGMOID -> torch.sigmoid(x);
      case TANH -> torch.tanh(x);
      case SOFTSIGN -> x.div(x.abs().add(new Scalar(1.0)));
      case SOFTPLUS -> torch.softplus(x);
      case GELU -> torch.gelu(x);
      case SWISH -> torch.silu(x);
      case LEAKY_RELU_GRAD, ELU_GRAD, SOFTSIGN_GRAD, GELU_GRAD, SWISH_GRAD ->
          throw new UnsupportedOperationException(fn.text() + " belongs to backward passes, which libtorch derives");
    };
  }

  static Tensor pad(Tensor x, Window w, double fill) {
    return torch.constant_pad_nd(x, new long[] {w.pl(), w.pr(), w.pt(), w.pb()}, new Scalar(fill));
  }

  /** A convolution as libtorch's conv2d (explicit padding first when it is asymmetric). */
  static Tensor conv(Tensor x, Tensor w, Tensor bias, Window win, int groups) {
    boolean symmetric = win.pt() == win.pb() && win.pl() == win.pr();
    return torch.conv2d(symmetric ? x : pad(x, win, 0), w, bias != null ? new TensorOptional(bias)
            : new TensorOptional(), new long[] {win.sh(), win.sw()},
        symmetric ? new long[] {win.pt(), win.pl()} : new long[] {0, 0}, new long[] {win.dh(), win.dw()}, groups);
  }

  /** nnc's patches layouts from libtorch's im2col ({@code [N, C·KH·KW, OH·OW]}). */
  static Tensor patches(Tensor x, Window w, boolean channelsLast, double fill) {
    long n = x.size(0);
    long c = x.size(1);
    Tensor cols = torch.im2col(pad(x, w, fill), new long[] {w.kh(), w.kw()}, new long[] {w.dh(), w.dw()},
        new long[] {0, 0}, new long[] {w.sh(), w.sw()});
    long oh = w.outH((int) x.size(2));
    long ow = w.outW((int) x.size(3));
    Tensor six = cols.reshape(n, c, w.kh(), w.kw(), oh, ow);
    return channelsLast ? six.permute(0, 4, 5, 1, 2, 3) : six.permute(0, 1, 4, 5, 2, 3);
  }

  /** The adjoint of {@link #patches}: libtorch's col2im on the padded map, the padding cut off. */
  static Tensor patchesGrad(Tensor p, Window w, boolean channelsLast, int h, int wd) {
    Tensor six = channelsLast ? p.permute(0, 3, 4, 5, 1, 2) : p.permute(0, 1, 4, 5, 2, 3);
    long n = p.size(0);
    long c = six.size(1);
    Tensor cols = six.contiguous().reshape(n, c * w.kh() * w.kw(), six.size(4) * six.size(5));
    Tensor full = torch.col2im(cols, new long[] {h + w.pt() + w.pb(), wd + w.pl() + w.pr()},
        new long[] {w.kh(), w.kw()}, new long[] {w.dh(), w.dw()}, new long[] {0, 0}, new long[] {w.sh(), w.sw()});
    return full.narrow(2, w.pt(), h).narrow(3, w.pl(), wd);
  }

  static Tensor sumTo(Tensor x, Shape target) {
    int extra = (int) x.dim() - target.rank();
    Tensor t = x;
    for (int i = 0; i < extra; i++) {
      t = t.sum(new long[] {0}, false, new ScalarTypeOptional());
    }
    for (int i = 0; i < target.rank(); i++) {
      if (target.dim(i) == 1 && t.size(i) != 1) {
        t = t.sum(new long[] {i}, true, new ScalarTypeOptional());
      }
    }
    return t;
  }
}
