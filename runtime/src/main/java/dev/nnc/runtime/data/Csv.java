package dev.nnc.runtime.data;

import dev.nnc.runtime.DataException;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * CSV tables with a header row: the feature columns become one field, and either a label column
 * (integer classes, field {@code label}) or target columns (floats, field {@code target}).
 */
public final class Csv {
  private Csv() {}

  public static Dataset load(Path file, String featureField, List<String> features, String label, List<String> targets)
      throws IOException {
    return load(file, featureField, features, label, targets, 0);
  }

  /**
   * As above; with {@code classes} > 0, every label must be a class of the model, in
   * {@code [0, classes)}, or the row is an error naming the file and line.
   */
  public static Dataset load(Path file, String featureField, List<String> features, String label, List<String> targets,
      int classes) throws IOException {
    return load(file, featureField, features, label, targets, classes, 0);
  }

  /**
   * As above; with {@code ids} > 0 the feature columns are token ids (the model's input is
   * {@code int[…]} and indexes an embedding of {@code ids} rows): every value must be a whole number
   * in {@code [0, ids)}, or the row is an error naming the file, the line and the column.
   */
  public static Dataset load(Path file, String featureField, List<String> features, String label, List<String> targets,
      int classes, int ids) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new DataException(file + ": no such file");
    }
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String head = r.readLine();
      if (head == null) {
        throw new DataException(file + ": empty file (expected a header row)");
      }
      List<String> cols = Arrays.stream(head.split(",", -1)).map(String::strip).toList();
      int[] fi = indexes(file, cols, features);
      int li = label == null ? -1 : indexes(file, cols, List.of(label))[0];
      int[] ti = indexes(file, cols, targets);
      List<float[]> rows = new ArrayList<>();
      String line;
      int lineNo = 1;
      while ((line = r.readLine()) != null) {
        lineNo++;
        if (line.isBlank()) {
          continue;
        }
        String[] cells = line.split(",", -1);
        if (cells.length != cols.size()) {
          throw new DataException(file + ":" + lineNo + ": " + cells.length + " values, the header has " + cols.size());
        }
        float[] row = new float[cells.length];
        for (int c = 0; c < cells.length; c++) {
          try {
            row[c] = Float.parseFloat(cells[c].strip());
          } catch (NumberFormatException e) {
            throw new DataException(file + ":" + lineNo + ": column " + cols.get(c) + " is not a number: '"
                + cells[c].strip() + "'");
          }
        }
        if (ids > 0) {
          for (int c : fi) {
            if (row[c] != Math.rint(row[c]) || row[c] < 0 || row[c] >= ids) {
              throw new DataException(file + ":" + lineNo + ": column " + cols.get(c) + " = " + cells[c].strip()
                  + " is not a token id in [0, " + ids + ") (the model's embedding has " + ids + " rows)");
            }
          }
        }
        if (li >= 0 && (row[li] != Math.rint(row[li]) || row[li] < 0)) {
          throw new DataException(file + ":" + lineNo + ": label " + cells[li].strip()
              + " is not a class number (0, 1, 2, ...)");
        }
        if (li >= 0 && classes > 0 && row[li] >= classes) {
          throw new DataException(file + ":" + lineNo + ": label " + cells[li].strip() + " is not one of the model's "
              + classes + " classes (0 to " + (classes - 1) + ")");
        }
        rows.add(row);
      }
      if (rows.isEmpty()) {
        throw new DataException(file + ": no data rows (only the header)");
      }
      int n = rows.size();
      Map<String, float[]> f = new LinkedHashMap<>();
      Map<String, int[]> s = new LinkedHashMap<>();
      Map<String, Boolean> integer = new LinkedHashMap<>();
      f.put(featureField, pick(rows, fi));
      s.put(featureField, new int[] {fi.length});
      if (ids > 0) {
        integer.put(featureField, true);
      }
      if (li >= 0) {
        f.put("label", pick(rows, new int[] {li}));
        s.put("label", new int[0]);
        integer.put("label", true);
      }
      if (ti.length > 0) {
        f.put("target", pick(rows, ti));
        s.put("target", new int[] {ti.length});
      }
      return new Dataset(n, f, s, integer);
    }
  }

  private static int[] indexes(Path file, List<String> cols, List<String> names) throws DataException {
    int[] out = new int[names.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = cols.indexOf(names.get(i));
      if (out[i] < 0) {
        throw new DataException(file + ": no column '" + names.get(i) + "' (the header has " + cols + ")");
      }
    }
    return out;
  }

  private static float[] pick(List<float[]> rows, int[] cols) {
    float[] out = new float[rows.size() * cols.length];
    for (int r = 0; r < rows.size(); r++) {
      for (int c = 0; c < cols.length; c++) {
        out[r * cols.length + c] = rows.get(r)[cols[c]];
      }
    }
    return out;
  }
}
