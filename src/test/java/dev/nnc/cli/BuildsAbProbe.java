package dev.nnc.cli;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/**
 * A manual A/B timing of two builds of nnc (not a test; {@code nnc bench} is the measurement
 * beside libtorch), run by {@code scripts/ab-builds}: {@code BuildsAbProbe FILE BATCH PROGRAM
 * SIDE_A SIDE_B}, each side a source tree with a build ({@code DIR}: its {@code src/target} CLI
 * jar and module jars), optionally with one system property set while that side compiles
 * ({@code DIR:nnc.gemm.inplace=false}). Both builds are loaded into this process, each in a class
 * loader of its own over the libraries they share, and their compiled programs take turns of a
 * few runs each ({@code -Dprobe.turns}, {@code -Dprobe.per}), so that the machine's drift — ±30%
 * within minutes on a shared 2-core machine, which makes runs in separate processes useless for
 * differences under 10% — hits both alike. Prints each side's median, quartile and best.
 */
public final class BuildsAbProbe {
  public static void main(String[] args) throws Exception {
    if (args.length != 5) {
      System.err.println("usage: BuildsAbProbe FILE BATCH train|predict DIR[:property=value] DIR[:property=value]");
      System.exit(2);
    }
    String[] sides = {args[3], args[4]};
    // The libraries both builds use (LLVM, javacpp, Jackson, …), loaded once: a native library
    // can be loaded by one class loader only.
    ClassLoader shared = new URLClassLoader(urls(jars(dir(sides[1]), false)), ClassLoader.getPlatformClassLoader());
    byte[] turn;
    try (InputStream in = BuildsAbProbe.class.getResourceAsStream("BuildsAbTurn.class")) {
      turn = in.readAllBytes();
    }
    Runnable[] runs = new Runnable[2];
    for (int i = 0; i < 2; i++) {
      String[] property = sides[i].contains(":") ? sides[i].substring(sides[i].indexOf(':') + 1).split("=", 2) : null;
      List<Path> own = jars(dir(sides[i]), true);
      try (Stream<Path> s = Files.list(dir(sides[i]).resolve("src/target"))) {
        s.filter(p -> p.getFileName().toString().matches("nnc-cli-.*\\.jar")).forEach(own::add);
      }
      ClassLoader build = new Build(urls(own), shared, turn);
      Thread.currentThread().setContextClassLoader(build);
      if (property != null) {
        System.setProperty(property[0], property[1]);
      }
      java.lang.reflect.Method prepare = build.loadClass("dev.nnc.cli.BuildsAbTurn").getMethod("prepare", String.class,
          int.class, String.class);
      prepare.setAccessible(true);
      runs[i] = (Runnable) prepare.invoke(null, args[0], Integer.parseInt(args[1]), args[2]);
      if (property != null) {
        System.clearProperty(property[0]);
      }
    }
    int turns = Integer.getInteger("probe.turns", 25);
    int per = Integer.getInteger("probe.per", 3);
    long[][] times = new long[2][turns * per];
    for (int t = -2; t < turns; t++) {
      for (int i = 0; i < 2; i++) {
        for (int k = 0; k < per; k++) {
          long t0 = System.nanoTime();
          runs[i].run();
          if (t >= 0) {
            times[i][t * per + k] = System.nanoTime() - t0;
          }
        }
      }
    }
    for (int i = 0; i < 2; i++) {
      long[] s = times[i];
      Arrays.sort(s);
      System.out.printf("%-40s median %.3f ms, quartile %.3f, best %.3f%n", sides[i], s[s.length / 2] / 1e6,
          s[s.length / 4] / 1e6, s[0] / 1e6);
    }
  }

  private static Path dir(String side) {
    return Path.of(side.contains(":") ? side.substring(0, side.indexOf(':')) : side);
  }

  /** The jars of a build's {@code src/target/lib}: nnc's modules ({@code nnc}) or the rest. */
  private static List<Path> jars(Path dir, boolean nnc) throws IOException {
    Path lib = dir.resolve("src/target/lib");
    if (!Files.isDirectory(lib)) {
      throw new IOException(dir + " has no build (" + lib + " is missing): build it with ./run-tests -q -DskipTests");
    }
    try (Stream<Path> s = Files.list(lib)) {
      return new ArrayList<>(s.filter(p -> p.getFileName().toString().startsWith("nnc-") == nnc).sorted().toList());
    }
  }

  private static URL[] urls(List<Path> paths) throws IOException {
    URL[] u = new URL[paths.size()];
    for (int i = 0; i < u.length; i++) {
      u[i] = paths.get(i).toUri().toURL();
    }
    return u;
  }

  /** One build's classes, with {@link BuildsAbTurn} defined in it (an older build may not have it). */
  private static final class Build extends URLClassLoader {
    private final byte[] turn;

    Build(URL[] urls, ClassLoader parent, byte[] turn) {
      super(urls, parent);
      this.turn = turn;
    }

    @Override
    protected Class<?> findClass(String name) throws ClassNotFoundException {
      if (name.equals("dev.nnc.cli.BuildsAbTurn")) {
        return defineClass(name, turn, 0, turn.length);
      }
      return super.findClass(name);
    }
  }
}

/** A model compiled by the build this class is defined in, ready to run one program per call. */
final class BuildsAbTurn {
  private BuildsAbTurn() {}

  public static Runnable prepare(String file, int batch, String program) throws Exception {
    Session s = Session.open(Path.of(file), null);
    dev.nnc.frontend.Recipe recipe = s.recipe == null ? null : s.recipe(1, batch);
    ModelCompiler.Result res = s.compile(recipe, batch, System.err);
    dev.nnc.runtime.NativeModel m = Session.load(res, 2);
    m.initParams(5);
    String p = program.equals("train") ? ModelCompiler.TRAIN : ModelCompiler.PREDICT;
    java.util.Map<String, float[]> inputs = BenchCommand.inputs(res.manifest(), Session.primaryOutput(res.forward()), 5);
    BenchCommand.feed(m, res.manifest(), p, inputs);
    return () -> m.run(p);
  }
}
