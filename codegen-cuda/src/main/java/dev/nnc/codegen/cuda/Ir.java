package dev.nnc.codegen.cuda;

import static org.bytedeco.llvm.global.LLVM.*;

import dev.nnc.codegen.cpu.KernelEmitter;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.llvm.LLVM.LLVMBasicBlockRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/** Small LLVM IR building helpers for functions the kernel emitter is not emitting itself (entry points). */
final class Ir {
  private Ir() {}

  static PointerPointer<?> pp(org.bytedeco.javacpp.Pointer... ps) {
    return new PointerPointer<>(ps);
  }

  /** A call of non-overloaded LLVM intrinsic {@code name} (an NVPTX special register, barrier, shuffle) with {@code args}. */
  static LLVMValueRef intrinsic(KernelEmitter e, String name, LLVMValueRef... args) {
    int id = LLVMLookupIntrinsicID(name, name.length());
    if (id == 0) {
      throw new IllegalStateException("LLVM has no intrinsic " + name);
    }
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(e.mod, id, (PointerPointer<?>) null, 0);
    org.bytedeco.llvm.LLVM.LLVMTypeRef ft = LLVMIntrinsicGetType(e.ctx, id, (PointerPointer<?>) null, 0);
    return LLVMBuildCall2(e.b, ft, f, pp(args), args.length, "");
  }

  /** {@code for (slot = from; slot < to; slot++) body} in function {@code fn}. */
  static void loop(KernelEmitter e, LLVMValueRef fn, LLVMValueRef slot, LLVMValueRef from, LLVMValueRef to,
      Runnable body) {
    LLVMBuildStore(e.b, from, slot);
    LLVMBasicBlockRef cond = LLVMAppendBasicBlockInContext(e.ctx, fn, "cond");
    LLVMBasicBlockRef bodyBb = LLVMAppendBasicBlockInContext(e.ctx, fn, "body");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(e.ctx, fn, "done");
    LLVMBuildBr(e.b, cond);
    LLVMPositionBuilderAtEnd(e.b, cond);
    LLVMValueRef v = LLVMBuildLoad2(e.b, e.i64, slot, "");
    LLVMBuildCondBr(e.b, LLVMBuildICmp(e.b, LLVMIntSLT, v, to, ""), bodyBb, done);
    LLVMPositionBuilderAtEnd(e.b, bodyBb);
    body.run();
    LLVMValueRef cur = LLVMBuildLoad2(e.b, e.i64, slot, "");
    LLVMBuildStore(e.b, LLVMBuildAdd(e.b, cur, e.c64(1), ""), slot);
    LLVMBuildBr(e.b, cond);
    LLVMPositionBuilderAtEnd(e.b, done);
  }

  /** {@code if (cond) then} in function {@code fn}. */
  static void when(KernelEmitter e, LLVMValueRef fn, LLVMValueRef cond, Runnable then) {
    LLVMBasicBlockRef t = LLVMAppendBasicBlockInContext(e.ctx, fn, "then");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(e.ctx, fn, "endif");
    LLVMBuildCondBr(e.b, cond, t, done);
    LLVMPositionBuilderAtEnd(e.b, t);
    then.run();
    LLVMBuildBr(e.b, done);
    LLVMPositionBuilderAtEnd(e.b, done);
  }
}
