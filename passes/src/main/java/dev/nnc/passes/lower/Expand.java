package dev.nnc.passes.lower;

import dev.nnc.ir.kernel.KExpr;
import dev.nnc.ir.kernel.KExpr.Bin;
import dev.nnc.ir.kernel.KExpr.BinOp;
import dev.nnc.ir.kernel.KExpr.Cmp;
import dev.nnc.ir.kernel.KExpr.Lit;
import dev.nnc.ir.kernel.KExpr.Select;
import dev.nnc.ir.kernel.KExpr.Un;
import dev.nnc.ir.kernel.KExpr.UnOp;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.UnaryFn;

/**
 * Element-wise functions in kernel primitives. This is the kernels' definition of each function;
 * {@link UnaryFn#apply} is the reference it is tested against.
 */
final class Expand {
  private Expand() {}

  private static final Lit ZERO = new Lit(0);
  private static final Lit ONE = new Lit(1);

  private static KExpr add(KExpr a, KExpr b) {
    return new Bin(BinOp.ADD, a, b);
  }

  private static KExpr sub(KExpr a, KExpr b) {
    return new Bin(BinOp.SUB, a, b);
  }

  private static KExpr mul(KExpr a, KExpr b) {
    return new Bin(BinOp.MUL, a, b);
  }

  private static KExpr div(KExpr a, KExpr b) {
    return new Bin(BinOp.DIV, a, b);
  }

  private static KExpr exp(KExpr a) {
    return new Un(UnOp.EXP, a);
  }

  private static KExpr positive(KExpr x, KExpr a, KExpr b) {
    return new Select(Cmp.GT, x, ZERO, a, b);
  }

  /** σ(x) = 1 / (1 + e^−x). */
  private static KExpr sigmoid(KExpr x) {
    return div(ONE, add(ONE, exp(new Un(UnOp.NEG, x))));
  }

  static KExpr unary(UnaryFn fn, double alpha, KExpr x) {
    Lit a = new Lit(alpha);
    return switch (fn) {
      case NEG -> new Un(UnOp.NEG, x);
      case ABS -> new Un(UnOp.ABS, x);
      case SIGN -> positive(x, ONE, new Select(Cmp.LT, x, ZERO, new Lit(-1), ZERO));
      case STEP -> positive(x, ONE, ZERO);
      case EXP -> exp(x);
      case LOG -> new Un(UnOp.LOG, x);
      case SQRT -> new Un(UnOp.SQRT, x);
      case SQUARE -> mul(x, x);
      case RECIP -> div(ONE, x);
      case RELU -> new Bin(BinOp.MAX, x, ZERO);
      case LEAKY_RELU -> positive(x, x, mul(a, x));
      case ELU -> positive(x, x, mul(a, sub(exp(x), ONE)));
      case SIGMOID -> sigmoid(x);
      case TANH -> new Un(UnOp.TANH, x);
      case SOFTSIGN -> div(x, add(ONE, new Un(UnOp.ABS, x)));
      // max(x, 0) + log1p(e^−|x|): no overflow for large |x|.
      case SOFTPLUS -> add(new Bin(BinOp.MAX, x, ZERO), new Un(UnOp.LOG1P, exp(new Un(UnOp.NEG, new Un(UnOp.ABS, x)))));
      // ½·x·(1 + erf(x/√2)), the exact GELU (PyTorch's default).
      case GELU -> mul(mul(new Lit(0.5), x), add(ONE, new Un(UnOp.ERF, mul(x, new Lit(0.7071067811865476)))));
      case SWISH -> mul(x, sigmoid(x));
      case LEAKY_RELU_GRAD -> positive(x, ONE, a);
      case ELU_GRAD -> positive(x, ONE, mul(a, exp(x)));
      case SOFTSIGN_GRAD -> {
        KExpr d = add(ONE, new Un(UnOp.ABS, x));
        yield div(ONE, mul(d, d));
      }
      // Φ(x) + x·φ(x)
      case GELU_GRAD -> add(mul(new Lit(0.5), add(ONE, new Un(UnOp.ERF, mul(x, new Lit(0.7071067811865476))))),
          mul(mul(x, new Lit(0.3989422804014327)), exp(mul(new Lit(-0.5), mul(x, x)))));
      // σ(x)·(1 + x·(1 − σ(x)))
      case SWISH_GRAD -> {
        KExpr s = sigmoid(x);
        yield mul(s, add(ONE, mul(x, sub(ONE, s))));
      }
    };
  }

  static KExpr binary(BinaryFn fn, KExpr x, KExpr y) {
    return switch (fn) {
      case ADD -> add(x, y);
      case SUB -> sub(x, y);
      case MUL -> mul(x, y);
      case DIV -> div(x, y);
      case MAX -> new Bin(BinOp.MAX, x, y);
      case MIN -> new Bin(BinOp.MIN, x, y);
      case GE -> new Select(Cmp.GE, x, y, ONE, ZERO);
      case EQ -> new Select(Cmp.EQ, x, y, ONE, ZERO);
    };
  }
}
