package dev.nnc.passes.backend;

/** One call of a program's schedule: a native symbol run over iterations {@code [0, extent)}. */
public record NativeCall(String symbol, long extent, double costPerItem) {}
