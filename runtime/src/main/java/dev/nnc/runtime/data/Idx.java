package dev.nnc.runtime.data;

import dev.nnc.runtime.DataException;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * IDX files (the MNIST format), raw or gzip-compressed: a magic of two zero bytes, a type code
 * (0x08 = unsigned byte), the number of dimensions, the dimensions as big-endian ints, the data.
 */
public final class Idx {
  /** The dimensions and values (unsigned bytes as 0..255). */
  public record Array(int[] dims, float[] values) {
    public int count() {
      return dims.length == 0 ? 1 : dims[0];
    }
  }

  private Idx() {}

  public static Array read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new DataException(file + ": no such file");
    }
    try (InputStream raw = new BufferedInputStream(Files.newInputStream(file))) {
      raw.mark(2);
      int b0 = raw.read();
      int b1 = raw.read();
      raw.reset();
      InputStream in = b0 == 0x1f && b1 == 0x8b ? new GZIPInputStream(raw, 1 << 16) : raw;
      DataInputStream d = new DataInputStream(new BufferedInputStream(in, 1 << 16));
      int magic = d.readInt();
      if ((magic >>> 16) != 0) {
        throw new DataException(file + ": not an IDX file (bad magic number 0x" + Integer.toHexString(magic) + ")");
      }
      int type = (magic >>> 8) & 0xff;
      int rank = magic & 0xff;
      if (type != 0x08) {
        throw new DataException(file + ": IDX element type 0x" + Integer.toHexString(type)
            + " is not supported (only unsigned bytes, 0x08)");
      }
      if (rank < 1 || rank > 4) {
        throw new DataException(file + ": IDX rank " + rank + " is out of range");
      }
      int[] dims = new int[rank];
      long n = 1;
      for (int i = 0; i < rank; i++) {
        dims[i] = d.readInt();
        if (dims[i] < 0) {
          throw new DataException(file + ": negative dimension " + dims[i]);
        }
        n *= dims[i];
      }
      if (n > Integer.MAX_VALUE - 8) {
        throw new DataException(file + ": " + n + " elements is too many");
      }
      byte[] bytes = new byte[(int) n];
      try {
        d.readFully(bytes);
      } catch (EOFException e) {
        throw new DataException(file + ": truncated: the header promises " + n + " values");
      }
      float[] v = new float[bytes.length];
      for (int i = 0; i < v.length; i++) {
        v[i] = bytes[i] & 0xff;
      }
      return new Array(dims, v);
    } catch (ZipException | EOFException e) {
      throw new DataException(file + ": truncated or corrupt (" + e.getMessage() + ")");
    }
  }
}
