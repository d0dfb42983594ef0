package dev.nnc.codegen.cuda;

import static dev.nnc.codegen.cuda.Ir.pp;
import static org.bytedeco.llvm.global.LLVM.*;

import dev.nnc.codegen.cpu.KernelEmitter;
import java.util.function.Consumer;
import org.bytedeco.llvm.LLVM.LLVMTypeRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * Code for a whole thread block that synchronises, written once for both flavours as phases:
 * {@link #forAllThreads} runs its body for every thread of the block, {@link #barrier} separates
 * phases. On the GPU a phase is the thread's own code (its index from {@code %tid.x}), a barrier
 * is {@code bar.sync 0}, a thread's register is a register and shared memory is {@code .shared}.
 * Emulated, a phase is a loop over the block's threads, so every thread finishes it before any
 * starts the next (which is what the barrier guarantees), a thread's register is an array with
 * one element per thread (its value lives across phases), and shared memory is an array on the
 * stack. The code between phases (the loop over K of a tiled GEMM) must be uniform: the same for
 * every thread of the block, as a barrier in CUDA requires.
 */
final class BlockCode {
  private final KernelEmitter e;
  private final GpuEmitter.Flavor flavor;
  final int threads;
  private int sharedCount;

  BlockCode(KernelEmitter e, GpuEmitter.Flavor flavor, int threads) {
    this.e = e;
    this.flavor = flavor;
    this.threads = threads;
  }

  /** A float per thread, kept across phases. */
  final class Register {
    private final LLVMValueRef slot;

    private Register(String name) {
      slot = flavor == GpuEmitter.Flavor.PTX ? e.slot(e.f32, name) : e.slot(LLVMArrayType2(e.f32, threads), name);
    }

    private LLVMValueRef at(LLVMValueRef thread) {
      // Emulated, the index is taken modulo the block's threads: a wrong thread index (a bug)
      // reads or writes another thread's element, a wrong result the tests see, never memory
      // outside the array, which would crash the JVM.
      return flavor == GpuEmitter.Flavor.PTX ? slot : e.gep(e.f32, slot, LLVMBuildURem(e.b, thread, e.c64(threads), ""));
    }

    LLVMValueRef get(LLVMValueRef thread) {
      return LLVMBuildLoad2(e.b, e.f32, at(thread), "");
    }

    void set(LLVMValueRef thread, LLVMValueRef v) {
      LLVMBuildStore(e.b, v, at(thread));
    }
  }

  Register register(String name) {
    return new Register(name);
  }

  /** {@code floats} floats of memory shared by the block's threads; returns a pointer to the first. */
  LLVMValueRef shared(int floats) {
    LLVMTypeRef type = LLVMArrayType2(e.f32, floats);
    if (flavor == GpuEmitter.Flavor.EMULATED) {
      return e.slot(type, "shared");
    }
    LLVMValueRef g = LLVMAddGlobalInAddressSpace(e.mod, type,
        LLVMGetValueName(e.function()).getString() + "_shared" + sharedCount++, 3);
    LLVMSetLinkage(g, LLVMInternalLinkage);
    LLVMSetInitializer(g, LLVMGetUndef(type));
    LLVMSetAlignment(g, 16);
    // Address space 3 (.shared) seen as a generic pointer, as the loads and stores expect.
    return LLVMBuildAddrSpaceCast(e.b, g, e.ptr, "");
  }

  /** A float of shared memory {@code base[index]}. */
  LLVMValueRef element(LLVMValueRef base, LLVMValueRef index) {
    return e.gep(e.f32, base, index);
  }

  /**
   * The {@code n} floats of shared memory from {@code base[index]}, read as one vector: on the GPU
   * {@code ld.shared.v4.f32} for four, which needs {@code index} a multiple of {@code n} (the
   * shared arrays are 16-byte aligned); emulated the same vector load, at the floats' own alignment.
   */
  LLVMValueRef[] vector(LLVMValueRef base, LLVMValueRef index, int n) {
    LLVMValueRef load = LLVMBuildLoad2(e.b, LLVMVectorType(e.f32, n), element(base, index), "");
    LLVMSetAlignment(load, flavor == GpuEmitter.Flavor.PTX ? 4 * n : 4);
    LLVMValueRef[] v = new LLVMValueRef[n];
    for (int x = 0; x < n; x++) {
      v[x] = LLVMBuildExtractElement(e.b, load, LLVMConstInt(e.i32, x, 0), "");
    }
    return v;
  }

  /** Runs {@code body(thread)} for every thread of the block, as one phase. */
  void forAllThreads(Consumer<LLVMValueRef> body) {
    if (flavor == GpuEmitter.Flavor.PTX) {
      body.accept(LLVMBuildZExt(e.b, Ir.intrinsic(e, "llvm.nvvm.read.ptx.sreg.tid.x"), e.i64, "thread"));
      return;
    }
    LLVMValueRef t = e.slot(e.i64, "thread");
    e.loop(t, e.c64(0), e.c64(threads), 1, () -> body.accept(e.load64(t)));
  }

  /**
   * Register {@code r} of the thread whose index is {@code thread}'s XOR {@code offset} (below 32:
   * within the warp), as {@code shfl.sync.bfly} gives it on the GPU (every thread of the warp
   * taking part). Emulated it reads that thread's element, so {@code r} must not be written in
   * the same phase.
   */
  LLVMValueRef shuffleXor(Register r, LLVMValueRef thread, int offset) {
    if (offset < 1 || offset > 16) {
      throw new IllegalArgumentException("a shuffle within a warp, not by " + offset);
    }
    if (flavor == GpuEmitter.Flavor.EMULATED) {
      return r.get(LLVMBuildXor(e.b, thread, e.c64(offset), ""));
    }
    return Ir.intrinsic(e, "llvm.nvvm.shfl.sync.bfly.f32", LLVMConstInt(e.i32, 0xffffffffL, 0), r.get(thread),
        LLVMConstInt(e.i32, offset, 0), LLVMConstInt(e.i32, 31, 0));
  }

  /** Every thread of the block reaches this point before any goes on. */
  void barrier() {
    if (flavor == GpuEmitter.Flavor.PTX) {
      Ir.intrinsic(e, "llvm.nvvm.barrier0");
    }
    // Emulated: a phase ends when its loop over the threads does.
  }

}
