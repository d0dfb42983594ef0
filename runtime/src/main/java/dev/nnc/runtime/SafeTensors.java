package dev.nnc.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw little-endian data. Only F32
 * tensors are written and read here. Names match {@code nnc summary} ({@code dense1.weight}), so
 * weights move to and from PyTorch by name.
 */
public final class SafeTensors {
  /** A named tensor. */
  public record Entry(int[] shape, float[] data) {}

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long MAX_HEADER = 100L << 20;

  private SafeTensors() {}

  public static void write(Path file, Map<String, Entry> tensors, Map<String, String> metadata) throws IOException {
    ObjectNode header = JSON.createObjectNode();
    if (metadata != null && !metadata.isEmpty()) {
      // Sorted: the same weights give the same bytes whatever order the caller's map iterates in
      // (Map.of's order changes from one JVM run to the next).
      ObjectNode meta = header.putObject("__metadata__");
      new java.util.TreeMap<>(metadata).forEach(meta::put);
    }
    long offset = 0;
    for (Map.Entry<String, Entry> e : tensors.entrySet()) {
      ObjectNode t = header.putObject(e.getKey());
      t.put("dtype", "F32");
      var shape = t.putArray("shape");
      for (int d : e.getValue().shape()) {
        shape.add(d);
      }
      long bytes = e.getValue().data().length * 4L;
      t.putArray("data_offsets").add(offset).add(offset + bytes);
      offset += bytes;
    }
    byte[] h = JSON.writeValueAsBytes(header);
    int pad = (8 - h.length % 8) % 8;
    byte[] hp = new byte[h.length + pad];
    System.arraycopy(h, 0, hp, 0, h.length);
    for (int i = h.length; i < hp.length; i++) {
      hp[i] = ' ';
    }
    AtomicFiles.write(file, tmp -> {
      try (OutputStream out = Files.newOutputStream(tmp)) {
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(hp.length);
        out.write(len.array());
        out.write(hp);
        for (Entry en : tensors.values()) {
          ByteBuffer bb = ByteBuffer.allocate(en.data().length * 4).order(ByteOrder.LITTLE_ENDIAN);
          bb.asFloatBuffer().put(en.data());
          out.write(bb.array());
        }
      }
    });
  }

  /** The length field's pseudo-key in a parsed header (never a tensor name: those have no spaces). */
  private static final String HEADER_LENGTH = " length";

  /** The JSON header, checked; its byte length under {@link #HEADER_LENGTH}. */
  private static JsonNode header(FileChannel ch, Path file) throws IOException {
    long size = ch.size();
    if (size < 8) {
      throw new DataException(file + ": truncated safetensors file (" + size + " bytes)");
    }
    ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    ch.read(lenBuf, 0);
    long hlen = lenBuf.flip().getLong();
    if (hlen <= 0 || hlen > MAX_HEADER || 8 + hlen > size) {
      throw new DataException(file + ": corrupt safetensors header length " + hlen + " for a file of " + size
          + " bytes");
    }
    ByteBuffer hb = ByteBuffer.allocate((int) hlen);
    ch.read(hb, 8);
    JsonNode header;
    try {
      header = JSON.readTree(new String(hb.array(), StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new DataException(file + ": corrupt safetensors header (not JSON)");
    }
    if (header == null || !header.isObject()) {
      throw new DataException(file + ": corrupt safetensors header (not a JSON object)");
    }
    ((com.fasterxml.jackson.databind.node.ObjectNode) header).put(HEADER_LENGTH, hlen);
    return header;
  }

  /** The {@code __metadata__} strings of a safetensors file (empty when it has none). */
  public static Map<String, String> metadata(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new DataException(file + ": no such file");
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      JsonNode meta = header(ch, file).path("__metadata__");
      Map<String, String> out = new LinkedHashMap<>();
      meta.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
      return out;
    }
  }

  /**
   * The weights of {@code manifest} from {@code file}: every weight (not optimizer state) must be
   * there, by name, with its shape. The one check used by the CLI and by generated classes.
   */
  public static Map<String, Entry> readFor(Manifest manifest, Path file) throws IOException {
    Map<String, Entry> w = read(file);
    Map<String, Entry> out = new LinkedHashMap<>();
    for (Manifest.ParamSlot p : manifest.params()) {
      if (!p.saved()) {
        continue;
      }
      Entry e = w.get(p.name());
      if (e == null) {
        throw new DataException(file + ": has no tensor '" + p.name() + "' (it has " + w.keySet()
            + "); were these weights saved from model " + manifest.model() + "?");
      }
      if (!java.util.Arrays.equals(e.shape(), p.shape())) {
        throw new DataException(file + ": tensor '" + p.name() + "' has shape " + java.util.Arrays.toString(e.shape())
            + ", model " + manifest.model() + " needs " + java.util.Arrays.toString(p.shape()));
      }
      out.put(p.name(), e);
    }
    return out;
  }

  public static Map<String, Entry> read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new DataException(file + ": no such weights file");
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      JsonNode header = header(ch, file);
      long hlen = header.path(HEADER_LENGTH).asLong();
      ((com.fasterxml.jackson.databind.node.ObjectNode) header).remove(HEADER_LENGTH);
      long dataStart = 8 + hlen;
      long dataSize = size - dataStart;
      Map<String, Entry> out = new LinkedHashMap<>();
      Iterator<Map.Entry<String, JsonNode>> it = header.fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> e = it.next();
        if (e.getKey().equals("__metadata__")) {
          continue;
        }
        JsonNode t = e.getValue();
        String name = e.getKey();
        if (!"F32".equals(t.path("dtype").asText())) {
          throw new DataException(file + ": tensor " + name + " has dtype " + t.path("dtype").asText()
              + "; only F32 is supported");
        }
        JsonNode shapeNode = t.path("shape");
        JsonNode off = t.path("data_offsets");
        if (!shapeNode.isArray() || !off.isArray() || off.size() != 2) {
          throw new DataException(file + ": tensor " + name + " has a malformed header entry");
        }
        int[] shape = new int[shapeNode.size()];
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
          shape[i] = shapeNode.get(i).asInt(-1);
          if (shape[i] < 0) {
            throw new DataException(file + ": tensor " + name + " has a negative dimension");
          }
          n *= shape[i];
        }
        long start = off.get(0).asLong(-1);
        long end = off.get(1).asLong(-1);
        if (start < 0 || end < start || end > dataSize) {
          throw new DataException(file + ": tensor " + name + " lies outside the file (bytes " + start + ".." + end
              + " of " + dataSize + "): truncated or corrupt");
        }
        if (end - start != n * 4) {
          throw new DataException(file + ": tensor " + name + " has " + (end - start) + " bytes for shape "
              + java.util.Arrays.toString(shape));
        }
        ByteBuffer data = ByteBuffer.allocate((int) (end - start)).order(ByteOrder.LITTLE_ENDIAN);
        ch.read(data, dataStart + start);
        float[] f = new float[(int) n];
        data.flip().asFloatBuffer().get(f);
        out.put(name, new Entry(shape, f));
      }
      return out;
    }
  }
}
