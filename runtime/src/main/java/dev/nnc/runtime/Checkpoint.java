package dev.nnc.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A training checkpoint: the whole arena's persistent tensors (weights, frozen weights and every
 * optimizer state, step counters and learning rate included) as one safetensors file, with the
 * training progress in its metadata (epochs done, history, early stopping's state, the best
 * monitored value). One file, written whole (temporary file, then rename), so a kill at any
 * moment leaves the previous checkpoint or the new one, never a mix.
 *
 * <p>The shuffling generator's state is the seed and the number of epochs done ({@link
 * Trainer#fit} replays the orders of the epochs already trained), and the learning rate is the
 * schedule's at the epoch reached: with reproducible training, a run resumed from a checkpoint
 * ends with the same bytes as one that never stopped.
 */
public final class Checkpoint {
  /** Folder of a run's checkpoints, inside the run's output folder. */
  public static final String DIR = "checkpoints";
  /** After every epoch. */
  public static final String LAST = "last.safetensors";
  /** After every epoch that improved the monitored metric (Keras' ModelCheckpoint with save_best_only). */
  public static final String BEST = "best.safetensors";

  static final String FORMAT = "nnc-checkpoint-1";
  private static final ObjectMapper JSON = new ObjectMapper();

  private Checkpoint() {}

  /** What a checkpoint says about the run, besides the tensors. */
  public record Saved(Trainer.Progress progress, String monitor, double monitorBest) {}

  /**
   * Writes {@code m}'s persistent tensors and the progress. {@code fingerprint} identifies the
   * model and recipe; {@link #restore} refuses a checkpoint whose fingerprint differs.
   */
  public static void save(Path file, NativeModel m, Saved s, String fingerprint) throws IOException {
    Map<String, SafeTensors.Entry> tensors = new LinkedHashMap<>();
    for (Manifest.ParamSlot p : m.manifest().params()) {
      if (!p.derived()) {
        tensors.put(p.name(), new SafeTensors.Entry(p.shape(), m.param(p.name())));
      }
    }
    ObjectNode progress = JSON.createObjectNode();
    Trainer.Progress p = s.progress();
    progress.put("epochs", p.epochs());
    progress.put("best", String.valueOf(p.best()));
    progress.put("since_best", p.sinceBest());
    progress.put("stopped", p.stopped());
    progress.put("monitor", s.monitor());
    progress.put("monitor_best", String.valueOf(s.monitorBest()));
    var hist = progress.putArray("history");
    for (History.Epoch e : p.history().epochs()) {
      hist.addArray().add(e.epoch()).add(String.valueOf(e.loss())).add(String.valueOf(e.accuracy()))
          .add(String.valueOf(e.valLoss())).add(String.valueOf(e.valAccuracy())).add(String.valueOf(e.lr()))
          .add(String.valueOf(e.seconds()));
    }
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("format", FORMAT);
    meta.put("model", m.manifest().model());
    meta.put("fingerprint", fingerprint);
    meta.put("progress", JSON.writeValueAsString(progress));
    SafeTensors.write(file, tensors, meta);
  }

  /**
   * Restores {@code file} into {@code m} and returns the progress it recorded. Refuses, with a
   * message naming the file, a checkpoint of another model, of another version of the model or
   * recipe (a different fingerprint), or one missing a tensor; nothing is written into the arena
   * until all of it has been checked.
   */
  public static Saved restore(Path file, NativeModel m, String fingerprint) throws IOException {
    Map<String, String> meta = SafeTensors.metadata(file);
    if (!FORMAT.equals(meta.get("format"))) {
      throw new DataException(file + ": not an nnc checkpoint");
    }
    String model = m.manifest().model();
    if (!model.equals(meta.get("model"))) {
      throw new DataException(file + ": is a checkpoint of model " + meta.get("model") + ", not of " + model
          + "; resume the run it belongs to, or start a new one (without --resume)");
    }
    if (!fingerprint.equals(meta.get("fingerprint"))) {
      throw new DataException(file + ": was saved with another version of model " + model + " or of its recipe "
          + "(layers, optimizer, schedule, batch, seed, loss, regularisation or data changed since); restore the "
          + "file it was trained with, or start a new run (without --resume)");
    }
    Map<String, SafeTensors.Entry> tensors = SafeTensors.read(file);
    for (Manifest.ParamSlot p : m.manifest().params()) {
      if (p.derived()) {
        continue;
      }
      SafeTensors.Entry e = tensors.get(p.name());
      if (e == null || !java.util.Arrays.equals(e.shape(), p.shape())) {
        throw new DataException(file + ": tensor '" + p.name() + "' is " + (e == null ? "missing" : "of shape "
            + java.util.Arrays.toString(e.shape())) + "; the checkpoint is damaged or of another model");
      }
    }
    JsonNode pr;
    try {
      pr = JSON.readTree(meta.getOrDefault("progress", ""));
    } catch (IOException e) {
      throw new DataException(file + ": damaged checkpoint (its progress is not JSON)");
    }
    if (pr == null || !pr.has("epochs") || !pr.has("history")) {
      throw new DataException(file + ": damaged checkpoint (no progress recorded)");
    }
    History h = new History();
    for (JsonNode e : pr.get("history")) {
      h.add(new History.Epoch(e.get(0).asInt(), d(e.get(1)), d(e.get(2)), d(e.get(3)), d(e.get(4)), d(e.get(5)),
          d(e.get(6))));
    }
    for (Manifest.ParamSlot p : m.manifest().params()) {
      if (!p.derived()) {
        m.setParam(p.name(), tensors.get(p.name()).data());
      }
    }
    Trainer.Progress progress = new Trainer.Progress(pr.get("epochs").asInt(), h, d(pr.get("best")),
        pr.get("since_best").asInt(), pr.get("stopped").asBoolean());
    return new Saved(progress, pr.path("monitor").asText(), d(pr.get("monitor_best")));
  }

  private static double d(JsonNode n) {
    return n == null ? Double.NaN : Double.parseDouble(n.asText());
  }

  /** A stable identity of a model and its recipe: SHA-256 of {@code parts}, in order. */
  public static String fingerprint(Iterable<String> parts) {
    try {
      java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
      for (String s : parts) {
        md.update(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        md.update((byte) 0);
      }
      return java.util.HexFormat.of().formatHex(md.digest());
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
