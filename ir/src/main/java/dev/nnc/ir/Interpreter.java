package dev.nnc.ir;

import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.Broadcast;
import dev.nnc.ir.ops.Constant;
import dev.nnc.ir.ops.DropoutMask;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.OneHot;
import dev.nnc.ir.ops.Op;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.ir.ops.SumTo;
import dev.nnc.ir.ops.Unary;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The reference interpreter: evaluates any graph in double precision, slowly and plainly. It is
 * the oracle for gradient checks, for "the optimised graph computes the same" checks after each
 * pass, and for the generated code of every back end.
 */
public final class Interpreter {
  /** Outputs by name, and the new values of updated parameters by name. */
  public record Result(Map<String, Tensor> outputs, Map<String, Tensor> updates, Map<Node, Tensor> values) {}

  private Interpreter() {}

  /**
   * Runs {@code g}. {@code inputs} are by input name, {@code params} by parameter name; a
   * parameter called {@code step} (the step counter) seeds dropout masks.
   */
  public static Result run(Graph g, Map<String, Tensor> inputs, Map<String, Tensor> params) {
    Map<Node, Tensor> v = new HashMap<>();
    for (Node n : g.nodes()) {
      v.put(n, eval(n, v, inputs, params));
    }
    Map<String, Tensor> outs = new LinkedHashMap<>();
    g.outputs().forEach((k, n) -> outs.put(k, v.get(n)));
    Map<String, Tensor> ups = new LinkedHashMap<>();
    g.updates().forEach((p, n) -> ups.put(((Param) p.op()).name(), v.get(n)));
    return new Result(outs, ups, v);
  }

  private static Tensor eval(Node n, Map<Node, Tensor> v, Map<String, Tensor> inputs, Map<String, Tensor> params) {
    Op op = n.op();
    Shape s = n.shape();
    return switch (op) {
      case Input in -> check(n, inputs.get(in.name()), "input " + in.name());
      case Param p -> check(n, params.get(p.name()), "parameter " + p.name());
      case Constant c -> Tensor.scalar(c.value());
      case MatMul mm -> matmul(mm, v.get(n.input(0)), v.get(n.input(1)), s);
      case Unary u -> {
        Tensor x = v.get(n.input(0));
        double[] out = new double[x.data().length];
        for (int i = 0; i < out.length; i++) {
          out[i] = u.fn().apply(x.data()[i], u.alpha());
        }
        yield new Tensor(s, out);
      }
      case Binary bin -> {
        Tensor x = v.get(n.input(0));
        Tensor y = v.get(n.input(1));
        int[] ix = Tensor.broadcastIndex(x.shape(), s);
        int[] iy = Tensor.broadcastIndex(y.shape(), s);
        double[] out = new double[ix.length];
        for (int i = 0; i < out.length; i++) {
          out[i] = bin.fn().apply(x.data()[ix[i]], y.data()[iy[i]]);
        }
        yield new Tensor(s, out);
      }
      case Reduce r -> reduce(r, v.get(n.input(0)), s);
      case Broadcast bc -> {
        Tensor x = v.get(n.input(0));
        int[] ix = Tensor.broadcastIndex(x.shape(), s);
        double[] out = new double[ix.length];
        for (int i = 0; i < out.length; i++) {
          out[i] = x.data()[ix[i]];
        }
        yield new Tensor(s, out);
      }
      case SumTo st -> {
        Tensor x = v.get(n.input(0));
        int[] map = Tensor.broadcastIndex(s, x.shape());
        double[] out = new double[Math.toIntExact(s.size())];
        for (int i = 0; i < map.length; i++) {
          out[map[i]] += x.data()[i];
        }
        yield new Tensor(s, out);
      }
      case Reshape rs -> new Tensor(s, v.get(n.input(0)).data());
      case Softmax sm -> softmax(v.get(n.input(0)), false);
      case LogSoftmax ls -> softmax(v.get(n.input(0)), true);
      case OneHot oh -> {
        Tensor labels = v.get(n.input(0));
        double[] out = new double[Math.toIntExact(s.size())];
        for (int i = 0; i < labels.data().length; i++) {
          int c = (int) labels.data()[i];
          if (c >= 0 && c < oh.classes()) {
            out[i * oh.classes() + c] = 1;
          }
        }
        yield new Tensor(s, out);
      }
      case DropoutMask dm -> {
        int step = (int) v.get(n.input(0)).data()[0];
        double[] out = new double[Math.toIntExact(s.size())];
        for (int i = 0; i < out.length; i++) {
          out[i] = dm.maskValue(i, step);
        }
        yield new Tensor(s, out);
      }
    };
  }

  private static Tensor check(Node n, Tensor t, String what) {
    if (t == null) {
      throw new IllegalArgumentException("no value given for " + what);
    }
    if (!t.shape().equals(n.shape())) {
      throw new IllegalArgumentException(what + " has shape " + t.shape() + ", the graph expects " + n.shape());
    }
    return t;
  }

  private static Tensor matmul(MatMul mm, Tensor a, Tensor b, Shape out) {
    int m = out.dim(0);
    int n = out.dim(1);
    int k = mm.transA() ? a.shape().dim(0) : a.shape().dim(1);
    double[] c = new double[m * n];
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double acc = 0;
        for (int p = 0; p < k; p++) {
          double av = mm.transA() ? a.data()[p * m + i] : a.data()[i * k + p];
          double bv = mm.transB() ? b.data()[j * k + p] : b.data()[p * n + j];
          acc += av * bv;
        }
        c[i * n + j] = acc;
      }
    }
    return new Tensor(out, c);
  }

  private static Tensor reduce(Reduce r, Tensor x, Shape out) {
    Shape keep = r.reducedShape(x.shape(), true);
    int[] map = Tensor.broadcastIndex(keep, x.shape());
    int size = Math.toIntExact(out.size());
    double[] acc = new double[size];
    if (r.fn() == dev.nnc.ir.ops.ReduceFn.MAX) {
      java.util.Arrays.fill(acc, Double.NEGATIVE_INFINITY);
    }
    for (int i = 0; i < map.length; i++) {
      double xv = x.data()[i];
      acc[map[i]] = switch (r.fn()) {
        case SUM, MEAN -> acc[map[i]] + xv;
        case MAX -> Math.max(acc[map[i]], xv);
      };
    }
    if (r.fn() == dev.nnc.ir.ops.ReduceFn.MEAN) {
      double cnt = r.count(x.shape());
      for (int i = 0; i < size; i++) {
        acc[i] /= cnt;
      }
    }
    return new Tensor(out, acc);
  }

  private static Tensor softmax(Tensor x, boolean log) {
    int cols = x.shape().dim(-1);
    double[] out = new double[x.data().length];
    for (int row = 0; row < out.length / cols; row++) {
      int o = row * cols;
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < cols; j++) {
        max = Math.max(max, x.data()[o + j]);
      }
      double sum = 0;
      for (int j = 0; j < cols; j++) {
        sum += Math.exp(x.data()[o + j] - max);
      }
      for (int j = 0; j < cols; j++) {
        double z = x.data()[o + j] - max;
        out[o + j] = log ? z - Math.log(sum) : Math.exp(z) / sum;
      }
    }
    return new Tensor(x.shape(), out);
  }
}
