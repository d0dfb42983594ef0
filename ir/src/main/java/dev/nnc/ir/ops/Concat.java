package dev.nnc.ir.ops;

import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import java.util.ArrayList;
import java.util.List;

/**
 * Joins its operands along {@code axis}; all other dimensions must agree:
 * {@code concat[axis=1](a[8,16,14,14], b[8,32,14,14]) : f32[8,48,14,14]} (channels, as
 * {@code torch.cat(dim=1)}). Variadic; its gradient slices {@code dy} back into the operands.
 */
public record Concat(int axis) implements Op {
  @Override
  public String mnemonic() {
    return "concat";
  }

  @Override
  public String attributes() {
    return "axis=" + axis;
  }

  @Override
  public int arity() {
    return -1;
  }

  @Override
  public TensorType infer(List<Node> in) {
    if (in.isEmpty()) {
      throw new ShapeException("concat needs at least one operand");
    }
    Shape first = in.get(0).shape();
    if (axis < 0 || axis >= first.rank()) {
      throw new ShapeException("concat axis " + axis + " is out of range for " + first);
    }
    long total = 0;
    for (Node n : in) {
      Shape s = n.shape();
      boolean ok = s.rank() == first.rank();
      for (int d = 0; ok && d < s.rank(); d++) {
        ok = d == axis || s.dim(d) == first.dim(d);
      }
      if (!ok) {
        throw new ShapeException("concat needs tensors that match except along axis " + axis + ", got " + first
            + " and " + s);
      }
      total += s.dim(axis);
    }
    if (total > Integer.MAX_VALUE) {
      throw new ShapeException("concat along axis " + axis + " gives " + total + " elements there");
    }
    int[] d = first.dims().clone();
    d[axis] = (int) total;
    return TensorType.f32(new Shape(d));
  }

  @Override
  public List<Node> gradients(Graph.Builder b, Node self, Node dy) {
    List<Node> out = new ArrayList<>();
    int start = 0;
    for (Node x : self.inputs()) {
      out.add(b.add(new Slice(axis, start, x.shape().dim(axis)), dy));
      start += x.shape().dim(axis);
    }
    return out;
  }
}
