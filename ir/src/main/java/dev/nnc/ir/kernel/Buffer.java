package dev.nnc.ir.kernel;

import dev.nnc.ir.Shape;

/**
 * A region of the model's arena, in f32 elements. Parameters and state persist across runs;
 * inputs are written by the caller before a run; temporaries share space by liveness.
 */
public record Buffer(int id, String name, Kind kind, long size, Shape shape) {
  public enum Kind {
    PARAM,
    INPUT,
    TEMP
  }
}
