package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Reorders dimensions: output dimension {@code i} is input dimension {@code perm[i]}.
 * {@code permute[perm=[0,3,1,2]](y[64,24,24,6]) : f32[64,6,24,24]} turns a GEMM's
 * (pixel, channel) rows into NCHW. A gather: its consumer reads it in place, its operand from memory.
 */
public record Permute(List<Integer> perm) implements Op {
  public Permute {
    perm = List.copyOf(perm);
  }

  @Override
  public boolean gather() {
    return true;
  }

  @Override
  public String mnemonic() {
    return "permute";
  }

  @Override
  public String attributes() {
    return "perm=[" + perm.stream().map(String::valueOf).collect(Collectors.joining(",")) + "]";
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape x = in.get(0).shape();
    boolean[] seen = new boolean[x.rank()];
    if (perm.size() != x.rank()) {
      throw new ShapeException("permute " + perm + " needs a rank-" + perm.size() + " tensor, got " + x);
    }
    int[] d = new int[x.rank()];
    for (int i = 0; i < d.length; i++) {
      int p = perm.get(i);
      if (p < 0 || p >= d.length || seen[p]) {
        throw new ShapeException("permute " + perm + " is not a permutation of " + d.length + " dimensions");
      }
      seen[p] = true;
      d[i] = x.dim(p);
    }
    return TensorType.f32(new Shape(d));
  }

  /** The permutation that undoes this one. */
  public Permute inverse() {
    Integer[] inv = new Integer[perm.size()];
    for (int i = 0; i < inv.length; i++) {
      inv[perm.get(i)] = i;
    }
    return new Permute(List.of(inv));
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    return List.of(b.add(inverse(), dy));
  }
}
