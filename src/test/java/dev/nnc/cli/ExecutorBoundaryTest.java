package dev.nnc.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.frontend.Elaborator;
import dev.nnc.frontend.Program;
import dev.nnc.frontend.Recipe;
import dev.nnc.frontend.SourceFile;
import dev.nnc.passes.backend.Backend;
import dev.nnc.runtime.Executor;
import dev.nnc.runtime.KernelLibrary;
import dev.nnc.runtime.Manifest;
import dev.nnc.runtime.NativeModel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The runtime's device boundary ({@link Executor}): a model run by an executor whose kernels work
 * on memory of their own — as a GPU's do — which sees only the host ranges the model says it
 * wrote and gives back only those it says it reads, trains and infers exactly as on the CPU. A
 * write or read the model forgets to announce (an input, a weight, an output, a loop counter)
 * makes the two differ.
 */
class ExecutorBoundaryTest {
  /** The CPU's kernels on a separate "device" arena, with copies where the model asks for them. */
  static final class SeparateMemory implements Executor {
    final Arena arena = Arena.ofShared();
    final MemorySegment host;
    final MemorySegment device;
    final Executor kernels;
    long copiedIn;
    long copiedOut;

    SeparateMemory(MemorySegment host, KernelLibrary library) {
      this.host = host;
      this.device = arena.allocate(host.byteSize(), 64);
      this.kernels = new Executor.HostExecutor(device, library, 2);
    }

    @Override
    public Launch bind(Manifest.Call c) {
      return kernels.bind(c);
    }

    @Override
    public void setCounter(long offset, float value) {
      kernels.setCounter(offset, value);
    }

    @Override
    public void written(long offset, long count) {
      MemorySegment.copy(host, offset * 4, device, offset * 4, count * 4);
      copiedIn += count;
    }

    @Override
    public void reading(long offset, long count) {
      MemorySegment.copy(device, offset * 4, host, offset * 4, count * 4);
      copiedOut += count;
    }

    @Override
    public int threads() {
      return kernels.threads();
    }

    @Override
    public void close() {
      kernels.close();
      arena.close();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"lenet5.nn", "char-lstm.nn"})
  void aModelOnSeparateMemoryTrainsAndInfersAsOnTheCpu(String sample) throws Exception {
    Program prog = Program.parse(SourceFile.read(Path.of("..", "samples", sample)));
    Recipe r = Elaborator.recipe(prog, null);
    ModelCompiler.Result res = ModelCompiler.compile(prog, null, r, 3, Backend.find("cpu"), Backend.NATIVE);
    KernelLibrary lib = KernelLibrary.ofAddresses(res.compiled().jit());
    SeparateMemory[] sep = new SeparateMemory[1];
    try (NativeModel cpu = new NativeModel(res.manifest(), lib, 2);
        NativeModel dev = new NativeModel(res.manifest(), host -> sep[0] = new SeparateMemory(host, lib))) {
      for (NativeModel m : new NativeModel[] {cpu, dev}) {
        m.initParams(5);
      }
      Random rnd = new Random(3);
      for (int step = 0; step < 3; step++) {
        for (String program : new String[] {ModelCompiler.TRAIN, ModelCompiler.PREDICT}) {
          for (Manifest.Slot s : res.manifest().programs().get(program).inputs()) {
            float[] v = new float[(int) s.size()];
            for (int i = 0; i < v.length; i++) {
              v[i] = !s.integer() ? (float) rnd.nextGaussian()
                  : s.min() + rnd.nextInt(s.bound() > 0 ? s.bound() - s.min() : 3);
            }
            cpu.setInput(program, s.name(), v);
            dev.setInput(program, s.name(), v);
          }
          cpu.run(program);
          dev.run(program);
          for (Manifest.Slot s : res.manifest().programs().get(program).outputs()) {
            assertArrayEquals(cpu.output(program, s.name()), dev.output(program, s.name()),
                sample + " " + program + " step " + step + ": " + s.name());
          }
        }
      }
      for (Manifest.ParamSlot p : res.manifest().params()) {
        assertArrayEquals(cpu.param(p.name()), dev.param(p.name()), sample + ": " + p.name() + " after training");
      }
      assertTrue(sep[0].copiedIn > 0 && sep[0].copiedOut > 0, "the model used the boundary");
    }
  }
}
