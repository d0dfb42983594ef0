package dev.nnc.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Options shared by the commands that read a model file. */
final class Options {
  @Parameters(index = "0", paramLabel = "FILE", description = "the .nn file")
  Path file;

  @Option(names = "--model", paramLabel = "NAME", description = "the model to use when the file defines several")
  String model;

  /** Options of commands that run the model. */
  static final class Run {
    @Option(names = "--data", paramLabel = "PATH",
        description = "data location: a folder of Fashion-MNIST IDX files, or a CSV file (default: the recipe's; "
            + "for fashion_mnist the installed Debian package, else the embedded subset)")
    Path data;

    @Option(names = "--threads", converter = Positive.class, paramLabel = "N", description = "threads for the kernels (default: all cores)")
    Integer threads;

    int threads() {
      return threads != null ? threads : Runtime.getRuntime().availableProcessors();
    }
  }
}
