package dev.nnc.passes.backend;

import dev.nnc.ir.kernel.KernelProgram;
import dev.nnc.passes.lower.MemoryPlan;

/** A program's kernels with their arena offsets. */
public record PlannedProgram(KernelProgram program, MemoryPlan plan) {}
