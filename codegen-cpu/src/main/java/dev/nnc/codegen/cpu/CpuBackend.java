package dev.nnc.codegen.cpu;

import static org.bytedeco.llvm.global.LLVM.*;

import dev.nnc.ir.kernel.Kernel;
import dev.nnc.passes.backend.Backend;
import dev.nnc.passes.backend.Compiled;
import dev.nnc.passes.backend.NativeCall;
import dev.nnc.passes.backend.PlannedProgram;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.llvm.LLVM.LLVMContextRef;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMOrcThreadSafeContextRef;
import org.bytedeco.llvm.LLVM.LLVMTargetMachineRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * The x86-64 back end: kernel IR → LLVM IR for the host's vector width, optimised at -O3, then
 * either loaded by ORC LLJIT or written as an object and linked into a shared library by lld.
 */
public final class CpuBackend implements Backend {
  /** An exported i64: the arena size (floats) the code was planned for. */
  public static final String ARENA_SYMBOL = dev.nnc.runtime.KernelLibrary.ARENA_SYMBOL;

  /** The GEMM blocking; null: the default with {@code -Dnnc.gemm.*} overrides, read at compile time. */
  private final GemmEmitter.Tiling tiling;

  public CpuBackend() {
    this(null);
  }

  CpuBackend(GemmEmitter.Tiling tiling) {
    this.tiling = tiling;
  }

  @Override
  public long scratchFloats(Kernel k) {
    return switch (k) {
      case Kernel.Gemm g -> GemmEmitter.scratchFloats(g.m(), g.n(), g.k());
      case Kernel.Loops l -> 0;
    };
  }

  @Override
  public String name() {
    return "cpu";
  }

  @Override
  public Compiled compile(String model, List<PlannedProgram> programs, String cpu) {
    GemmEmitter.Tiling tiling = this.tiling != null ? this.tiling : GemmEmitter.Tiling.fromSystemProperties();
    Llvm.Host host = Llvm.target(cpu);
    LLVMTargetMachineRef tm = Llvm.targetMachine(host);
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(model, ctx);
    LLVMSetTarget(mod, host.triple());
    LLVMSetModuleDataLayout(mod, LLVMCreateTargetDataLayout(tm));
    VectorMath vecmath = VectorMath.forHost(host).orElse(null);
    Map<String, List<NativeCall>> schedules = new LinkedHashMap<>();
    // The arena size the code was planned for: the runtime refuses a manifest that disagrees.
    long arena = programs.stream().mapToLong(pp -> pp.plan().regionEnd()).max().orElse(0);
    LLVMValueRef arenaGlobal = LLVMAddGlobal(mod, LLVMInt64TypeInContext(ctx), ARENA_SYMBOL);
    LLVMSetInitializer(arenaGlobal, LLVMConstInt(LLVMInt64TypeInContext(ctx), arena, 0));
    LLVMSetGlobalConstant(arenaGlobal, 1);
    for (PlannedProgram pp : programs) {
      KernelEmitter e = new KernelEmitter(ctx, mod, pp.plan().offsets(), vecmath);
      GemmEmitter gemm = new GemmEmitter(e, host.vectorWidth(), tiling);
      List<NativeCall> calls = new ArrayList<>();
      for (int ki = 0; ki < pp.program().kernels().size(); ki++) {
        Kernel k = pp.program().kernels().get(ki);
        switch (k) {
          case Kernel.Loops l -> {
            e.emitLoops(l);
            // A cost of 0 keeps a serial kernel on the calling thread.
            double cost = l.parallel() ? l.flops() / Math.max(1, l.root().extent()) : 0;
            calls.add(new NativeCall(l.name(), l.root().extent(), cost));
          }
          case Kernel.Gemm g -> calls.addAll(gemm.emit(g, pp.plan().scratch(ki)));
        }
      }
      LLVMDisposeBuilder(e.b);
      schedules.put(pp.program().name(), calls);
    }
    boolean usesVecmath = vecmath != null && keepVectorFunctions(ctx, mod);
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, err) != 0) {
      String msg = err.getString();
      LLVMDisposeMessage(err);
      throw new Llvm.LlvmException("generated LLVM IR does not verify: " + msg);
    }
    Llvm.check(LLVMRunPasses(mod, "default<O3>", tm, LLVMCreatePassBuilderOptions()), "LLVM optimisation");
    return new CpuCompiled(host, tm, tsc, mod, schedules, usesVecmath ? vecmath.library() : null);
  }

  /**
   * Lists the declared vector variants in {@code llvm.compiler.used}, so that the optimiser keeps
   * their declarations until the vectoriser has used them (as LLVM's own InjectTLIMappings does).
   * Returns whether there are any.
   */
  private static boolean keepVectorFunctions(LLVMContextRef ctx, LLVMModuleRef mod) {
    List<LLVMValueRef> used = new ArrayList<>();
    for (String f : VectorMath.CANDIDATES) {
      LLVMValueRef decl = LLVMGetNamedFunction(mod, VectorMath.vectorName(f));
      if (decl != null && !decl.isNull()) {
        used.add(decl);
      }
    }
    if (used.isEmpty()) {
      return false;
    }
    var ptrT = LLVMPointerTypeInContext(ctx, 0);
    var arrT = LLVMArrayType2(ptrT, used.size());
    LLVMValueRef g = LLVMAddGlobal(mod, arrT, "llvm.compiler.used");
    LLVMSetLinkage(g, LLVMAppendingLinkage);
    LLVMSetSection(g, "llvm.metadata");
    LLVMValueRef[] fns = used.toArray(new LLVMValueRef[0]);
    LLVMSetInitializer(g, LLVMConstArray2(ptrT, new org.bytedeco.javacpp.PointerPointer<>(fns), fns.length));
    return true;
  }
}
