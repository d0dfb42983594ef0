package dev.nnc.ir;

/** The static type of a value: shape and element type. */
public record TensorType(Shape shape, DType dtype) {
  public static TensorType f32(Shape shape) {
    return new TensorType(shape, DType.F32);
  }

  @Override
  public String toString() {
    return dtype.text() + shape;
  }
}
