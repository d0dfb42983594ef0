package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import java.util.Locale;

/**
 * The element-wise functions of one operand. {@link #apply} is the double-precision reference
 * (the interpreter's); each back end expands the function from primitive arithmetic itself. The
 * {@code *_GRAD} members are derivatives used by gradient rules.
 */
public enum UnaryFn {
  NEG,
  ABS,
  SIGN,
  /** 1 where x > 0, else 0: the derivative of relu. */
  STEP,
  EXP,
  LOG,
  SQRT,
  SQUARE,
  RECIP,
  RELU,
  LEAKY_RELU,
  ELU,
  SIGMOID,
  TANH,
  SOFTSIGN,
  SOFTPLUS,
  GELU,
  SWISH,
  LEAKY_RELU_GRAD,
  ELU_GRAD,
  SOFTSIGN_GRAD,
  GELU_GRAD,
  SWISH_GRAD;

  public String text() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static UnaryFn parse(String s) {
    return valueOf(s.toUpperCase(Locale.ROOT));
  }

  /** Whether the function takes the {@code alpha} attribute. */
  public boolean hasAlpha() {
    return this == LEAKY_RELU || this == ELU || this == LEAKY_RELU_GRAD || this == ELU_GRAD;
  }

  public double defaultAlpha() {
    return switch (this) {
      case LEAKY_RELU, LEAKY_RELU_GRAD -> 0.01;
      case ELU, ELU_GRAD -> 1.0;
      default -> 0.0;
    };
  }

  private static final double INV_SQRT2 = 0.7071067811865476;
  private static final double INV_SQRT_2PI = 0.3989422804014327;

  public double apply(double x, double a) {
    return switch (this) {
      case NEG -> -x;
      case ABS -> Math.abs(x);
      case SIGN -> Math.signum(x);
      case STEP -> x > 0 ? 1 : 0;
      case EXP -> Math.exp(x);
      case LOG -> Math.log(x);
      case SQRT -> Math.sqrt(x);
      case SQUARE -> x * x;
      case RECIP -> 1 / x;
      case RELU -> x > 0 ? x : 0;
      case LEAKY_RELU -> x > 0 ? x : a * x;
      case ELU -> x > 0 ? x : a * (Math.exp(x) - 1);
      case SIGMOID -> 1 / (1 + Math.exp(-x));
      case TANH -> Math.tanh(x);
      case SOFTSIGN -> x / (1 + Math.abs(x));
      case SOFTPLUS -> Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
      case GELU -> 0.5 * x * (1 + erf(x * INV_SQRT2));
      case SWISH -> x / (1 + Math.exp(-x));
      case LEAKY_RELU_GRAD -> x > 0 ? 1 : a;
      case ELU_GRAD -> x > 0 ? 1 : a * Math.exp(x);
      case SOFTSIGN_GRAD -> 1 / ((1 + Math.abs(x)) * (1 + Math.abs(x)));
      case GELU_GRAD -> 0.5 * (1 + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
      case SWISH_GRAD -> {
        double s = 1 / (1 + Math.exp(-x));
        yield s * (1 + x * (1 - s));
      }
    };
  }

  /**
   * d/dx of this function, times {@code dy}. {@code y} is this function's output at {@code x}
   * (several derivatives are cheapest from it: tanh' = 1 - y², sigmoid' = y(1 - y)).
   */
  public Node gradient(Graph.Builder b, Node x, Node y, Node dy, double a) {
    return switch (this) {
      case NEG -> Ops.neg(b, dy);
      case ABS -> Ops.mul(b, dy, Ops.unary(b, SIGN, x));
      case SIGN, STEP -> Ops.mul(b, dy, Ops.constant(b, 0));
      case EXP -> Ops.mul(b, dy, y);
      case LOG -> Ops.div(b, dy, x);
      case SQRT -> Ops.div(b, dy, Ops.scale(b, y, 2));
      case SQUARE -> Ops.mul(b, dy, Ops.scale(b, x, 2));
      case RECIP -> Ops.neg(b, Ops.mul(b, dy, Ops.unary(b, SQUARE, y)));
      case RELU -> Ops.mul(b, dy, Ops.unary(b, STEP, x));
      case LEAKY_RELU -> Ops.mul(b, dy, Ops.unary(b, LEAKY_RELU_GRAD, a, x));
      case ELU -> Ops.mul(b, dy, Ops.unary(b, ELU_GRAD, a, x));
      case SIGMOID -> Ops.mul(b, dy, Ops.mul(b, y, Ops.sub(b, Ops.constant(b, 1), y)));
      case TANH -> Ops.mul(b, dy, Ops.sub(b, Ops.constant(b, 1), Ops.unary(b, SQUARE, y)));
      case SOFTSIGN -> Ops.mul(b, dy, Ops.unary(b, SOFTSIGN_GRAD, x));
      case SOFTPLUS -> Ops.mul(b, dy, Ops.unary(b, SIGMOID, x));
      case GELU -> Ops.mul(b, dy, Ops.unary(b, GELU_GRAD, x));
      case SWISH -> Ops.mul(b, dy, Ops.unary(b, SWISH_GRAD, x));
      case LEAKY_RELU_GRAD, ELU_GRAD, SOFTSIGN_GRAD, GELU_GRAD, SWISH_GRAD ->
          throw new UnsupportedOperationException(text() + " has no gradient (no second derivatives yet)");
    };
  }

  /** erf to double precision (W. J. Cody's rational approximations via Math only). */
  public static double erf(double x) {
    // Abramowitz–Stegun 7.1.26 is too coarse for a double reference; use the series/continued
    // fraction split, accurate to ~1e-15.
    double ax = Math.abs(x);
    double r;
    if (ax < 2.5) {
      double sum = ax;
      double term = ax;
      double x2 = ax * ax;
      for (int n = 1; n < 200; n++) {
        term *= -x2 / n;
        double t = term / (2 * n + 1);
        sum += t;
        if (Math.abs(t) < 1e-17 * Math.abs(sum)) {
          break;
        }
      }
      r = 2 / Math.sqrt(Math.PI) * sum;
    } else {
      // erfc continued fraction (Lentz), converges fast for x ≥ 2.5.
      double f = ax;
      double c = ax;
      double d = 0;
      for (int n = 1; n < 300; n++) {
        double an = n / 2.0;
        d = ax + an * d;
        d = 1 / d;
        c = ax + an / c;
        double delta = c * d;
        f *= delta;
        if (Math.abs(delta - 1) < 1e-16) {
          break;
        }
      }
      double erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
      r = 1 - erfc;
    }
    return x < 0 ? -r : r;
  }
}
