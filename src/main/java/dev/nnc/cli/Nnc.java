package dev.nnc.cli;

import dev.nnc.frontend.CompileException;
import java.io.IOException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code nnc} command line. */
@Command(name = "nnc", mixinStandardHelpOptions = true, version = "nnc 0.1.0",
    description = "A compiler for neural networks: .nn models to native code that trains and infers.",
    subcommands = {CheckCommand.class, SummaryCommand.class, TrainCommand.class, EvalCommand.class,
        PredictCommand.class, GenerateCommand.class, NeighborsCommand.class, CompileCommand.class, EmitCommand.class, BenchCommand.class,
        CommandLine.HelpCommand.class})
public final class Nnc implements Runnable {
  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "name a command: check, summary, train, eval, "
        + "predict, compile, emit or bench (nnc --help lists them)");
  }

  public static void main(String[] args) {
    System.exit(execute(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
  }

  /** A file-system failure as a person reads it: the path and why ("error: PATH" alone says nothing). */
  static String describe(java.nio.file.FileSystemException e) {
    String why = switch (e) {
      case java.nio.file.AccessDeniedException a -> "permission denied";
      case java.nio.file.NoSuchFileException n -> "no such file or folder";
      case java.nio.file.NotDirectoryException n -> "not a folder";
      case java.nio.file.FileAlreadyExistsException f -> "already exists";
      case java.nio.file.DirectoryNotEmptyException d -> "folder not empty";
      default -> e.getReason() != null ? e.getReason() : "cannot be accessed";
    };
    String file = e.getFile() != null ? e.getFile() : "(unknown file)";
    return file + (e.getOtherFile() != null ? " -> " + e.getOtherFile() : "") + ": " + why;
  }

  /** Runs the CLI; returns the exit status (0 ok, 1 bad input, 2 usage, 3 internal error). */
  public static int execute(String[] args, PrintWriter out, PrintWriter err) {
    CommandLine cl = new CommandLine(new Nnc());
    cl.setOut(out);
    cl.setErr(err);
    cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
      Throwable e = ex;
      if (e instanceof CompileException ce) {
        err.print(ce.render());
        err.flush();
        return 1;
      }
      if (e instanceof UserError || e instanceof dev.nnc.runtime.DataException
          || e instanceof dev.nnc.runtime.ModelTooLargeException || e instanceof dev.nnc.runtime.cuda.CudaDriver.Failure) {
        err.println("error: " + e.getMessage());
        return 1;
      }
      if (e instanceof java.nio.file.FileSystemException fse) {
        err.println("error: " + describe(fse));
        return 1;
      }
      if (e instanceof IOException io) {
        err.println("error: " + io.getMessage());
        return 1;
      }
      err.println("internal error: " + e + (System.getenv("NNC_DEBUG") == null
          ? "\n(set NNC_DEBUG=1 for the stack trace; please report this)" : ""));
      if (System.getenv("NNC_DEBUG") != null) {
        e.printStackTrace(err);
      }
      return 3;
    });
    int code = cl.execute(args);
    out.flush();
    err.flush();
    return code;
  }
}
