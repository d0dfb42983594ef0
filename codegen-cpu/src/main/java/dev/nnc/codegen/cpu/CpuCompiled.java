package dev.nnc.codegen.cpu;

import static org.bytedeco.llvm.global.LLVM.*;

import dev.nnc.passes.backend.Compiled;
import dev.nnc.passes.backend.NativeCall;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.llvm.LLVM.LLVMContextRef;
import org.bytedeco.llvm.LLVM.LLVMMemoryBufferRef;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMOrcDefinitionGeneratorRef;
import org.bytedeco.llvm.LLVM.LLVMOrcJITDylibRef;
import org.bytedeco.llvm.LLVM.LLVMOrcLLJITBuilderRef;
import org.bytedeco.llvm.LLVM.LLVMOrcLLJITRef;
import org.bytedeco.llvm.LLVM.LLVMTargetMachineRef;

/**
 * The model's code as independent units of object code (see {@link CpuBackend}): linked in memory
 * by ORC LLJIT, or linked into a shared library by lld; its LLVM IR printable on demand.
 */
final class CpuCompiled implements Compiled {
  /**
   * One code unit: its LLVM module (optimised, or as emitted when its object came from the
   * cache), its object code, and the calls its kernels make.
   */
  record Unit(String name, LLVMContextRef ctx, LLVMModuleRef mod, boolean optimised, byte[] object, boolean cached,
      List<NativeCall> calls, boolean usesVecmath) {}

  private final Llvm.Host host;
  private final List<Unit> units;
  private final Map<String, List<NativeCall>> schedules;
  private final double seconds;
  private final Path cacheDir;
  private String text;
  private LLVMOrcLLJITRef jit;
  /** libmvec, when the code calls its vector functions; else null. */
  private final Path vectorLibrary;

  /** How many kernel bodies were compiled (one per template; the kernels are their wrappers). */
  private final int bodies;

  CpuCompiled(Llvm.Host host, List<Unit> units, Map<String, List<NativeCall>> schedules, Path vectorLibrary,
      double seconds, Path cacheDir, int bodies) {
    this.bodies = bodies;
    this.host = host;
    this.units = List.copyOf(units);
    this.schedules = schedules;
    this.vectorLibrary = vectorLibrary;
    this.seconds = seconds;
    this.cacheDir = cacheDir;
  }

  @Override
  public Map<String, List<NativeCall>> schedules() {
    return schedules;
  }

  @Override
  public Target target() {
    return new Target(host.triple(), host.cpu(), dev.nnc.runtime.CpuFeatures.checked(host.features()));
  }

  /** How many code units came from the on-disk cache. */
  int cachedUnits() {
    return (int) units.stream().filter(Unit::cached).count();
  }

  /** Distinct kernel bodies: kernels that differ only in their buffers share one. */
  int bodies() {
    return bodies;
  }

  int unitCount() {
    return units.size();
  }

  @Override
  public String report() {
    String cache = cacheDir == null ? "cache off" : cachedUnits() + " of " + units.size() + " code units from the "
        + "cache";
    return String.format("code generation %.1fs, %d distinct kernel bodies, %s", seconds, bodies, cache);
  }

  /** The optimised LLVM IR of every unit (units whose object came from the cache are optimised now). */
  @Override
  public synchronized String text() {
    if (text == null) {
      StringBuilder sb = new StringBuilder();
      LLVMTargetMachineRef tm = Llvm.targetMachine(host);
      try {
        for (Unit u : units) {
          if (!u.optimised()) {
            CpuBackend.optimise(u.mod(), tm);
          }
          BytePointer t = LLVMPrintModuleToString(u.mod());
          sb.append(t.getString());
          LLVMDisposeMessage(t);
        }
      } finally {
        LLVMDisposeTargetMachine(tm);
      }
      text = sb.toString();
    }
    return text;
  }

