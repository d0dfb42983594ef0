package dev.nnc.passes.backend;

/**
 * One call of a program's schedule: a native symbol run over iterations {@code [0, extent)}, with
 * its cost per iteration in flops (0: the iterations must run in order, on one thread).
 */
public record NativeCall(String symbol, long extent, double costPerItem) {}
