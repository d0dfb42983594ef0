package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code size} consecutive entries along {@code axis} from {@code start}:
 * {@code slice[axis=1, start=16, size=32](y[8,48,14,14]) : f32[8,32,14,14]} ({@code narrow} in
 * PyTorch). A gather: its consumer reads it in place. Its gradient puts {@code dy} back between
 * zeros (a concat with broadcast zeros).
 */
public record Slice(int axis, int start, int size) implements Op {
  @Override
  public boolean gather() {
    return true;
  }

  @Override
  public String mnemonic() {
    return "slice";
  }

  @Override
  public String attributes() {
    return "axis=" + axis + ", start=" + start + ", size=" + size;
  }

  @Override
  public int arity() {
    return 1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    Shape s = in.get(0).shape();
    if (axis < 0 || axis >= s.rank() || start < 0 || size < 1 || (long) start + size > s.dim(axis)) {
      throw new ShapeException("slice of " + size + " from " + start + " along axis " + axis + " does not fit " + s);
    }
    int[] d = s.dims().clone();
    d[axis] = size;
    return TensorType.f32(new Shape(d));
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    Shape full = self.input(0).shape();
    List<Node> parts = new ArrayList<>();
    if (start > 0) {
      parts.add(zeros(b, full, start));
    }
    parts.add(dy);
    int after = full.dim(axis) - start - size;
    if (after > 0) {
      parts.add(zeros(b, full, after));
    }
    return List.of(parts.size() == 1 ? dy : b.add(new Concat(axis), parts));
  }

  private Node zeros(Graph.Builder b, Shape full, int n) {
    int[] d = full.dims().clone();
    d[axis] = n;
    return Ops.broadcastTo(b, Ops.constant(b, 0), new Shape(d));
  }
}
