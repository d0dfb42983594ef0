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
import org.bytedeco.llvm.LLVM.LLVMTargetMachineRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * The x86-64 back end: kernel IR → LLVM IR for the host's vector width, optimised at -O3 and
 * compiled to object code in independent units (in parallel, and through the on-disk
 * {@link ObjectCache}), then either linked in memory by ORC LLJIT or linked into a shared library
 * by lld.
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
      case Kernel.Gemm g -> g.batch() * GemmEmitter.scratchFloats(g.m(), g.n(), g.k());
      case Kernel.Loops l -> 0;
    };
  }

  @Override
  public String name() {
    return "cpu";
  }

  /** The optimisation pipeline every code unit runs (part of the cache key). */
  static final String PIPELINE = "default<O3>";

  /** Kernels per code unit: small enough to spread over the cores, large enough to amortise a module. */
  static final int UNIT_KERNELS = 16;

  /** One code unit to build: kernels {@code [from, to)} of a program, or (program null) the globals. */
  private record UnitSpec(String name, PlannedProgram program, int from, int to) {}

  @Override
  public Compiled compile(String model, List<PlannedProgram> programs, String cpu) {
    return compile(model, programs, cpu, ObjectCache.open());
  }

  /**
   * Compiles the programs as independent code units (runs of {@value #UNIT_KERNELS} kernels, each
   * its own LLVM context and module), built in parallel, each looked up in {@code cache} by a hash
   * of its IR and target before LLVM optimises it and generates its object code.
   */
  Compiled compile(String model, List<PlannedProgram> programs, String cpu, ObjectCache cache) {
    long t0 = System.nanoTime();
    GemmEmitter.Tiling tiling = this.tiling != null ? this.tiling : GemmEmitter.Tiling.fromSystemProperties();
    Llvm.Host host = Llvm.target(cpu);
    VectorMath vecmath = VectorMath.forHost(host).orElse(null);
    // The arena size the code was planned for: the runtime refuses a manifest that disagrees.
    long arena = programs.stream().mapToLong(pp -> pp.plan().regionEnd()).max().orElse(0);
    List<UnitSpec> specs = new ArrayList<>();
    specs.add(new UnitSpec(model + "_globals", null, 0, 0));
    for (PlannedProgram pp : programs) {
      int n = pp.program().kernels().size();
      for (int from = 0; from < n; from += UNIT_KERNELS) {
        specs.add(new UnitSpec(pp.program().name() + "_" + from, pp, from, Math.min(n, from + UNIT_KERNELS)));
      }
    }
    String version = llvmVersion();
    int threads = Math.max(1, Math.min(specs.size(),
        Integer.getInteger("nnc.compile.threads", Runtime.getRuntime().availableProcessors())));
    List<CpuCompiled.Unit> units = new ArrayList<>();
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, "nnc-compile");
      t.setDaemon(true);
      return t;
    });
    try {
      List<java.util.concurrent.Future<CpuCompiled.Unit>> futures = new ArrayList<>();
      for (UnitSpec spec : specs) {
        futures.add(pool.submit(() -> build(spec, host, vecmath, tiling, arena, cache, version)));
      }
      for (var f : futures) {
        units.add(f.get());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Llvm.LlvmException("interrupted while compiling");
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      if (e.getCause() instanceof Error err) {
        throw err;
      }
      throw new Llvm.LlvmException("compiling: " + e.getCause());
    } finally {
      pool.shutdownNow();
    }
    Map<String, List<NativeCall>> schedules = new LinkedHashMap<>();
    for (PlannedProgram pp : programs) {
      schedules.put(pp.program().name(), new ArrayList<>());
    }
    boolean usesVecmath = false;
    for (int i = 0; i < units.size(); i++) {
      UnitSpec spec = specs.get(i);
      if (spec.program() != null) {
        schedules.get(spec.program().program().name()).addAll(units.get(i).calls());
      }
      usesVecmath |= units.get(i).usesVecmath();
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    return new CpuCompiled(host, units, schedules, usesVecmath ? vecmath.library() : null, seconds,
        cache.enabled() ? cache.dir() : null);
  }

  private static CpuCompiled.Unit build(UnitSpec spec, Llvm.Host host, VectorMath vecmath, GemmEmitter.Tiling tiling,
      long arena, ObjectCache cache, String version) {
    LLVMTargetMachineRef tm = Llvm.targetMachine(host);
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(spec.name(), ctx);
    LLVMSetTarget(mod, host.triple());
    LLVMSetModuleDataLayout(mod, LLVMCreateTargetDataLayout(tm));
    List<NativeCall> calls = new ArrayList<>();
    if (spec.program() == null) {
      LLVMValueRef arenaGlobal = LLVMAddGlobal(mod, LLVMInt64TypeInContext(ctx), ARENA_SYMBOL);
      LLVMSetInitializer(arenaGlobal, LLVMConstInt(LLVMInt64TypeInContext(ctx), arena, 0));
      LLVMSetGlobalConstant(arenaGlobal, 1);
    } else {
      PlannedProgram pp = spec.program();
      KernelEmitter e = new KernelEmitter(ctx, mod, pp.plan().offsets(), vecmath);
      GemmEmitter gemm = new GemmEmitter(e, host.vectorWidth(), tiling);
      for (int ki = spec.from(); ki < spec.to(); ki++) {
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
    }
    boolean usesVecmath = vecmath != null && keepVectorFunctions(ctx, mod);
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, err) != 0) {
      String msg = err.getString();
      LLVMDisposeMessage(err);
      throw new Llvm.LlvmException("generated LLVM IR does not verify: " + msg);
    }
    BytePointer irText = LLVMPrintModuleToString(mod);
    String key = ObjectCache.key(host.triple(), host.cpu(), host.features(), version, PIPELINE, irText.getString());
    LLVMDisposeMessage(irText);
    byte[] object = cache.get(key);
    boolean cached = object != null;
    if (!cached) {
      optimise(mod, tm);
      object = emitObject(tm, mod);
      cache.put(key, object);
    }
    LLVMDisposeTargetMachine(tm);
    return new CpuCompiled.Unit(spec.name(), ctx, mod, !cached, object, cached, calls, usesVecmath);
  }

  static void optimise(LLVMModuleRef mod, LLVMTargetMachineRef tm) {
    org.bytedeco.llvm.LLVM.LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    try {
      Llvm.check(LLVMRunPasses(mod, PIPELINE, tm, opts), "LLVM optimisation");
    } finally {
      LLVMDisposePassBuilderOptions(opts);
    }
  }

  private static byte[] emitObject(LLVMTargetMachineRef tm, LLVMModuleRef mod) {
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    org.bytedeco.llvm.LLVM.LLVMMemoryBufferRef buf = new org.bytedeco.llvm.LLVM.LLVMMemoryBufferRef();
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, err, buf) != 0) {
      String msg = err.getString();
      LLVMDisposeMessage(err);
      throw new Llvm.LlvmException("LLVM could not generate object code: " + msg);
    }
    try {
      byte[] out = new byte[(int) LLVMGetBufferSize(buf)];
      LLVMGetBufferStart(buf).capacity(out.length).get(out);
      return out;
    } finally {
      LLVMDisposeMemoryBuffer(buf);
    }
  }

  private static String llvmVersion() {
    int[] v = Llvm.version();
    return "llvm-" + v[0] + "." + v[1] + "." + v[2];
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
