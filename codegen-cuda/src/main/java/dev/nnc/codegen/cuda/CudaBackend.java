package dev.nnc.codegen.cuda;

import static org.bytedeco.llvm.global.LLVM.*;

import dev.nnc.codegen.cpu.CpuBackend;
import dev.nnc.codegen.cpu.KernelEmitter;
import dev.nnc.codegen.cpu.Llvm;
import dev.nnc.ir.kernel.Kernel;
import dev.nnc.passes.backend.Backend;
import dev.nnc.passes.backend.Compiled;
import dev.nnc.passes.backend.PlannedProgram;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.llvm.LLVM.LLVMContextRef;
import org.bytedeco.llvm.LLVM.LLVMMemoryBufferRef;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMTargetMachineRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * The NVIDIA back end: the planned kernel programs as PTX, through LLVM's NVPTX target (in the
 * same {@code org.bytedeco:llvm} artifact as the CPU's). The GPU name is the {@code cpu} of
 * {@link Backend#compile(String, List, String)}: {@code sm_80} (the default, which the driver
 * JIT-compiles forward for newer GPUs) or another of {@link #ARCHES}.
 */
public final class CudaBackend implements Backend {
  public static final String TRIPLE = "nvptx64-nvidia-cuda";
  /** GPU architectures the back end emits PTX for. */
  public static final List<String> ARCHES = List.of("sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90");
  public static final String DEFAULT_ARCH = "sm_80";
  /** PTX ISA 7.8 (CUDA 11.8): the oldest that has sm_90, so drivers from CUDA 11.8 on load the code. */
  static final String PTX_VERSION = "+ptx78";
  /** The oldest architecture with TF32 tensor cores ({@code mma.sync ….tf32}). */
  static final String TF32_ARCH = "sm_80";

  private final boolean tf32;

  /** FP32 kernels throughout: what the CPU computes, within 1e-4 (docs/architecture.md). */
  public CudaBackend() {
    this(false);
  }

  /**
   * {@code tf32}: the large GEMMs (those that run register-blocked) on the tensor cores, their
   * inputs rounded to TF32 and their sums FP32 ({@code --tf32}; sm_80 and newer). Their results
   * differ from FP32's by up to about 2⁻¹⁰ of Σ|aᵢₖ·bₖⱼ|; docs/architecture.md has the tolerance.
   */
  public CudaBackend(boolean tf32) {
    this.tf32 = tf32;
  }

  /** Whether the GEMMs that can run on the tensor cores do, in TF32. */
  public boolean tf32() {
    return tf32;
  }

  /** Refuses TF32 on an architecture without its tensor-core instructions. */
  public static void checkTf32(boolean tf32, String arch) {
    if (tf32 && Integer.parseInt(arch.substring(3)) < Integer.parseInt(TF32_ARCH.substring(3))) {
      throw new IllegalArgumentException("TF32 tensor cores need " + TF32_ARCH + " or newer, not " + arch
          + "; leave out --tf32 or choose --gpu " + TF32_ARCH);
    }
  }

  @Override
  public String name() {
    return "cuda";
  }

  /** Only a GEMM split along K needs scratch on the GPU, for its partial products (nothing is packed). */
  @Override
  public long scratchFloats(Kernel k) {
    return GpuEmitter.scratchFloats(k);
  }

  /** {@code gpu}: {@code native} (the default architecture) or one of {@link #ARCHES}. */
  static String arch(String gpu) {
    if (gpu == null || gpu.equals(Backend.NATIVE)) {
      return DEFAULT_ARCH;
    }
    if (!ARCHES.contains(gpu)) {
      throw new IllegalArgumentException("unknown GPU architecture '" + gpu + "'; known: " + String.join(", ", ARCHES));
    }
    return gpu;
  }

  private static boolean nvptxReady;

  static synchronized void initNvptx() {
    Llvm.init();
    if (!nvptxReady) {
      LLVMInitializeNVPTXTargetInfo();
      LLVMInitializeNVPTXTarget();
      LLVMInitializeNVPTXTargetMC();
      LLVMInitializeNVPTXAsmPrinter();
      nvptxReady = true;
    }
  }

  @Override
  public Compiled compile(String model, List<PlannedProgram> programs, String gpu) {
    String arch = arch(gpu);
    checkTf32(tf32, arch);
    long t0 = System.nanoTime();
    initNvptx();
    LLVMTargetMachineRef tm = Llvm.targetMachine(new Llvm.Host(TRIPLE, arch, PTX_VERSION));
    LLVMContextRef ctx = LLVMContextCreate();
    try {
      LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(model, ctx);
      LLVMSetTarget(mod, TRIPLE);
      LLVMSetModuleDataLayout(mod, LLVMCreateTargetDataLayout(tm));
      // libdevice flushes single-precision denormals to zero when asked, as the kernels do
      // (denormal-fp-math: the CPU back end's FTZ/DAZ).
      LLVMAddModuleFlag(mod, LLVMModuleFlagBehaviorOverride, "nvvm-reflect-ftz", "nvvm-reflect-ftz".length(),
          LLVMValueAsMetadata(LLVMConstInt(LLVMInt32TypeInContext(ctx), 1, 0)));
      KernelEmitter e = new KernelEmitter(ctx, mod, null);
      e.deviceMath(Libdevice.PREFIX);
      GpuEmitter.Result r = new GpuEmitter(e, GpuEmitter.Flavor.PTX, false, tf32).emit(programs);
      LLVMDisposeBuilder(e.b);
      Llvm.verify(mod);
      long t1 = System.nanoTime();
      Libdevice.linkIfNeeded(ctx, mod);
      // Only the kernels are entry points: everything else (item bodies, libdevice) may be
      // inlined and what is left unused dropped.
      for (LLVMValueRef f = LLVMGetFirstFunction(mod); f != null && !f.isNull(); f = LLVMGetNextFunction(f)) {
        if (LLVMIsDeclaration(f) == 0 && LLVMGetFunctionCallConv(f) != GpuEmitter.PTX_KERNEL) {
          LLVMSetLinkage(f, LLVMInternalLinkage);
        }
      }
      long t2 = System.nanoTime();
      CpuBackend.optimise(mod, tm);
      long t3 = System.nanoTime();
      String ptx = emitPtx(tm, mod);
      long t4 = System.nanoTime();
      String times = String.format("emit %.1fs, libdevice %.1fs, optimise %.1fs, PTX %.1fs", (t1 - t0) / 1e9,
          (t2 - t1) / 1e9, (t3 - t2) / 1e9, (t4 - t3) / 1e9);
      return new CudaCompiled(arch, tf32, r.tensorCoreKernels(), ptx, r.schedules(), r.launches(), (t4 - t0) / 1e9, times);
    } finally {
      LLVMContextDispose(ctx);
      LLVMDisposeTargetMachine(tm);
    }
  }

  private static String emitPtx(LLVMTargetMachineRef tm, LLVMModuleRef mod) {
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    LLVMMemoryBufferRef buf = new LLVMMemoryBufferRef();
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMAssemblyFile, err, buf) != 0) {
      String msg = err.getString();
      LLVMDisposeMessage(err);
      throw new Llvm.LlvmException("LLVM could not generate PTX: " + msg);
    }
    try {
      byte[] out = new byte[(int) LLVMGetBufferSize(buf)];
      LLVMGetBufferStart(buf).capacity(out.length).get(out);
      return new String(out, java.nio.charset.StandardCharsets.UTF_8);
    } finally {
      LLVMDisposeMemoryBuffer(buf);
    }
  }
}
