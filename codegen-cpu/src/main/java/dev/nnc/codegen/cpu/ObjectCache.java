package dev.nnc.codegen.cpu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * Compiled object code on disk, keyed by a hash of everything that decides it: the unoptimised
 * LLVM IR of a code unit, the target (triple, CPU, features), the LLVM version, the optimisation
 * pipeline and a format number bumped whenever the back end changes how it compiles. A second
 * compile of an unchanged model skips LLVM's optimiser and code generator.
 *
 * <p>Location: {@code -Dnnc.cache.dir}, else {@code $NNC_CACHE_DIR}, else
 * {@code $XDG_CACHE_HOME/nnc}, else {@code ~/.cache/nnc}; {@code off} (in either) turns the cache
 * off. Entries are written to a temporary file and renamed into place, so concurrent runs never
 * see a partial entry; each entry carries a SHA-256 of its contents, so a damaged one is
 * detected, dropped and rebuilt. The cache is only an optimisation: any I/O error means a miss.
 * Deleting the folder is always safe.
 */
final class ObjectCache {
  /** Bumped when the back end changes what it does with the same IR (pipeline, target options). */
  static final int FORMAT = 1;
  private static final byte[] MAGIC = "NNCOBJ1\n".getBytes(StandardCharsets.US_ASCII);

  private final Path dir;

  private ObjectCache(Path dir) {
    this.dir = dir;
  }

  /** The cache the system properties and environment name; {@link #disabled()} when turned off. */
  static ObjectCache open() {
    String setting = System.getProperty("nnc.cache.dir");
    if (setting == null || setting.isBlank()) {
      setting = System.getenv("NNC_CACHE_DIR");
    }
    if (setting != null && setting.strip().equalsIgnoreCase("off")) {
      return disabled();
    }
    if (setting != null && !setting.isBlank()) {
      return new ObjectCache(Path.of(setting.strip()));
    }
    String xdg = System.getenv("XDG_CACHE_HOME");
    Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
    return new ObjectCache(base.resolve("nnc"));
  }

  static ObjectCache at(Path dir) {
    return new ObjectCache(dir);
  }

  static ObjectCache disabled() {
    return new ObjectCache(null);
  }

  boolean enabled() {
    return dir != null;
  }

  Path dir() {
    return dir;
  }

  /** The key of a code unit: SHA-256 over the parts, each length-prefixed, in hex. */
  static String key(String... parts) {
    MessageDigest md = sha256();
    md.update(("nnc-cpu-object/" + FORMAT).getBytes(StandardCharsets.UTF_8));
    for (String p : parts) {
      byte[] b = p.getBytes(StandardCharsets.UTF_8);
      md.update(java.nio.ByteBuffer.allocate(8).putLong(b.length).array());
      md.update(b);
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private Path file(String key) {
    return dir.resolve(key.substring(0, 2)).resolve(key.substring(2) + ".o");
  }

  /** The object for {@code key}, or null: absent, unreadable or damaged (then removed). */
  byte[] get(String key) {
    if (dir == null) {
      return null;
    }
    Path f = file(key);
    byte[] all;
    try {
      all = Files.readAllBytes(f);
    } catch (IOException e) {
      return null;
    }
    int head = MAGIC.length + 32;
    if (all.length > head && Arrays.equals(all, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
      byte[] payload = Arrays.copyOfRange(all, head, all.length);
      if (Arrays.equals(sha256().digest(payload), Arrays.copyOfRange(all, MAGIC.length, head))) {
        return payload;
      }
    }
    try {
      Files.deleteIfExists(f);
    } catch (IOException e) {
      // left for the next writer to replace
    }
    return null;
  }

  /** Stores {@code object} under {@code key}; failures (read-only disk, full disk) are ignored. */
  void put(String key, byte[] object) {
    if (dir == null) {
      return;
    }
    Path f = file(key);
    Path tmp = null;
    try {
      Files.createDirectories(f.getParent());
      tmp = Files.createTempFile(f.getParent(), ".tmp-", ".o");
      try (var out = Files.newOutputStream(tmp)) {
        out.write(MAGIC);
        out.write(sha256().digest(object));
        out.write(object);
      }
      try {
        Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
      }
      tmp = null;
    } catch (IOException | RuntimeException e) {
      // The cache is an optimisation: the compiled code is in memory either way.
    } finally {
      if (tmp != null) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException e) {
          // nothing more to do
        }
      }
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JDK", e);
    }
  }
}
