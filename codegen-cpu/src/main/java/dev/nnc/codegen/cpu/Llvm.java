package dev.nnc.codegen.cpu;

import static org.bytedeco.llvm.global.LLVM.*;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.llvm.LLVM.LLVMErrorRef;
import org.bytedeco.llvm.LLVM.LLVMTargetMachineRef;
import org.bytedeco.llvm.LLVM.LLVMTargetRef;

/** Process-wide LLVM set-up and the host's target machine. */
public final class Llvm {
  private static boolean initialised;

  private Llvm() {}

  public static synchronized void init() {
    if (initialised) {
      return;
    }
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMInitializeNativeAsmParser();
    initialised = true;
  }

  /** Thrown when LLVM reports an error; the message is LLVM's. */
  public static final class LlvmException extends RuntimeException {
    public LlvmException(String message) {
      super(message);
    }
  }

  static void check(LLVMErrorRef err, String what) {
    if (err != null && !err.isNull()) {
      BytePointer msg = LLVMGetErrorMessage(err);
      String s = msg.getString();
      LLVMDisposeErrorMessage(msg);
      throw new LlvmException(what + ": " + s);
    }
  }

  /** The host: its triple, CPU name and features (AVX2, AVX-512… as the machine has them). */
  public record Host(String triple, String cpu, String features) {
    public boolean has(String feature) {
      return features.contains("+" + feature + ",") || features.endsWith("+" + feature);
    }

    /** f32 lanes of the widest vector register the generated code uses. */
    public int vectorWidth() {
      return has("avx512f") ? 16 : has("avx") ? 8 : 4;
    }
  }

  public static Host host() {
    init();
    BytePointer triple = LLVMGetDefaultTargetTriple();
    BytePointer cpu = LLVMGetHostCPUName();
    BytePointer feats = LLVMGetHostCPUFeatures();
    Host h = new Host(triple.getString(), cpu.getString(), feats.getString());
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(feats);
    return h;
  }

  /** Portable x86-64 levels (the psABI's microarchitecture levels), each with the features it adds. */
  private static final java.util.Map<String, String> LEVELS = java.util.Map.of(
      "x86-64", "",
      "x86-64-v2", "+cx16,+popcnt,+sse3,+sse4.1,+sse4.2,+ssse3,+sahf",
      "x86-64-v3", "+cx16,+popcnt,+sse3,+sse4.1,+sse4.2,+ssse3,+sahf,+avx,+avx2,+bmi,+bmi2,+f16c,+fma,+lzcnt,+movbe,+xsave",
      "x86-64-v4", "+cx16,+popcnt,+sse3,+sse4.1,+sse4.2,+ssse3,+sahf,+avx,+avx2,+bmi,+bmi2,+f16c,+fma,+lzcnt,+movbe,+xsave,"
          + "+avx512f,+avx512bw,+avx512cd,+avx512dq,+avx512vl,+evex512");

  /** The CPU names {@link #target} accepts besides {@code native}. */
  public static final java.util.List<String> PORTABLE = java.util.List.of("x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4");

  /** {@code native} (this machine, all its features) or one of the {@link #PORTABLE} levels. */
  public static Host target(String cpu) {
    if (cpu == null || cpu.equals("native")) {
      return host();
    }
    String features = LEVELS.get(cpu);
    if (features == null) {
      throw new IllegalArgumentException("unknown CPU target '" + cpu + "'; use native (this machine) or one of "
          + String.join(", ", PORTABLE));
    }
    init();
    BytePointer triple = LLVMGetDefaultTargetTriple();
    Host h = new Host(triple.getString(), cpu, features);
    LLVMDisposeMessage(triple);
    return h;
  }

  /** Refuses a module the LLVM verifier rejects (a bug in the code generator), with the verifier's message. */
  public static void verify(org.bytedeco.llvm.LLVM.LLVMModuleRef mod) {
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, err) != 0) {
      String msg = err.getString();
      LLVMDisposeMessage(err);
      throw new LlvmException("generated LLVM IR does not verify: " + msg);
    }
  }

  /** A target machine for the host at -O3, position-independent (for shared libraries too). */
  public static LLVMTargetMachineRef targetMachine(Host h) {
    init();
    LLVMTargetRef target = new LLVMTargetRef();
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    if (LLVMGetTargetFromTriple(new BytePointer(h.triple()), target, err) != 0) {
      throw new LlvmException("no LLVM target for " + h.triple() + ": " + err.getString());
    }
    return LLVMCreateTargetMachine(target, h.triple(), h.cpu(), h.features(), LLVMCodeGenLevelAggressive,
        LLVMRelocPIC, LLVMCodeModelDefault);
  }

  /** The LLVM library's version: major, minor, patch. */
  static int[] version() {
    org.bytedeco.javacpp.IntPointer major = new org.bytedeco.javacpp.IntPointer(1);
    org.bytedeco.javacpp.IntPointer minor = new org.bytedeco.javacpp.IntPointer(1);
    org.bytedeco.javacpp.IntPointer patch = new org.bytedeco.javacpp.IntPointer(1);
    LLVMGetVersion(major, minor, patch);
    return new int[] {major.get(), minor.get(), patch.get()};
  }

  static PointerPointer<?> pp(org.bytedeco.javacpp.Pointer... ps) {
    return new PointerPointer<>(ps);
  }
}
