package dev.nnc.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nnc.runtime.AtomicFiles;
import dev.nnc.runtime.Manifest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The files {@code nnc train} leaves in its output folder as one set. Each is written whole
 * (temporary file, then rename); {@code run.json}, written last, names each by its SHA-256. A
 * kill while the set is written leaves the previous {@code run.json}, and readers of the folder
 * ({@code eval}, {@code predict}) refuse a weights file it does not vouch for.
 */
final class RunFiles {
  static final String WEIGHTS = "weights.safetensors";
  static final String HISTORY = "history.csv";
  static final String CURVES = "curves.png";
  static final String RUN = "run.json";

  private static final ObjectMapper JSON = new ObjectMapper();

  private RunFiles() {}

  /** Writes {@code run.json} for the set now in {@code dir}. */
  static void seal(Path dir, String model) throws IOException {
    ObjectNode run = JSON.createObjectNode();
    run.put("model", model);
    ObjectNode files = run.putObject("files");
    for (String f : List.of(WEIGHTS, HISTORY, CURVES)) {
      files.put(f, Manifest.sha256(dir.resolve(f)));
    }
    AtomicFiles.write(dir.resolve(RUN), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(run));
  }

  /**
   * Refuses {@code weights} when it is a run folder's weights file that the folder's
   * {@code run.json} does not name (files of two runs); any other file passes.
   */
  static void verify(Path weights) throws IOException {
    Path dir = weights.toAbsolutePath().getParent();
    if (dir == null || !weights.getFileName().toString().equals(WEIGHTS) || !Files.isRegularFile(dir.resolve(RUN))) {
      return;
    }
    JsonNode run;
    try {
      run = JSON.readTree(dir.resolve(RUN).toFile());
    } catch (IOException e) {
      throw new UserError(dir.resolve(RUN) + ": damaged (" + e.getMessage() + "); train again");
    }
    String want = run.path("files").path(WEIGHTS).asText();
    if (!want.equals(Manifest.sha256(weights))) {
      throw new UserError(weights + " is not the weights file that " + dir.resolve(RUN) + " names: the run that "
          + "wrote this folder was interrupted while writing its results, so its files come from two runs; train "
          + "again, or resume it (nnc train FILE --resume " + dir + ")");
    }
  }
}
