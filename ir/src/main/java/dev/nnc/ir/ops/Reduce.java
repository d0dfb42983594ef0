package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Reduces {@code axes} (sorted, non-negative) with sum, mean or max; {@code keepDims} keeps them as
 * size-1 dimensions. {@code reduce_mean[axes=[0,1], keepDims=false](x[64,10]) : f32[]}.
 */
public record Reduce(ReduceFn fn, List<Integer> axes, boolean keepDims) implements Op {
  @Override
  public boolean reduction() {
    return true;
  }

  public Reduce {
    axes = List.copyOf(axes.stream().sorted().toList());
  }

  public static Reduce all(ReduceFn fn, int rank) {
    List<Integer> ax = new ArrayList<>();
    for (int i = 0; i < rank; i++) {
      ax.add(i);
    }
    return new Reduce(fn, ax, false);
  }

  @Override
  public String mnemonic() {
    return fn.text();
  }

  @Override
  public String attributes() {
    return "axes=[" + axes.stream().map(String::valueOf).collect(Collectors.joining(",")) + "], keepDims="
        + keepDims;
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape s = in.get(0).shape();
    for (int a : axes) {
      if (a < 0 || a >= s.rank()) {
        throw new ShapeException(fn.text() + " axis " + a + " is out of range for " + s);
      }
    }
    return TensorType.f32(reducedShape(s, keepDims));
  }

  public Shape reducedShape(Shape s, boolean keep) {
    List<Integer> dims = new ArrayList<>();
    for (int i = 0; i < s.rank(); i++) {
      if (axes.contains(i)) {
        if (keep) {
          dims.add(1);
        }
      } else {
        dims.add(s.dim(i));
      }
    }
    return new Shape(dims.stream().mapToInt(Integer::intValue).toArray());
  }

  /** Number of elements folded into each output element. */
  public long count(Shape s) {
    long n = 1;
    for (int a : axes) {
      n *= s.dim(a);
    }
    return n;
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    Node x = self.input(0);
    Shape keep = reducedShape(x.shape(), true);
    Node g = Ops.broadcastTo(b, Ops.reshape(b, dy, keep), x.shape());
    return switch (fn) {
      case SUM -> List.of(g);
      case MEAN -> List.of(Ops.scale(b, g, 1.0 / count(x.shape())));
      case MAX -> {
        Node y = Ops.broadcastTo(b, Ops.reshape(b, self, keep), x.shape());
        yield List.of(Ops.mul(b, g, b.add(new Binary(BinaryFn.EQ), x, y)));
      }
    };
  }
}
