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
import org.bytedeco.llvm.LLVM.LLVMContextRef;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMTargetMachineRef;

/**
 * The CUDA back end's kernels run on this CPU (in the spirit of Triton's interpreter mode): the
 * same GPU kernels ({@link GpuEmitter}) with the block and thread indices as loop variables
 * instead of special registers and the C library's math instead of libdevice's, compiled for the
 * host and run by the CPU runtime, blocks spread over its threads. Equal results to the CPU back
 * end's prove the GPU kernels' index mapping on a machine without a GPU; see docs/architecture.md.
 */
public final class EmulatedCudaBackend implements Backend {
  private final boolean driverEntries;
  private final boolean tf32;

  /** Kernels the CPU runtime calls: {@code (arena, lo, hi)} per kernel, its offsets built in. */
  public EmulatedCudaBackend() {
    this(false, false);
  }

  /** {@code driverEntries}: see {@link #EmulatedCudaBackend(boolean, boolean)}; FP32 kernels. */
  public EmulatedCudaBackend(boolean driverEntries) {
    this(driverEntries, false);
  }

  /**
   * {@code driverEntries}: instead, the PTX module's entry points, each taking a
   * {@code cuLaunchKernel} parameter array, {@code (params, lo, hi)} over blocks {@code [lo, hi)},
   * with {@code <entry>_block} its threads per block: what a stand-in CUDA driver needs to run the
   * GPU runtime's launches on this CPU (the CUDA executor's tests). {@code tf32}: the large GEMMs
   * as tensor-core kernels ({@link CudaBackend#CudaBackend(boolean)}), each {@code mma.sync}
   * emulated from its registers' layout, the inputs rounded to TF32 as the GPU rounds them.
   */
  public EmulatedCudaBackend(boolean driverEntries, boolean tf32) {
    this.driverEntries = driverEntries;
    this.tf32 = tf32;
  }

  @Override
  public String name() {
    return "cuda-emulated";
  }

  /** Only a GEMM split along K needs scratch on the GPU, for its partial products (nothing is packed). */
  @Override
  public long scratchFloats(Kernel k) {
    return GpuEmitter.scratchFloats(k);
  }

  /** {@code gpu} names the architecture being emulated; the code is the same for all. */
  @Override
  public Compiled compile(String model, List<PlannedProgram> programs, String gpu) {
    CudaBackend.checkTf32(tf32, CudaBackend.arch(gpu));
    Llvm.Host host = Llvm.host();
    LLVMTargetMachineRef tm = Llvm.targetMachine(host);
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(model + "_emulated", ctx);
    LLVMSetTarget(mod, host.triple());
    LLVMSetModuleDataLayout(mod, LLVMCreateTargetDataLayout(tm));
    LLVMDisposeTargetMachine(tm);
    KernelEmitter e = new KernelEmitter(ctx, mod, null);
    GpuEmitter.Result r = new GpuEmitter(e, GpuEmitter.Flavor.EMULATED, driverEntries, tf32).emit(programs);
    LLVMDisposeBuilder(e.b);
    long arena = programs.stream().mapToLong(pp -> pp.plan().regionEnd()).max().orElse(0);
    return CpuBackend.compileHostModule(model + "_emulated", ctx, mod, r.schedules(), arena);
  }
}
