package dev.nnc.codegen.cuda;

import static org.bytedeco.llvm.global.LLVM.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.llvm.LLVM.LLVMContextRef;
import org.bytedeco.llvm.LLVM.LLVMMemoryBufferRef;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * CUDA's libdevice ({@code nvvm/libdevice/libdevice.10.bc} of the CUDA toolkit): the device math
 * library ({@code __nv_expf}, {@code __nv_tanhf}, …) that the GPU kernels call, linked into the
 * module as bitcode before optimisation, as clang and nvcc do.
 */
final class Libdevice {
  static final String PREFIX = "__nv_";
  static final String PROPERTY = "nnc.libdevice";

  private Libdevice() {}

  /** Where libdevice is looked for, in order: {@code -Dnnc.libdevice}, {@code $CUDA_HOME}, {@code $CUDA_PATH}, /usr/local/cuda. */
  static List<Path> candidates() {
    List<Path> out = new ArrayList<>();
    String prop = System.getProperty(PROPERTY);
    if (prop != null) {
      out.add(Path.of(prop));
    }
    for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
      String v = System.getenv(env);
      if (v != null && !v.isBlank()) {
        out.add(Path.of(v, "nvvm", "libdevice", "libdevice.10.bc"));
      }
    }
    out.add(Path.of("/usr/local/cuda/nvvm/libdevice/libdevice.10.bc"));
    out.add(Path.of("/usr/lib/nvidia-cuda-toolkit/libdevice/libdevice.10.bc"));
    return out;
  }

  /** The first candidate that exists; with {@code -Dnnc.libdevice} that file alone (null if it is not there). */
  static Path find() {
    String prop = System.getProperty(PROPERTY);
    if (prop != null) {
      return Files.isRegularFile(Path.of(prop)) ? Path.of(prop) : null;
    }
    for (Path p : candidates()) {
      if (Files.isRegularFile(p)) {
        return p;
      }
    }
    return null;
  }

  /** The libdevice functions {@code mod} calls. */
  static List<String> used(LLVMModuleRef mod) {
    List<String> out = new ArrayList<>();
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f != null && !f.isNull(); f = LLVMGetNextFunction(f)) {
      String name = LLVMGetValueName(f).getString();
      if (name.startsWith(PREFIX) && LLVMIsDeclaration(f) != 0) {
        out.add(name);
      }
    }
    return out;
  }

  /** Links libdevice into {@code mod} when its kernels call math functions; a clear error when it is not installed. */
  static void linkIfNeeded(LLVMContextRef ctx, LLVMModuleRef mod) {
    List<String> used = used(mod);
    if (used.isEmpty()) {
      return;
    }
    Path file = find();
    if (file == null) {
      throw new IllegalArgumentException("the GPU kernels call " + String.join(", ", used) + " from CUDA's libdevice, "
          + "which was not found (looked in " + candidates() + "); install the CUDA toolkit, set CUDA_HOME to it, or "
          + "give the file with -D" + PROPERTY + "=FILE");
    }
    LLVMMemoryBufferRef buf = new LLVMMemoryBufferRef();
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    if (LLVMCreateMemoryBufferWithContentsOfFile(new BytePointer(file.toString()), buf, err) != 0) {
      String msg = err.getString();
      LLVMDisposeMessage(err);
      throw new IllegalArgumentException("cannot read " + file + ": " + msg);
    }
    LLVMModuleRef lib = new LLVMModuleRef();
    if (LLVMParseBitcodeInContext2(ctx, buf, lib) != 0) {
      LLVMDisposeMemoryBuffer(buf);
      throw new IllegalArgumentException(file + " is not LLVM bitcode (a damaged CUDA toolkit?)");
    }
    LLVMDisposeMemoryBuffer(buf);
    // libdevice is built for "nvptx64-nvidia-gpulibs"; ours is the same code for our triple.
    LLVMSetTarget(lib, LLVMGetTarget(mod));
    LLVMSetDataLayout(lib, LLVMGetDataLayoutStr(mod));
    if (LLVMLinkModules2(mod, lib) != 0) {
      throw new IllegalStateException("linking " + file + " into the GPU module failed");
    }
  }
}
