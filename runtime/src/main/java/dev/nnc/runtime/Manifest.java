package dev.nnc.runtime;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What the runtime needs to run a compiled model, and nothing of the compiler: the arena size,
 * where every parameter, input and output lives in it, and per program the native calls in
 * order. Written as {@code manifest.json} next to an ahead-of-time library.
 */
public record Manifest(
    String model,
    int formatVersion,
    int batch,
    long arenaFloats,
    List<ParamSlot> params,
    Map<String, Program> programs,
    Map<String, Object> info) {

  public static final int FORMAT = 1;

  /** A persistent tensor: weight ({@code role=weight}), frozen weight, or state. */
  public record ParamSlot(String name, long offset, int[] shape, String role, String init, double initValue) {
    public long size() {
      long n = 1;
      for (int d : shape) {
        n *= d;
      }
      return n;
    }
  }

  /** An input or output of a program: its arena slot and shape (batch first). */
  public record Slot(String name, long offset, int[] shape, String dtype) {
    public long size() {
      long n = 1;
      for (int d : shape) {
        n *= d;
      }
      return n;
    }
  }

  /** A native call: {@code symbol(arena, lo, hi)} over {@code [0, extent)}. */
  public record Call(String symbol, long extent, double cost) {}

  public record Program(List<Slot> inputs, List<Slot> outputs, List<Call> calls) {
    public Slot input(String name) {
      return inputs.stream().filter(s -> s.name().equals(name)).findFirst().orElse(null);
    }

    public Slot output(String name) {
      return outputs.stream().filter(s -> s.name().equals(name)).findFirst().orElse(null);
    }
  }

  public Program program(String name) {
    Program p = programs.get(name);
    if (p == null) {
      throw new IllegalArgumentException("model " + model + " has no program '" + name + "' (it has "
          + programs.keySet() + ")");
    }
    return p;
  }

  public ParamSlot param(String name) {
    return params.stream().filter(p -> p.name().equals(name)).findFirst().orElse(null);
  }

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  public void write(Path file) throws IOException {
    AtomicFiles.write(file, JSON.writeValueAsBytes(this));
  }

  public static Manifest read(Path file) throws IOException {
    try {
      Manifest m = JSON.readValue(file.toFile(), Manifest.class);
      if (m.formatVersion() != FORMAT) {
        throw new IOException(file + ": manifest format " + m.formatVersion() + ", this runtime reads " + FORMAT
            + "; recompile the model with this nnc");
      }
      return m;
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new IOException(file + ": not a valid nnc manifest (" + e.getOriginalMessage() + ")");
    }
  }
}
