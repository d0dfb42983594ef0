package dev.nnc.passes.backend;

/**
 * One call of a program's schedule: a native symbol run over iterations {@code [0, extent)}, with
 * its cost per iteration in flops (0: the iterations must run in order, on one thread). Or, with
 * {@code repeat}, the head of a loop ({@link dev.nnc.ir.kernel.Kernel.Steps}): the next
 * {@code repeat.calls()} calls run {@code repeat.steps()} times (symbol: the loop's name, extent 0).
 */
public record NativeCall(String symbol, long extent, double costPerItem, Repeat repeat) {
  public NativeCall(String symbol, long extent, double costPerItem) {
    this(symbol, extent, costPerItem, null);
  }

  /**
   * A loop's head: before iteration {@code s} the runtime stores {@code first + s·delta} as a
   * float at arena element {@code counter}, then runs the {@code calls} calls after the head.
   */
  public record Repeat(long counter, long steps, long first, long delta, int calls) {}
}
