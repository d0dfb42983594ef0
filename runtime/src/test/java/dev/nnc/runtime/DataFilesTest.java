package dev.nnc.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nnc.runtime.data.Csv;
import dev.nnc.runtime.data.Dataset;
import dev.nnc.runtime.data.FashionMnist;
import dev.nnc.runtime.data.Idx;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Data and weight files: round trips, and clear errors naming the file for bad ones. */
class DataFilesTest {
  @TempDir
  Path dir;

  static byte[] idx(int[] dims, byte[] data) {
    ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + data.length);
    b.put((byte) 0).put((byte) 0).put((byte) 8).put((byte) dims.length);
    for (int d : dims) {
      b.putInt(d);
    }
    b.put(data);
    return b.array();
  }

  static byte[] gzip(byte[] raw) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream g = new GZIPOutputStream(out)) {
      g.write(raw);
    }
    return out.toByteArray();
  }

  @Test
  void idxRawAndGzip() throws IOException {
    byte[] data = {1, 2, 3, (byte) 200, 5, 6};
    Path raw = dir.resolve("a-idx2-ubyte");
    Files.write(raw, idx(new int[] {2, 3}, data));
    Path gz = dir.resolve("a-idx2-ubyte.gz");
    Files.write(gz, gzip(idx(new int[] {2, 3}, data)));
    for (Path p : List.of(raw, gz)) {
      Idx.Array a = Idx.read(p);
      assertArrayEquals(new int[] {2, 3}, a.dims());
      assertEquals(200f, a.values()[3]);
    }
  }

  @Test
  void idxErrorsNameTheFile() throws IOException {
    Path trunc = dir.resolve("trunc.gz");
    byte[] full = gzip(idx(new int[] {10, 28, 28}, new byte[10 * 784]));
    Files.write(trunc, Arrays.copyOf(full, full.length / 2));
    DataException e = assertThrows(DataException.class, () -> Idx.read(trunc));
    assertTrue(e.getMessage().startsWith(trunc.toString()) && e.getMessage().contains("truncated"), e.getMessage());

    Path shortRaw = dir.resolve("short");
    Files.write(shortRaw, Arrays.copyOf(idx(new int[] {10, 28, 28}, new byte[10 * 784]), 500));
    e = assertThrows(DataException.class, () -> Idx.read(shortRaw));
    assertTrue(e.getMessage().contains("truncated"), e.getMessage());

    Path junk = dir.resolve("junk");
    Files.writeString(junk, "this is not an idx file at all");
    e = assertThrows(DataException.class, () -> Idx.read(junk));
    assertTrue(e.getMessage().contains("not an IDX file"), e.getMessage());

    e = assertThrows(DataException.class, () -> Idx.read(dir.resolve("missing")));
    assertTrue(e.getMessage().contains("no such file"), e.getMessage());
  }

  @Test
  void fashionMnistChecksLabelsAgainstImages() throws IOException {
    Path fm = dir.resolve("fm");
    Files.createDirectories(fm);
    Files.write(fm.resolve("train-images-idx3-ubyte.gz"), gzip(idx(new int[] {3, 28, 28}, new byte[3 * 784])));
    Files.write(fm.resolve("train-labels-idx1-ubyte.gz"), gzip(idx(new int[] {2}, new byte[] {1, 2})));
    Files.write(fm.resolve("t10k-images-idx3-ubyte.gz"), gzip(idx(new int[] {1, 28, 28}, new byte[784])));
    Files.write(fm.resolve("t10k-labels-idx1-ubyte.gz"), gzip(idx(new int[] {1}, new byte[] {3})));
    DataException e = assertThrows(DataException.class, () -> FashionMnist.load(fm, false));
    assertTrue(e.getMessage().contains("2 labels for 3 images"), e.getMessage());
  }

  @Test
  void csvLoadsAndReportsRowsByLine() throws IOException {
    Path ok = dir.resolve("ok.csv");
    Files.writeString(ok, "a,b,y\n0,1,1\n1,0,1\n\n1,1,0\n");
    Dataset d = Csv.load(ok, "x", List.of("a", "b"), "y", List.of());
    assertEquals(3, d.size());
    assertArrayEquals(new float[] {0, 1, 1, 0, 1, 1}, d.field("x"));
    assertTrue(d.isInteger("label"));

    Path bad = dir.resolve("bad.csv");
    Files.writeString(bad, "a,b,y\n0,1,1\n1,zero,1\n");
    DataException e = assertThrows(DataException.class, () -> Csv.load(bad, "x", List.of("a", "b"), "y", List.of()));
    assertEquals(bad + ":3: column b is not a number: 'zero'", e.getMessage());

    Path ragged = dir.resolve("ragged.csv");
    Files.writeString(ragged, "a,b,y\n0,1\n");
    e = assertThrows(DataException.class, () -> Csv.load(ragged, "x", List.of("a", "b"), "y", List.of()));
    assertTrue(e.getMessage().contains(":2: 2 values, the header has 3"), e.getMessage());

    Path frac = dir.resolve("frac.csv");
    Files.writeString(frac, "a,y\n0,0.5\n");
    e = assertThrows(DataException.class, () -> Csv.load(frac, "x", List.of("a"), "y", List.of()));
    assertTrue(e.getMessage().contains("is not a class number"), e.getMessage());
  }

  @Test
  void safetensorsRoundTripAndCorruption() throws IOException {
    Map<String, SafeTensors.Entry> t = new LinkedHashMap<>();
    t.put("dense1.weight", new SafeTensors.Entry(new int[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6}));
    t.put("dense1.bias", new SafeTensors.Entry(new int[] {2}, new float[] {-1, 0.5f}));
    Path f = dir.resolve("w.safetensors");
    SafeTensors.write(f, t, Map.of("model", "M"));
    Map<String, SafeTensors.Entry> back = SafeTensors.read(f);
    assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, back.get("dense1.weight").data());
    assertArrayEquals(new int[] {2}, back.get("dense1.bias").shape());
    // The header is JSON that other tools read: 8-byte little-endian length first.
    byte[] bytes = Files.readAllBytes(f);
    long hlen = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    String header = new String(bytes, 8, (int) hlen);
    assertTrue(header.contains("\"dense1.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"), header);

    Path trunc = dir.resolve("trunc.safetensors");
    Files.write(trunc, Arrays.copyOf(bytes, bytes.length - 4));
    DataException e = assertThrows(DataException.class, () -> SafeTensors.read(trunc));
    assertTrue(e.getMessage().startsWith(trunc.toString()) && e.getMessage().contains("truncated"), e.getMessage());

    Path corrupt = dir.resolve("corrupt.safetensors");
    byte[] c = bytes.clone();
    c[8] = '#'; // the header's opening brace
    Files.write(corrupt, c);
    e = assertThrows(DataException.class, () -> SafeTensors.read(corrupt));
    assertTrue(e.getMessage().contains("corrupt safetensors header"), e.getMessage());

    Path huge = dir.resolve("huge.safetensors");
    byte[] h = bytes.clone();
    ByteBuffer.wrap(h, 0, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40);
    Files.write(huge, h);
    e = assertThrows(DataException.class, () -> SafeTensors.read(huge));
    assertTrue(e.getMessage().contains("header length"), e.getMessage());

    Path tiny = dir.resolve("tiny.safetensors");
    Files.write(tiny, new byte[3]);
    e = assertThrows(DataException.class, () -> SafeTensors.read(tiny));
    assertTrue(e.getMessage().contains("truncated"), e.getMessage());
  }

  @Test
  void safetensorsBytesDoNotDependOnMetadataOrder() throws IOException {
    Map<String, SafeTensors.Entry> t = Map.of("w", new SafeTensors.Entry(new int[] {2}, new float[] {1, 2}));
    Map<String, String> ab = new LinkedHashMap<>();
    ab.put("model", "M");
    ab.put("format", "nnc");
    Map<String, String> ba = new LinkedHashMap<>();
    ba.put("format", "nnc");
    ba.put("model", "M");
    SafeTensors.write(dir.resolve("a.safetensors"), t, ab);
    SafeTensors.write(dir.resolve("b.safetensors"), t, ba);
    assertArrayEquals(Files.readAllBytes(dir.resolve("a.safetensors")), Files.readAllBytes(dir.resolve("b.safetensors")));
  }

  @Test
  void atomicWritesLeaveNoPartialFile() throws IOException {
    Path target = dir.resolve("out.bin");
    assertThrows(IOException.class, () -> AtomicFiles.write(target, tmp -> {
      Files.writeString(tmp, "half");
      throw new IOException("disk full");
    }));
    assertTrue(!Files.exists(target));
    try (var s = Files.list(dir)) {
      assertEquals(0, s.count(), "the temporary file is removed");
    }
  }

  @Test
  void initialisersFollowTheirFans() {
    Manifest.ParamSlot p = new Manifest.ParamSlot("w", 0, new int[] {256, 784}, "weight", "glorot_uniform", 0);
    float[] v = NativeModel.Initializers.values(p, 1);
    double limit = Math.sqrt(6.0 / (256 + 784));
    double max = 0;
    double sumSq = 0;
    for (float x : v) {
      max = Math.max(max, Math.abs(x));
      sumSq += x * x;
    }
    assertTrue(max <= limit && max > 0.95 * limit, "max " + max + " limit " + limit);
    assertEquals(limit * limit / 3, sumSq / v.length, 0.05 * limit * limit / 3);
    float[] he = NativeModel.Initializers.values(new Manifest.ParamSlot("h", 0, new int[] {512, 512}, "weight",
        "he_normal", 0), 2);
    double var = 0;
    for (float x : he) {
      var += x * x;
    }
    assertEquals(2.0 / 512, var / he.length, 0.05 * 2.0 / 512);
  }

  /** Token-id CSV: columns read as ids of an embedding, each checked against its rows with the line and column. */
  @Test
  void csvOfTokenIds() throws IOException {
    Path f = dir.resolve("ids.csv");
    Files.writeString(f, "t0,t1,t2,y\n1,2,3,0\n4,0,9,1\n");
    Dataset d = Csv.load(f, "ids", List.of("t0", "t1", "t2"), "y", List.of(), 2, 10);
    assertTrue(d.isInteger("ids"));
    float[] x = new float[6];
    d.gather("ids", new int[] {0, 1}, 0, 2, x);
    assertArrayEquals(new float[] {1, 2, 3, 4, 0, 9}, x);
    Files.writeString(f, "t0,t1,t2,y\n1,2,3,0\n4,10,9,1\n");
    DataException e = assertThrows(DataException.class, () -> Csv.load(f, "ids", List.of("t0", "t1", "t2"), "y",
        List.of(), 2, 10));
    assertTrue(e.getMessage().endsWith("ids.csv:3: column t1 = 10 is not a token id in [0, 10) (the model's embedding "
        + "has 10 rows)"), e.getMessage());
    Files.writeString(f, "t0,t1,t2,y\n1,2.5,3,0\n");
    DataException half = assertThrows(DataException.class, () -> Csv.load(f, "ids", List.of("t0", "t1", "t2"), "y",
        List.of(), 2, 10));
    assertTrue(half.getMessage().contains("column t1 = 2.5 is not a token id"), half.getMessage());
  }
}
