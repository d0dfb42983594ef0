package dev.nnc.codegen.cpu;

import static dev.nnc.codegen.cpu.Llvm.pp;
import static org.bytedeco.llvm.global.LLVM.*;

import dev.nnc.ir.kernel.KExpr;
import dev.nnc.ir.kernel.KStmt;
import dev.nnc.ir.kernel.Kernel;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.llvm.LLVM.LLVMBasicBlockRef;
import org.bytedeco.llvm.LLVM.LLVMBuilderRef;
import org.bytedeco.llvm.LLVM.LLVMContextRef;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMTypeRef;
import org.bytedeco.llvm.LLVM.LLVMMetadataRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * Kernel IR → LLVM IR. Every kernel the runtime calls is {@code void name(float* arena, i64 lo,
 * i64 hi)}: the outermost loop runs over {@code [lo, hi)}, so the runtime can hand slices to
 * threads. Its code is a {@link dev.nnc.ir.kernel.KernelTemplate}'s body, {@code body(arena, lo, hi, off0, off1, …)},
 * emitted once for all the kernels with that template and taking the arena offsets of its buffers
 * as arguments; each kernel is a wrapper that calls the body with its own offsets
 * ({@link #wrapper}). Loop variables and locals start as stack slots that LLVM's mem2reg turns
 * into registers; the -O3 pipeline then vectorises the inner loops for the host.
 */
public final class KernelEmitter {
  public final LLVMContextRef ctx;
  public final LLVMModuleRef mod;
  public final LLVMBuilderRef b;
  public final LLVMTypeRef f32;
  public final LLVMTypeRef i32;
  public final LLVMTypeRef i64;
  public final LLVMTypeRef i1;
  public final LLVMTypeRef ptr;
  public final LLVMTypeRef voidT;
  /** {@code void (ptr arena, i64 lo, i64 hi)}. */
  public final LLVMTypeRef kernelType;
  private final Map<String, LLVMValueRef> functions = new HashMap<>();
  /** The vector width (bits) each function given one by {@link #vectorBits} asked for, by address. */
  private final Map<Long, Integer> widths = new HashMap<>();
  private LLVMTypeRef unaryF32;
  private final VectorMath vecmath;
  /** The prefix of a device math library's functions ({@code __nv_}: libdevice), or null for libm. */
  private String deviceMath;
  /** MXCSR is x86's; other targets keep their default mode. */
  private final boolean x86;
  /** MXCSR bits: flush-to-zero (results) and denormals-are-zero (inputs). */
  private static final int FTZ = 0x8000;
  private static final int DAZ = 0x0040;

  // Per-function state.
  LLVMValueRef fn;
  LLVMValueRef arena;
  /** How many buffer offsets the current body takes after {@code (arena, lo, hi)}. */
  private int offsetParams;
  /** The offsets of the kernel being emitted directly, as constants; null while emitting shared bodies. */
  private long[] constants;
  private LLVMValueRef[] varSlots;
  private LLVMValueRef[] localSlots;
  private LLVMValueRef acc;
  private LLVMValueRef entryTerminatorAnchor;
  private LLVMValueRef savedCsr;
  /** The template buffer whose element 0 reads as {@link #counterValue} (a fused loop's step), or -1. */
  private int counterBuf = -1;
  private LLVMValueRef counterValue;

  /** {@code vecmath}: the vector math library to vectorise math calls with, or null. */
  public KernelEmitter(LLVMContextRef ctx, LLVMModuleRef mod, VectorMath vecmath) {
    this.vecmath = vecmath;
    this.ctx = ctx;
    this.mod = mod;
    this.b = LLVMCreateBuilderInContext(ctx);
    this.f32 = LLVMFloatTypeInContext(ctx);
    this.i32 = LLVMInt32TypeInContext(ctx);
    this.i64 = LLVMInt64TypeInContext(ctx);
    this.i1 = LLVMInt1TypeInContext(ctx);
    this.ptr = LLVMPointerTypeInContext(ctx, 0);
    this.voidT = LLVMVoidTypeInContext(ctx);
    this.kernelType = LLVMFunctionType(voidT, pp(ptr, i64, i64), 3, 0);
    this.x86 = LLVMGetTarget(mod).getString().startsWith("x86_64");
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Math functions ({@code expf}, {@code tanhf}, …) become calls of {@code prefix + name}, a device
   * library's ({@code __nv_expf} from CUDA's libdevice), never LLVM's intrinsics or libmvec.
   */
  public void deviceMath(String prefix) {
    this.deviceMath = prefix;
  }

  /** The function being emitted. */
  public LLVMValueRef function() {
    return fn;
  }

  public LLVMValueRef c64(long v) {
    return LLVMConstInt(i64, v, 1);
  }

  LLVMValueRef c32(int v) {
    return LLVMConstInt(i32, v & 0xffffffffL, 0);
  }

  public LLVMValueRef cf(double v) {
    return LLVMConstReal(f32, (float) v);
  }

  /**
   * Starts a body {@code void name(ptr arena, i64 lo, i64 hi, i64 off0, …, i64 off<n-1>)} with an
   * entry block for stack slots; {@link #off} gives the offsets. Bodies are internal to their code
   * unit and never inlined into their wrappers. With {@link #constantOffsets} set, starts that
   * kernel itself instead.
   */
  public void beginFunction(String name, int offsets) {
    boolean direct = constants != null;
    if (direct && offsets != constants.length) {
      throw new IllegalStateException(name + ": " + offsets + " buffers, " + constants.length + " offsets");
    }
    LLVMTypeRef type = kernelType;
    if (!direct) {
      LLVMTypeRef[] params = new LLVMTypeRef[3 + offsets];
      params[0] = ptr;
      for (int i = 1; i < params.length; i++) {
        params[i] = i64;
      }
      type = LLVMFunctionType(voidT, pp(params), params.length, 0);
    }
    fn = LLVMAddFunction(mod, name, type);
    LLVMSetLinkage(fn, direct ? LLVMExternalLinkage : LLVMInternalLinkage);
    offsetParams = offsets;
    scopes = null;
    arena = LLVMGetParam(fn, 0);
    LLVMAddAttributeAtIndex(fn, 1, enumAttr("noalias"));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, enumAttr("nounwind"));
    if (!direct) {
      LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, enumAttr("noinline"));
    }
    enterFunction();
  }

  /**
   * Lets the function being emitted use vector registers of {@code bits} (512: zmm). LLVM splits
   * wider vectors into 256-bit halves on cores tuned to prefer 256 bits (Intel's AVX-512 parts)
   * unless a function asks for more, and the GEMM's 16-lane micro-kernel then spills.
   */
  void vectorBits(int bits) {
    widths.merge(fn.address(), bits, Math::max);
    String v = Integer.toString(bits);
    for (String key : new String[] {"min-legal-vector-width", "prefer-vector-width"}) {
      LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
          LLVMCreateStringAttribute(ctx, key, key.length(), v, v.length()));
    }
  }

  /**
   * Until the next call, functions are emitted directly as the kernel {@code name(arena, lo, hi)}
   * whose buffers lie at these arena offsets (constants in the code); null: as shared bodies.
   */
  public void constantOffsets(long[] offsets) {
    constants = offsets;
  }

  /** The denormal mode and the entry block shared by bodies and direct kernels. */
  private void enterFunction() {
    String denormal = "denormal-fp-math";
    String mode = "preserve-sign,preserve-sign";
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
        LLVMCreateStringAttribute(ctx, denormal, denormal.length(), mode, mode.length()));
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(b, entry);
    // Flush denormals to zero while the kernel runs (FTZ and DAZ in MXCSR, as TensorFlow's
    // kernels do): arithmetic on values below 2^-126 is many times slower, and tiny gradients
    // late in training are full of them. The caller's mode is restored on return (endFunction),
    // so Java's floating point on this thread is untouched.
    if (!x86) {
      return;
    }
    savedCsr = LLVMBuildAlloca(b, i32, "saved_csr");
    LLVMValueRef ftzCsr = LLVMBuildAlloca(b, i32, "ftz_csr");
    csr("llvm.x86.sse.stmxcsr", savedCsr);
    LLVMBuildStore(b, LLVMBuildOr(b, LLVMBuildLoad2(b, i32, savedCsr, ""), c32(FTZ | DAZ), ""), ftzCsr);
    csr("llvm.x86.sse.ldmxcsr", ftzCsr);
  }

  /** The arena offset (floats) of template buffer {@code buf} in the current body: its argument. */
  public LLVMValueRef off(int buf) {
    if (buf < 0 || buf >= offsetParams) {
      throw new IllegalStateException("buffer " + buf + " is not among the " + offsetParams + " of " + LLVMGetValueName(fn).getString());
    }
    return constants != null ? c64(constants[buf]) : LLVMGetParam(fn, 3 + buf);
  }

  /**
   * {@code void name(ptr arena, i64 lo, i64 hi)}, the symbol the runtime calls: a tail call of
   * {@code body} with the arena offsets of this kernel's buffers.
   */
  public void wrapper(String name, String body, long[] offsets) {
    LLVMValueRef target = LLVMGetNamedFunction(mod, body);
    if (target == null || target.isNull()) {
      throw new IllegalStateException("no body " + body + " for kernel " + name);
    }
    LLVMValueRef w = LLVMAddFunction(mod, name, kernelType);
    LLVMSetLinkage(w, LLVMExternalLinkage);
    LLVMAddAttributeAtIndex(w, LLVMAttributeFunctionIndex, enumAttr("nounwind"));
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, w, "entry"));
    LLVMValueRef[] args = new LLVMValueRef[3 + offsets.length];
    for (int i = 0; i < 3; i++) {
      args[i] = LLVMGetParam(w, i);
    }
    for (int i = 0; i < offsets.length; i++) {
      args[3 + i] = c64(offsets[i]);
    }
    LLVMValueRef call = LLVMBuildCall2(b, LLVMGlobalGetValueType(target), target, pp(args), args.length, "");
    LLVMSetTailCall(call, 1);
    LLVMBuildRetVoid(b);
  }

  private void csr(String intrinsic, LLVMValueRef slot) {
    int id = LLVMLookupIntrinsicID(intrinsic, intrinsic.length());
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(mod, id, (org.bytedeco.javacpp.PointerPointer<?>) null, 0);
    LLVMTypeRef ft = LLVMIntrinsicGetType(ctx, id, (org.bytedeco.javacpp.PointerPointer<?>) null, 0);
    LLVMBuildCall2(b, ft, f, pp(slot), 1, "");
  }

  /** Restores the caller's floating-point mode and returns: the one exit of every kernel function. */
  public void endFunction() {
    if (x86) {
      csr("llvm.x86.sse.ldmxcsr", savedCsr);
    }
    LLVMBuildRetVoid(b);
  }

  private org.bytedeco.llvm.LLVM.LLVMAttributeRef enumAttr(String name) {
    int kind = LLVMGetEnumAttributeKindForName(name, name.length());
    return LLVMCreateEnumAttribute(ctx, kind, 0);
  }

  /** A stack slot in the entry block (so mem2reg can promote it). */
  public LLVMValueRef slot(LLVMTypeRef t, String name) {
    LLVMBasicBlockRef cur = LLVMGetInsertBlock(b);
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(fn);
    LLVMValueRef first = LLVMGetFirstInstruction(entry);
    if (first != null && !first.isNull()) {
      LLVMPositionBuilderBefore(b, first);
    } else {
      LLVMPositionBuilderAtEnd(b, entry);
    }
    LLVMValueRef s = LLVMBuildAlloca(b, t, name);
    LLVMPositionBuilderAtEnd(b, cur);
    return s;
  }

  public LLVMValueRef gep(LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef index) {
    return LLVMBuildGEP2(b, elem, base, pp(index), 1, "");
  }

  /** Pointer to element {@code index} (i64, in floats) of the arena. */
  public LLVMValueRef at(LLVMValueRef index) {
    return gep(f32, arena, index);
  }

  public LLVMValueRef call(String intrinsic, LLVMTypeRef overload, LLVMValueRef... args) {
    int id = LLVMLookupIntrinsicID(intrinsic, intrinsic.length());
    if (id == 0) {
      throw new Llvm.LlvmException("unknown intrinsic " + intrinsic);
    }
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(mod, id, pp(overload), 1);
    LLVMTypeRef ft = LLVMIntrinsicGetType(ctx, id, pp(overload), 1);
    return LLVMBuildCall2(b, ft, f, pp(args), args.length, "");
  }

  /** A call of a C math function ({@code tanhf}): from libm, in the JIT process or the shared library. */
  LLVMValueRef libm(String name, LLVMValueRef x) {
    if (unaryF32 == null) {
      unaryF32 = LLVMFunctionType(f32, pp(f32), 1, 0);
    }
    String callee = deviceMath != null ? deviceMath + name : name;
    LLVMValueRef f = functions.computeIfAbsent(callee, n -> {
      LLVMValueRef decl = LLVMGetNamedFunction(mod, n);
      if (decl != null && !decl.isNull()) {
        return decl;
      }
      decl = LLVMAddFunction(mod, n, unaryF32);
      // As with -fno-math-errno: the function only computes (errno is not read), so calls can be
      // hoisted, and vectorised through the vector math library (VectorMath).
      // ("memory" with value 0 is memory(none).)
      for (String attr : new String[] {"nounwind", "willreturn", "nosync", "nofree", "memory"}) {
        LLVMAddAttributeAtIndex(decl, LLVMAttributeFunctionIndex, enumAttr(attr));
      }
      return decl;
    });
    LLVMValueRef call = LLVMBuildCall2(b, unaryF32, f, pp(x), 1, "");
    if (deviceMath == null && vecmath != null && vecmath.has(name)) {
      String vname = vecmath.vectorName(name);
      LLVMValueRef vdecl = LLVMGetNamedFunction(mod, vname);
      if (vdecl == null || vdecl.isNull()) {
        LLVMTypeRef v = LLVMVectorType(f32, vecmath.lanes());
        LLVMAddFunction(mod, vname, LLVMFunctionType(v, pp(v), 1, 0));
      }
      String key = "vector-function-abi-variant";
      String value = vecmath.abiVariant(name);
      LLVMAddCallSiteAttribute(call, LLVMAttributeFunctionIndex,
          LLVMCreateStringAttribute(ctx, key, key.length(), value, value.length()));
      if (vecmath.lanes() == 16) {
        // The variant takes zmm registers: let the vectoriser pick 16 lanes in this function.
        vectorBits(512);
      }
    }
    return call;
  }

  /** {@code exp}/{@code log}: the libm call where it vectorises through libmvec, else the intrinsic. */
  private LLVMValueRef math(String libmName, String intrinsic, LLVMValueRef x) {
    return deviceMath != null || vecmath != null && vecmath.has(libmName) ? libm(libmName, x) : call(intrinsic, f32, x);
  }

  // ---------------------------------------------------------------- loops

  /** Emits {@code for (v = from; v < to; v += step) body}; the slot holds v. */
  public void loop(LLVMValueRef slot, LLVMValueRef from, LLVMValueRef to, long step, Runnable body) {
    loop(slot, from, to, step, body, false);
  }

  /**
   * The loop, with {@code llvm.loop.vectorize.enable = false} on its latch when {@code scalar}
   * (see {@link #gathers}).
   */
  void loop(LLVMValueRef slot, LLVMValueRef from, LLVMValueRef to, long step, Runnable body, boolean scalar) {
    LLVMBuildStore(b, from, slot);
    LLVMBasicBlockRef cond = LLVMAppendBasicBlockInContext(ctx, fn, "cond");
    LLVMBasicBlockRef bodyBb = LLVMAppendBasicBlockInContext(ctx, fn, "body");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(ctx, fn, "exit");
    LLVMBuildBr(b, cond);
    LLVMPositionBuilderAtEnd(b, cond);
    LLVMValueRef v = LLVMBuildLoad2(b, i64, slot, "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, v, to, ""), bodyBb, exit);
    LLVMPositionBuilderAtEnd(b, bodyBb);
    body.run();
    LLVMValueRef v2 = LLVMBuildLoad2(b, i64, slot, "");
    LLVMBuildStore(b, LLVMBuildAdd(b, v2, c64(step), ""), slot);
    LLVMValueRef latch = LLVMBuildBr(b, cond);
    if (scalar) {
      LLVMSetMetadata(latch, LLVMGetMDKindIDInContext(ctx, "llvm.loop", 9), LLVMMetadataAsValue(ctx, noVectorize()));
    }
    LLVMPositionBuilderAtEnd(b, exit);
  }

  /** {@code !0 = distinct !{!0, !{"llvm.loop.vectorize.enable", i1 false}}}: a loop ID must refer to itself. */
  private LLVMMetadataRef noVectorize() {
    String key = "llvm.loop.vectorize.enable";
    LLVMMetadataRef flag = LLVMMDNodeInContext2(ctx, pp(LLVMMDStringInContext2(ctx, key, key.length()),
        LLVMValueAsMetadata(LLVMConstInt(i1, 0, 0))), 2);
    LLVMMetadataRef self = LLVMTemporaryMDNode(ctx, pp(), 0);
    LLVMMetadataRef id = LLVMMDNodeInContext2(ctx, pp(self, flag), 2);
    LLVMMetadataReplaceAllUsesWith(self, id);
    return id;
  }

  /**
   * Whether a loop of a kernel with alias scopes, or of a shared body, reads some buffer with a
   * step above 2 elements per iteration of its variable, which LLVM would vectorise with gathers
   * (see {@link #loop(LLVMValueRef, LLVMValueRef, LLVMValueRef, long, Runnable, boolean)}):
   * Winograd F(4×4)'s input transform ran in 2.0 ms vectorised and 0.85 ms scalar; F(2×2)'s
   * stride-2 reads vectorise well as interleaved loads (0.45 ms, scalar 1.19 ms). With constant
   * offsets LLVM cannot prove such a loop free of overlaps and leaves it scalar by itself; in a
   * shared body it adds run-time overlap checks and vectorises it (a ResNet-18 transpose, 0.78 →
   * 1.47 ms), so there the rule keeps it scalar too.
   */
  private boolean gathers(KStmt.Loop l) {
    if (scopes == null && constants != null) {
      return false;
    }
    boolean[] strided = {false};
    dev.nnc.ir.kernel.KernelWalk.forEachExpr(l, e -> dev.nnc.ir.kernel.KernelWalk.forEach(e, x -> {
      if (x instanceof KExpr.Load ld && l.var() < ld.index().strides().length) {
        long st = Math.abs(ld.index().strides()[l.var()]);
        strided[0] |= st > 2;
      }
    }));
    return strided[0];
  }

  /** {@code if (cond) then else otherwise}. */
  public void ifElse(LLVMValueRef cond, Runnable then, Runnable otherwise) {
    LLVMBasicBlockRef t = LLVMAppendBasicBlockInContext(ctx, fn, "then");
    LLVMBasicBlockRef o = LLVMAppendBasicBlockInContext(ctx, fn, "else");
    LLVMBasicBlockRef e = LLVMAppendBasicBlockInContext(ctx, fn, "endif");
    LLVMBuildCondBr(b, cond, t, o);
    LLVMPositionBuilderAtEnd(b, t);
    then.run();
    LLVMBuildBr(b, e);
    LLVMPositionBuilderAtEnd(b, o);
    otherwise.run();
    LLVMBuildBr(b, e);
    LLVMPositionBuilderAtEnd(b, e);
  }

  public LLVMValueRef load64(LLVMValueRef slot) {
    return LLVMBuildLoad2(b, i64, slot, "");
  }

  // ---------------------------------------------------------------- loop kernels

  /** Emits the body of a loop kernel whose buffers are {@code 0 … buffers-1} (a template's). */
  public void emitLoops(Kernel.Loops k, int buffers) {
    beginFunction(k.name(), buffers);
    beginNest(k);
    KStmt.Loop root = k.root();
    // The outermost loop runs over the slice [lo, hi) the runtime hands this call.
    loop(varSlots[root.var()], LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), 1, () -> body(root));
    endFunction();
  }

  /**
   * Emits nest {@code k} (its buffers at arena {@code offsets}, constants in the code) as the
   * internal function {@code void name(ptr arena, i64 lo, i64 hi, float counter)} over the slice
   * {@code [lo, hi)} of its outermost loop, reading {@code counter} wherever it reads element 0 of
   * template buffer {@code counterBuf} (-1: none): the body of a fused loop over time, whose steps
   * pass their index ({@link #emitFusedSteps}).
   */
  public LLVMValueRef emitLoopsCounted(Kernel.Loops k, String name, long[] offsets, int counterBuf) {
    long[] saved = constants;
    constants = offsets;
    LLVMTypeRef[] params = {ptr, i64, i64, f32};
    fn = LLVMAddFunction(mod, name, LLVMFunctionType(voidT, pp(params), params.length, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    offsetParams = offsets.length;
    scopes = null;
    arena = LLVMGetParam(fn, 0);
    LLVMAddAttributeAtIndex(fn, 1, enumAttr("noalias"));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, enumAttr("nounwind"));
    enterFunction();
    this.counterBuf = counterBuf;
    this.counterValue = LLVMGetParam(fn, 3);
    try {
      beginNest(k);
      KStmt.Loop root = k.root();
      loop(varSlots[root.var()], LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), 1, () -> body(root));
      endFunction();
    } finally {
      this.counterBuf = -1;
      this.counterValue = null;
      constants = saved;
    }
    return fn;
  }

  /**
   * One part of a fused loop's step: a GEMM's compute function ({@code symbol}, a kernel of the
   * model, {@code itemsPerBlock} of its work items to a block of rows), or a nest emitted by
   * {@link #emitLoopsCounted} ({@code nest}; {@code itemsPerBlock} 0).
   */
  public record StepPart(String symbol, LLVMValueRef nest, int itemsPerBlock) {}

  /**
   * Emits the kernel {@code void name(ptr arena, i64 lo, i64 hi)} that runs a whole loop over time
   * for blocks {@code [lo, hi)} of {@code block} rows (of {@code rows}): for each step s in order,
   * its index {@code first + s·delta}, each part over the blocks' rows; then block 0's call stores
   * the last index at arena element {@code counterOffset}, as the runtime's loop leaves it. Valid
   * only for a loop that keeps to its rows ({@link dev.nnc.ir.kernel.StepRows}): the blocks then
   * share nothing, and no step of one waits for another's.
   */
  public void emitFusedSteps(String name, List<StepPart> parts, long steps, long first, long delta, long rows,
      long block, long counterOffset) {
    fn = LLVMAddFunction(mod, name, kernelType);
    LLVMSetLinkage(fn, LLVMExternalLinkage);
    offsetParams = 0;
    constants = null;
    scopes = null;
    arena = LLVMGetParam(fn, 0);
    LLVMAddAttributeAtIndex(fn, 1, enumAttr("noalias"));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, enumAttr("nounwind"));
    enterFunction();
    // The nests are inlined here and vectorised as part of this function: it needs the width
    // they asked for, or on a core tuned to prefer 256 bits the loop vectoriser picks 8 lanes
    // where the math library has only 16-lane variants, and each exp and tanh becomes 8 scalar
    // calls (a character LSTM's forward loop 3.4× slower than step by step on an Intel Xeon).
    int bits = parts.stream().filter(p -> p.nest() != null)
        .mapToInt(p -> widths.getOrDefault(p.nest().address(), 0)).max().orElse(0);
    if (bits > 0) {
      vectorBits(bits);
    }
    LLVMValueRef lo = LLVMGetParam(fn, 1);
    LLVMValueRef hi = LLVMGetParam(fn, 2);
    LLVMValueRef rowLo = LLVMBuildMul(b, lo, c64(block), "");
    LLVMValueRef rowHiRaw = LLVMBuildMul(b, hi, c64(block), "");
    LLVMValueRef rowHi = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, rowHiRaw, c64(rows), ""), rowHiRaw,
        c64(rows), "");
    LLVMValueRef s = slot(i64, "s");
    loop(s, c64(0), c64(steps), 1, () -> {
      LLVMValueRef index = LLVMBuildAdd(b, c64(first), LLVMBuildMul(b, load64(s), c64(delta), ""), "");
      LLVMValueRef counter = LLVMBuildSIToFP(b, index, f32, "");
      for (StepPart part : parts) {
        if (part.nest() != null) {
          LLVMValueRef[] args = {arena, rowLo, rowHi, counter};
          LLVMBuildCall2(b, LLVMGlobalGetValueType(part.nest()), part.nest(), pp(args), args.length, "");
        } else {
          LLVMValueRef target = LLVMGetNamedFunction(mod, part.symbol());
          if (target == null || target.isNull()) {
            target = LLVMAddFunction(mod, part.symbol(), kernelType);
          }
          LLVMValueRef[] args = {arena, LLVMBuildMul(b, lo, c64(part.itemsPerBlock()), ""),
              LLVMBuildMul(b, hi, c64(part.itemsPerBlock()), "")};
          LLVMBuildCall2(b, kernelType, target, pp(args), args.length, "");
        }
      }
    });
    ifElse(LLVMBuildICmp(b, LLVMIntEQ, lo, c64(0), ""),
        () -> LLVMBuildStore(b, cf(first + (steps - 1) * delta), at(c64(counterOffset))), () -> { });
    endFunction();
  }

  /**
   * Prepares the function begun with {@link #beginFunction} to emit statements of nest {@code k}
   * one by one ({@link #emitStatements}) inside code of the caller's own (a GPU's block-wide
   * reduction): a slot for each of its loop variables and locals, its buffers' alias scopes, its
   * loop-invariant loads.
   */
  public void beginNest(Kernel.Loops k) {
    varSlots = new LLVMValueRef[Math.max(1, k.vars())];
    for (int v = 0; v < varSlots.length; v++) {
      varSlots[v] = slot(i64, "i" + v);
    }
    localSlots = new LLVMValueRef[Math.max(1, k.locals())];
    for (int l = 0; l < localSlots.length; l++) {
      localSlots[l] = slot(f32, "l" + l);
    }
    scopeBuffers(k);
    hoistInvariantLoads(k);
  }

  /** The slot of loop variable {@code v} (an i64) of the nest begun with {@link #beginNest}. */
  public LLVMValueRef varSlot(int v) {
    return varSlots[v];
  }

  /** The slot of local {@code l} (an f32) of the nest begun with {@link #beginNest}. */
  public LLVMValueRef localSlot(int l) {
    return localSlots[l];
  }

  /** Emits statements of the nest begun with {@link #beginNest}, as {@link #emitLoops} would. */
  public void emitStatements(List<KStmt> statements) {
    for (KStmt s : statements) {
      stmt(s);
    }
  }

  /**
   * As {@link #emitLoops}, for a nest whose outermost loop holds loops of one extent E whose
   * iterations are independent too ({@link dev.nnc.ir.kernel.Independence#secondLoops}): the
   * function's slice {@code [lo, hi)} is of the items {@code outer·E + second}, each running its
   * iteration of each of those loops in turn (a GPU spreads the items over its threads).
   */
  public void emitLoopsCollapsed(Kernel.Loops k, int buffers) {
    emitPairs(k, buffers, 1, (second, lane) -> {
      for (KStmt s : k.root().body()) {
        KStmt.Loop l = (KStmt.Loop) s;
        LLVMBuildStore(b, second, varSlots[l.var()]);
        body(l);
      }
    });
  }

  /**
   * A function over items {@code [lo, hi)}, item {@code (outer·E + second)·lanes + lane} of nest
   * {@code k} (E the extent of its outer loop's loops): the outer loop's variable set, then
   * {@code body(second, lane)}.
   */
  private void emitPairs(Kernel.Loops k, int buffers, long lanes,
      java.util.function.BiConsumer<LLVMValueRef, LLVMValueRef> body) {
    KStmt.Loop root = k.root();
    long extent = ((KStmt.Loop) root.body().get(0)).extent();
    beginFunction(k.name(), buffers);
    beginNest(k);
    LLVMValueRef item = slot(i64, "item");
    loop(item, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), 1, () -> {
      LLVMValueRef it = load64(item);
      LLVMValueRef pair = lanes == 1 ? it : LLVMBuildUDiv(b, it, c64(lanes), "");
      LLVMValueRef lane = lanes == 1 ? c64(0) : LLVMBuildURem(b, it, c64(lanes), "lane");
      LLVMBuildStore(b, LLVMBuildUDiv(b, pair, c64(extent), ""), varSlots[root.var()]);
      body.accept(LLVMBuildURem(b, pair, c64(extent), ""), lane);
    });
    endFunction();
  }

  /**
   * As {@link #emitLoopsCollapsed}, with the perfect nests inside the second loops spread too
   * ({@link dev.nnc.ir.kernel.Independence#spreadLanes}, {@code lanes} P): the slice is of the
   * items {@code (outer·E + second)·P + ℓ}, and item ℓ runs, of each second loop R, the one
   * iteration {@code ℓ − P_R} of its nest if it has it (P_R: the iterations of the loops before
   * R), its variables decoded row-major (a GPU thread per tile of a Winograd transform).
   */
  public void emitLoopsSpread(Kernel.Loops k, int buffers, long lanes) {
    emitPairs(k, buffers, lanes, (second, lane) -> {
      long first = 0;
      for (KStmt s : k.root().body()) {
        KStmt.Loop l = (KStmt.Loop) s;
        LLVMBuildStore(b, second, varSlots[l.var()]);
        List<KStmt.Loop> nest = dev.nnc.ir.kernel.KernelWalk.perfectNest(l);
        KStmt.Loop inner = nest.isEmpty() ? l : nest.get(nest.size() - 1);
        long iterations = 1;
        for (KStmt.Loop n : nest) {
          iterations *= n.extent();
        }
        // Unsigned: a lane before this loop's first iteration wraps far above its count.
        LLVMValueRef f = LLVMBuildSub(b, lane, c64(first), "");
        KStmt.Loop innermost = inner;
        ifElse(LLVMBuildICmp(b, LLVMIntULT, f, c64(iterations), ""), () -> {
          LLVMValueRef rest = f;
          for (int x = nest.size() - 1; x >= 0; x--) {
            long e = nest.get(x).extent();
            LLVMBuildStore(b, x == 0 ? rest : LLVMBuildURem(b, rest, c64(e), ""), varSlots[nest.get(x).var()]);
            rest = LLVMBuildUDiv(b, rest, c64(e), "");
          }
          body(innermost);
        }, () -> { });
        first += iterations;
      }
    });
  }

  /**
   * Per buffer of the kernel being emitted: its alias-scope list and the list of every other
   * buffer's scope, as metadata for its loads and stores; null outside a loop kernel.
   */
  private Map<Integer, LLVMValueRef[]> scopes;

  /**
   * Tells LLVM what memory planning guarantees: buffers that one kernel touches are live at the
   * same time and never overlap (views share their buffer's id). Without it every store may
   * alias every load of the one arena: a loop whose body stores several streams, such as a
   * Winograd transform's, stays scalar and reloads every input (each store may change what the
   * next one reads), and a loop that stores one stream but reads a value invariant in it (a
   * softmax's gradient, {@code y − exp(l)·s[row]} over 60 classes) cannot keep that value in a
   * register, stays scalar, and calls the scalar {@code expf} (the character LSTM's 0.44 ms,
   * 0.09 with the scopes). Every kernel with two buffers or more gets them (before, only
   * several-stream ones: in one process, taking turns, the character LSTM's training step 2.5%
   * faster, LeNet-5's and the MLP's alike or faster, the BatchNorm CNN's 15%). Given the scopes,
   * LLVM vectorises strided reads of pooling windows and transposes with gathers, which ran 2–7×
   * slower than the scalar loops on the development machine (LeNet-5's max pooling 0.05 → 0.18
   * ms), so in scoped kernels loops that read with a step above 2 stay scalar ({@link #gathers}).
   * {@code -Dnnc.cpu.scopes=several} scopes only several-stream kernels, for comparisons.
   */
  private void scopeBuffers(Kernel.Loops k) {
    scopes = null;
    if ("several".equals(System.getProperty("nnc.cpu.scopes")) && !storesSeveralStreams(k)) {
      return;
    }
    java.util.Set<Integer> bufs = new java.util.TreeSet<>();
    dev.nnc.ir.kernel.KernelWalk.forEachStmt(k.root(), s -> {
      if (s instanceof KStmt.Store st) {
        bufs.add(st.buf());
      }
    });
    dev.nnc.ir.kernel.KernelWalk.forEachExpr(k.root(), e -> dev.nnc.ir.kernel.KernelWalk.forEach(e, x -> {
      if (x instanceof KExpr.Load l) {
        bufs.add(l.buf());
      }
    }));
    scope(bufs);
  }

  /**
   * Gives each of {@code bufs} its own alias scope in the current function: {@link #scoped}
   * accesses of one are known not to alias those of another. Sound only where memory planning
   * keeps the buffers disjoint for the function's duration (the buffers of one kernel).
   */
  private void scope(java.util.Set<Integer> bufs) {
    scopes = null;
    if (bufs.size() < 2) {
      return;
    }
    String dn = "nnc.arena";
    LLVMMetadataRef domain = LLVMMDNodeInContext2(ctx, pp(
        LLVMMDStringInContext2(ctx, dn, dn.length())), 1);
    Map<Integer, LLVMMetadataRef> scope = new HashMap<>();
    for (int id : bufs) {
      String n = "nnc.b" + id;
      scope.put(id, LLVMMDNodeInContext2(ctx, pp(
          LLVMMDStringInContext2(ctx, n, n.length()), domain), 2));
    }
    scopes = new HashMap<>();
    for (int id : bufs) {
      LLVMMetadataRef own = LLVMMDNodeInContext2(ctx, pp(scope.get(id)), 1);
      LLVMMetadataRef[] others = bufs.stream().filter(o -> o != id).map(scope::get).toArray(LLVMMetadataRef[]::new);
      LLVMMetadataRef rest = LLVMMDNodeInContext2(ctx, pp(others), others.length);
      scopes.put(id, new LLVMValueRef[] {LLVMMetadataAsValue(ctx, own), LLVMMetadataAsValue(ctx, rest)});
    }
  }

  /**
   * Whether some loop of {@code k} stores more than once per iteration: such kernels are never
   * shared ({@link CpuBackend#shared}).
   */
  static boolean storesSeveralStreams(Kernel.Loops k) {
    boolean[] multiStore = {false};
    dev.nnc.ir.kernel.KernelWalk.forEachStmt(k.root(), s -> {
      if (s instanceof KStmt.Loop l && l.body().stream().filter(x -> x instanceof KStmt.Store).count() > 1) {
        multiStore[0] = true;
      }
    });
    return multiStore[0];
  }

  /** {@code access} (a load or store of {@code buf}) with the buffer's alias scopes; returns it. */
  private LLVMValueRef scoped(LLVMValueRef access, int buf) {
    LLVMValueRef[] sc = scopes == null ? null : scopes.get(buf);
    if (sc != null) {
      LLVMSetMetadata(access, LLVMGetMDKindIDInContext(ctx, "alias.scope", 11), sc[0]);
      LLVMSetMetadata(access, LLVMGetMDKindIDInContext(ctx, "noalias", 7), sc[1]);
    }
    return access;
  }

  /**
   * Scalars read at a fixed element of a buffer the kernel does not write (a learning rate, a
   * bias-correction factor) are loaded once at entry. Buffers never overlap within a kernel, but
   * LLVM cannot know that; left in the loop, such loads block vectorisation.
   */
  private final Map<String, LLVMValueRef> invariant = new HashMap<>();

  private void hoistInvariantLoads(Kernel.Loops k) {
    invariant.clear();
    java.util.Set<Integer> written = new java.util.HashSet<>();
    dev.nnc.ir.kernel.KernelWalk.forEachStmt(k.root(), s -> {
      if (s instanceof KStmt.Store st) {
        written.add(st.buf());
      }
    });
    dev.nnc.ir.kernel.KernelWalk.forEachExpr(k.root(), e -> dev.nnc.ir.kernel.KernelWalk.forEach(e, x -> {
      if (x instanceof KExpr.Load l && !l.guarded() && l.row() == null && !written.contains(l.buf())
          && l.buf() != counterBuf && constantIndex(l.index())) {
        invariant.computeIfAbsent(l.buf() + ":" + l.index().base(),
            key -> scoped(LLVMBuildLoad2(b, f32, at(index(l.buf(), l.index())), "inv"), l.buf()));
      }
    }));
  }

  private static boolean constantIndex(KExpr.Affine a) {
    for (long s : a.strides()) {
      if (s != 0) {
        return false;
      }
    }
    return true;
  }

  private void body(KStmt.Loop l) {
    for (KStmt s : l.body()) {
      stmt(s);
    }
  }

  private void stmt(KStmt s) {
    switch (s) {
      case KStmt.Loop l -> loop(varSlots[l.var()], c64(0), c64(l.extent()), 1, () -> body(l), gathers(l));
      case KStmt.Store st -> {
        if (st.guarded()) {
          // Only where the guards hold: a branch around the store (a masked store once vectorised).
          ifElse(guards(st.guards()), () -> scoped(LLVMBuildStore(b, expr(st.value()),
              at(address(st.buf(), st.index(), st.row()))), st.buf()), () -> { });
        } else {
          LLVMValueRef v = expr(st.value());
          scoped(LLVMBuildStore(b, v, at(address(st.buf(), st.index(), st.row()))), st.buf());
        }
      }
      case KStmt.Assign a -> {
        // A running maximum takes llvm.maximum, which the loop vectoriser reduces as it is (a NaN
        // in the row is the maximum, as in PyTorch); llvm.maxnum it leaves a scalar chain.
        LLVMValueRef v = runs(a, KExpr.BinOp.MAX) ? call("llvm.maximum", f32, expr(((KExpr.Bin) a.value()).x()),
            expr(((KExpr.Bin) a.value()).y())) : expr(a.value());
        if (runs(a, KExpr.BinOp.ADD) && LLVMCanValueUseFastMathFlags(v) != 0) {
          // A running sum may be reassociated (KStmt.Assign): the loop vectoriser can then keep
          // one partial sum per lane instead of a serial chain of adds, one add's latency each.
          LLVMSetFastMathFlags(v, LLVMGetFastMathFlags(v) | LLVMFastMathAllowReassoc | LLVMFastMathNoSignedZeros);
        }
        LLVMBuildStore(b, v, localSlots[a.local()]);
      }
    }
  }

  /**
   * {@code op} (an fadd, fsub or fmul of one expression) allowed to fuse with its neighbour into
   * an FMA, as C compilers do within an expression ({@code -ffp-contract=on}): one rounding
   * instead of two, and half the instructions of a sum of products (a direct convolution's body).
   */
  private LLVMValueRef contract(LLVMValueRef op) {
    if (LLVMCanValueUseFastMathFlags(op) != 0) {
      LLVMSetFastMathFlags(op, LLVMGetFastMathFlags(op) | LLVMFastMathAllowContract);
    }
    return op;
  }

  /** Whether {@code a} runs {@code op} over its local: {@code l = l op e} or {@code l = e op l} (a running sum or maximum). */
  static boolean runs(KStmt.Assign a, KExpr.BinOp op) {
    return a.value() instanceof KExpr.Bin(KExpr.BinOp o, KExpr x, KExpr y) && o == op
        && (x.equals(new KExpr.Local(a.local())) || y.equals(new KExpr.Local(a.local())));
  }

  /** The conjunction of {@code lo <= expr < hi} over the guards, as an i1. */
  private LLVMValueRef guards(java.util.List<KExpr.Guard> gs) {
    LLVMValueRef all = null;
    for (KExpr.Guard g : gs) {
      LLVMValueRef v = affine(0, g.expr());
      // lo <= v < hi as one unsigned compare: (v - lo) <u (hi - lo).
      LLVMValueRef c = LLVMBuildICmp(b, LLVMIntULT, LLVMBuildSub(b, v, c64(g.lo()), ""), c64(g.hi() - g.lo()), "");
      all = all == null ? c : LLVMBuildAnd(b, all, c, "");
    }
    return all;
  }

  /**
   * A predicated load without a branch: where a guard fails the address is the buffer's first
   * element (always inside it) and the value is the fill, so the loop stays straight-line code
   * that vectorises, and nothing outside the buffer is ever read.
   */
  private LLVMValueRef guardedLoad(KExpr.Load l) {
    LLVMValueRef ok = guards(l.guards());
    LLVMValueRef idx = LLVMBuildSelect(b, ok, address(l.buf(), l.index(), l.row()), off(l.buf()), "");
    LLVMValueRef v = scoped(LLVMBuildLoad2(b, f32, at(idx), ""), l.buf());
    return LLVMBuildSelect(b, ok, v, cf(l.fill()), "");
  }

  /**
   * Arena index of {@code buf[affine + row]}: the row ({@link KExpr.Row}) is its id's integer part
   * clamped to {@code [0, rows)} in float ({@code maxnum} takes a NaN id to 0), so no id, however
   * wrong, reaches outside the buffer.
   */
  LLVMValueRef address(int buf, KExpr.Affine a, KExpr.Row row) {
    LLVMValueRef idx = index(buf, a);
    if (row == null) {
      return idx;
    }
    LLVMValueRef id = call("llvm.maxnum", f32, expr(row.id()), cf(0));
    id = call("llvm.minnum", f32, id, cf(row.rows() - 1));
    LLVMValueRef r = LLVMBuildFPToSI(b, id, i64, "row");
    return LLVMBuildAdd(b, idx, row.stride() == 1 ? r : LLVMBuildMul(b, r, c64(row.stride()), ""), "");
  }

  /** Arena index of {@code buf[affine]}. */
  LLVMValueRef index(int buf, KExpr.Affine a) {
    return constants != null ? affine(constants[buf], a) : LLVMBuildAdd(b, off(buf), affine(0, a), "");
  }

  /** {@code start + a} as an i64 value of the current loop variables. */
  LLVMValueRef affine(long start, KExpr.Affine a) {
    LLVMValueRef idx = c64(start + a.base());
    for (int v = 0; v < a.strides().length; v++) {
      long s = a.strides()[v];
      if (s != 0) {
        LLVMValueRef var = load64(varSlots[v]);
        idx = LLVMBuildAdd(b, idx, s == 1 ? var : LLVMBuildMul(b, var, c64(s), ""), "");
      }
    }
    return idx;
  }

  /** Emits an expression with loop variables in {@code vars} and {@code acc} as {@link KExpr.Acc}. */
  public LLVMValueRef exprWith(KExpr e, LLVMValueRef[] vars, LLVMValueRef accValue) {
    invariant.clear();
    scopes = null;
    LLVMValueRef[] savedVars = varSlots;
    LLVMValueRef savedAcc = acc;
    varSlots = vars;
    acc = accValue;
    try {
      return expr(e);
    } finally {
      varSlots = savedVars;
      acc = savedAcc;
    }
  }

  private LLVMValueRef expr(KExpr e) {
    return switch (e) {
      case KExpr.Lit l -> cf(l.value());
      case KExpr.Load l when l.buf() == counterBuf -> counterValue;
      case KExpr.Load l when l.guarded() -> guardedLoad(l);
      case KExpr.Load l -> {
        LLVMValueRef hoisted = l.row() == null && constantIndex(l.index())
            ? invariant.get(l.buf() + ":" + l.index().base()) : null;
        yield hoisted != null ? hoisted
            : scoped(LLVMBuildLoad2(b, f32, at(address(l.buf(), l.index(), l.row())), ""), l.buf());
      }
      case KExpr.Local l -> LLVMBuildLoad2(b, f32, localSlots[l.id()], "");
      case KExpr.IndexValue iv -> LLVMBuildSIToFP(b, load64(varSlots[iv.var()]), f32, "");
      case KExpr.Acc a -> acc;
      case KExpr.Un u -> {
        LLVMValueRef x = expr(u.x());
        yield switch (u.op()) {
          case NEG -> LLVMBuildFNeg(b, x, "");
          case ABS -> call("llvm.fabs", f32, x);
          case EXP -> math("expf", "llvm.exp", x);
          case LOG -> math("logf", "llvm.log", x);
          case SQRT -> call("llvm.sqrt", f32, x);
          case TANH -> libm("tanhf", x);
          case ERF -> libm("erff", x);
          case LOG1P -> libm("log1pf", x);
        };
      }
      case KExpr.Bin bin -> {
        LLVMValueRef x = expr(bin.x());
        LLVMValueRef y = expr(bin.y());
        yield switch (bin.op()) {
          case ADD -> contract(LLVMBuildFAdd(b, x, y, ""));
          case SUB -> contract(LLVMBuildFSub(b, x, y, ""));
          case MUL -> contract(LLVMBuildFMul(b, x, y, ""));
          case DIV -> LLVMBuildFDiv(b, x, y, "");
          case MAX -> call("llvm.maxnum", f32, x, y);
          case MIN -> call("llvm.minnum", f32, x, y);
        };
      }
      case KExpr.Select s -> {
        LLVMValueRef x = expr(s.x());
        LLVMValueRef y = expr(s.y());
        int pred = switch (s.cmp()) {
          case GT -> LLVMRealOGT;
          case GE -> LLVMRealOGE;
          case LT -> LLVMRealOLT;
          case EQ -> LLVMRealOEQ;
        };
        LLVMValueRef c = LLVMBuildFCmp(b, pred, x, y, "");
        yield LLVMBuildSelect(b, c, expr(s.a()), expr(s.b()), "");
      }
      case KExpr.Rand r -> rand(r);
    };
  }

  /** The dropout hash of {@link dev.nnc.ir.ops.DropoutMask#hash}, in 32-bit integer arithmetic. */
  private LLVMValueRef rand(KExpr.Rand r) {
    LLVMValueRef idx = LLVMBuildTrunc(b, affine(0, r.index()), i32, "");
    LLVMValueRef step = LLVMBuildFPToSI(b, expr(r.step()), i32, "");
    LLVMValueRef x = LLVMBuildXor(b, idx, LLVMBuildMul(b, step, c32(0x9E3779B9), ""), "");
    x = LLVMBuildXor(b, x, c32(r.salt() * 0x85EBCA6B), "");
    x = LLVMBuildXor(b, x, LLVMBuildLShr(b, x, c32(16), ""), "");
    x = LLVMBuildMul(b, x, c32(0x7feb352d), "");
    x = LLVMBuildXor(b, x, LLVMBuildLShr(b, x, c32(15), ""), "");
    x = LLVMBuildMul(b, x, c32(0x846ca68b), "");
    x = LLVMBuildXor(b, x, LLVMBuildLShr(b, x, c32(16), ""), "");
    LLVMValueRef u = LLVMBuildFMul(b, LLVMBuildUIToFP(b, LLVMBuildLShr(b, x, c32(8), ""), f32, ""),
        cf(1.0 / (1 << 24)), "");
    LLVMValueRef drop = LLVMBuildFCmp(b, LLVMRealOLT, u, cf(r.rate()), "");
    return LLVMBuildSelect(b, drop, cf(0), cf(1 / (1 - r.rate())), "");
  }
}
