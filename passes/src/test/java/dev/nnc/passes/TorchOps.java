package dev.nnc.passes;

import dev.nnc.ir.Shape;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.UnaryFn;
import java.util.List;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/** libtorch (org.bytedeco:pytorch) as the reference: tensors from and to double arrays, and the ops. */
final class TorchOps {
  /** A libtorch computation on operand tensors. */
  interface Fn {
    Tensor apply(List<Tensor> in);
  }

  private TorchOps() {}

  static Tensor tensor(double[] v, Shape s, boolean requiresGrad) {
    DoublePointer p = new DoublePointer(v);
    Tensor t = torch.from_blob(p, dims(s), new TensorOptions(torch.ScalarType.Double)).clone();
    p.close();
    if (requiresGrad) {
      t.set_requires_grad(true);
    }
    return t;
  }

  static Tensor longs(double[] v) {
    return tensor(v, Shape.of(v.length), false).to(torch.ScalarType.Long);
  }

  static double[] values(Tensor t) {
    Tensor f = t.contiguous().reshape(-1).to(torch.ScalarType.Double);
    int n = (int) f.numel();
    double[] out = new double[n];
    for (int i = 0; i < n; i++) {
      out[i] = f.select(0, i).item_double();
    }
    return out;
  }

  static Tensor matmul(Tensor a, Tensor b, boolean ta, boolean tb) {
    return (ta ? a.t() : a).matmul(tb ? b.t() : b);
  }

  static Tensor scalar(double v) {
    return tensor(new double[] {v}, Shape.SCALAR, false);
  }

  static Tensor unary(UnaryFn fn, double alpha, Tensor x) {
    return switch (fn) {
      case NEG -> x.neg();
      case ABS -> x.abs();
      case SIGN -> torch.sign(x);
      // heaviside has no autograd formula; its derivative is 0 almost everywhere, as x·0 says.
      case STEP -> torch.heaviside(x.detach(), scalar(0)).add(x.mul(new Scalar(0.0)));
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
      default -> throw new IllegalArgumentException(fn.text());
    };
  }

  static Tensor binary(BinaryFn fn, Tensor x, Tensor y) {
    return switch (fn) {
      case ADD -> x.add(y);
      case SUB -> x.sub(y);
      case MUL -> x.mul(y);
      case DIV -> x.div(y);
      case MAX -> torch.maximum(x, y);
      case MIN -> torch.minimum(x, y);
      default -> throw new IllegalArgumentException(fn.text());
    };
  }

  static Tensor reduce(ReduceFn fn, List<Integer> axes, boolean keep, Tensor x) {
    long[] ax = axes.stream().mapToLong(Integer::longValue).toArray();
    return switch (fn) {
      case SUM -> x.sum(ax, keep, new org.bytedeco.pytorch.ScalarTypeOptional());
      case MEAN -> torch.mean(x, ax, keep, new org.bytedeco.pytorch.ScalarTypeOptional());
      case MAX -> torch.amax(x, ax, keep);
    };
  }

  static long[] dims(Shape s) {
    long[] dims = new long[s.rank()];
    for (int i = 0; i < dims.length; i++) {
      dims[i] = s.dim(i);
    }
    return dims;
  }

  static Tensor expand(Tensor x, Shape s) {
    return x.expand(dims(s));
  }

  static Tensor sumTo(Tensor x, Shape target) {
    // Sum the leading extra dimensions, then the stretched ones, keeping them.
    int extra = (int) x.dim() - target.rank();
    Tensor t = x;
    for (int i = 0; i < extra; i++) {
      t = t.sum(new long[] {0}, false, new org.bytedeco.pytorch.ScalarTypeOptional());
    }
    for (int i = 0; i < target.rank(); i++) {
      if (target.dim(i) == 1 && t.size(i) != 1) {
        t = t.sum(new long[] {i}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
      }
    }
    return t;
  }

  static Tensor reshape(Tensor x, Shape s) {
    return x.reshape(dims(s));
  }

  static Tensor softmax(Tensor x, boolean log) {
    return log ? torch.log_softmax(x, -1) : torch.softmax(x, -1);
  }
}