  @Override
  public synchronized ToLongFunction<String> jit() {
    if (jit == null) {
      LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
      LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder,
          LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(Llvm.targetMachine(host)));
      LLVMOrcLLJITRef j = new LLVMOrcLLJITRef();
      Llvm.check(LLVMOrcCreateLLJIT(j, builder), "creating the JIT");
      LLVMOrcJITDylibRef dylib = LLVMOrcLLJITGetMainJITDylib(j);
      // Math functions (tanhf, erff, …) resolve against the libm already in this process.
      LLVMOrcDefinitionGeneratorRef gen = new LLVMOrcDefinitionGeneratorRef();
      Llvm.check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(gen, LLVMOrcLLJITGetGlobalPrefix(j), null, null),
          "process symbol search");
      LLVMOrcJITDylibAddGenerator(dylib, gen);
      if (vectorLibrary != null) {
        // Vector math (_ZGVdN8v_tanhf, …) from libmvec, which the JVM does not load by itself.
        LLVMOrcDefinitionGeneratorRef vgen = new LLVMOrcDefinitionGeneratorRef();
        Llvm.check(LLVMOrcCreateDynamicLibrarySearchGeneratorForPath(vgen, new BytePointer(vectorLibrary.toString()),
            LLVMOrcLLJITGetGlobalPrefix(j), null, null), "loading " + vectorLibrary);
        LLVMOrcJITDylibAddGenerator(dylib, vgen);
      }
      for (Unit u : units) {
        BytePointer bytes = new BytePointer(u.object().length);
        bytes.put(u.object());
        // The JIT takes ownership of the buffer (a copy of the bytes).
        LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(bytes, u.object().length,
            new BytePointer(u.name()));
        bytes.close();
        Llvm.check(LLVMOrcLLJITAddObjectFile(j, dylib, buf), "adding " + u.name() + " to the JIT");
      }
      jit = j;
    }
    LLVMOrcLLJITRef j = jit;
    return name -> {
      long[] addr = new long[1];
      Llvm.check(LLVMOrcLLJITLookup(j, addr, name), "looking up " + name);
      return addr[0];
    };
  }

  @Override
  public synchronized void writeLibrary(Path file) throws IOException {
    Path dir = Files.createTempDirectory("nnc-link");
    try {
      List<String> cmd = new ArrayList<>(List.of(lld().toString(), "-flavor", "gnu", "-shared", "--as-needed",
          "-o", file.toString()));
      for (int i = 0; i < units.size(); i++) {
        Path obj = dir.resolve("unit" + i + ".o");
        Files.write(obj, units.get(i).object());
        cmd.add(obj.toString());
      }
      if (vectorLibrary != null) {
        cmd.add(vectorLibrary.toString());  // recorded as needed: the loader brings libmvec along
      }
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
      // lld links against libLLVM by its soname; JavaCPP caches the library as libLLVM.so.
      pb.environment().put("LD_LIBRARY_PATH", lldLibraryPath().toString());
      Process p = pb.start();
      String out = new String(p.getInputStream().readAllBytes());
      try {
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
          throw new IOException("lld failed to link " + file + ":\n" + out);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while linking", e);
      }
    } finally {
      try (var s = Files.walk(dir)) {
        s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }

  /** A folder with {@code libLLVM.so.<major>.<minor>} pointing at JavaCPP's cached libLLVM.so. */
  static synchronized Path lldLibraryPath() throws IOException {
    Path dir = lld().getParent();
    Path libs = dir.resolve("lld-libs");
    Files.createDirectories(libs);
    try (var s = Files.list(dir)) {
      for (Path lib : s.filter(f -> f.getFileName().toString().startsWith("lib")
          && f.getFileName().toString().endsWith(".so")).toList()) {
        // libLLVM.so's soname is libLLVM.so.20.1 (the version of the LLVM artifact).
        String name = lib.getFileName().toString();
        String soname = name.equals("libLLVM.so") ? "libLLVM.so." + llvmSoVersion() : name;
        Path link = libs.resolve(soname);
        if (!Files.exists(link)) {
          try {
            Files.createSymbolicLink(link, lib);
          } catch (java.nio.file.FileAlreadyExistsException e) {
            // another process made it
          }
        }
      }
    }
    return libs;
  }

  private static String llvmSoVersion() {
    int[] v = Llvm.version();
    return v[0] + "." + v[1];
  }

  /** The lld executable shipped in the bytedeco LLVM artifact, extracted to JavaCPP's cache. */
  static synchronized Path lld() throws IOException {
    Loader.load(org.bytedeco.llvm.global.LLVM.class);
    File f = Loader.cacheResource(org.bytedeco.llvm.global.LLVM.class,
        "/org/bytedeco/llvm/" + Loader.getPlatform() + "/lld");
    if (f == null) {
      throw new IOException("lld is missing from the LLVM artifact for " + Loader.getPlatform());
    }
    if (!f.canExecute() && !f.setExecutable(true)) {
      throw new IOException("cannot make " + f + " executable");
    }
    return f.toPath();
  }

  @Override
  public void close() {
    // The JIT and its memory live as long as the model; the process reclaims them at exit.
  }
}
