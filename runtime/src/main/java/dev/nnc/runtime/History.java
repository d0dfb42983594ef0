package dev.nnc.runtime;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Per-epoch training history, saved as CSV and as a PNG of the training curves. Only
 * {@link #writePlot} needs XChart and AWT ({@link Plot}): training without plots (the embedding
 * runtime, the GPU check's minimal Java runtime) loads neither.
 */
public final class History {
  /** One epoch; NaN where a value was not measured (no validation set). */
  public record Epoch(int epoch, double loss, double accuracy, double valLoss, double valAccuracy, double lr,
      double seconds) {
    /** A monitored metric by its recipe name: {@code loss}, {@code accuracy}, {@code val_loss}, {@code val_accuracy}. */
    public double metric(String name) {
      return switch (name) {
        case "loss" -> loss;
        case "accuracy" -> accuracy;
        case "val_accuracy" -> valAccuracy;
        case "val_loss" -> valLoss;
        default -> throw new IllegalArgumentException("no metric named " + name);
      };
    }

    /** Whether a smaller value of the metric is better (the losses). */
    public static boolean lowerIsBetter(String name) {
      return name.endsWith("loss");
    }
  }

  private final List<Epoch> epochs = new ArrayList<>();

  public void add(Epoch e) {
    epochs.add(e);
  }

  public List<Epoch> epochs() {
    return List.copyOf(epochs);
  }

  public String csv() {
    StringBuilder sb = new StringBuilder("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n");
    for (Epoch e : epochs) {
      sb.append(e.epoch()).append(',').append(fmt(e.loss())).append(',').append(fmt(e.accuracy())).append(',')
          .append(fmt(e.valLoss())).append(',').append(fmt(e.valAccuracy())).append(',').append(fmt(e.lr()))
          .append(',').append(String.format("%.3f", e.seconds())).append('\n');
    }
    return sb.toString();
  }

  private static String fmt(double v) {
    return Double.isNaN(v) ? "" : String.format("%.6g", v);
  }

  public void writeCsv(Path file) throws IOException {
    AtomicFiles.write(file, csv().getBytes(StandardCharsets.UTF_8));
  }

  /** Loss and accuracy curves (training and validation) side by side. */
  public void writePlot(Path file, String title) throws IOException {
    Plot.write(epochs, file, title);
  }

  /** The plot, apart so that {@link History} loads without XChart. */
  private static final class Plot {
    private Plot() {}

    static void write(List<Epoch> epochs, Path file, String title) throws IOException {
      System.setProperty("java.awt.headless", "true");
      double[] x = epochs.stream().mapToDouble(Epoch::epoch).toArray();
      XYChart loss = chart(title + ": loss", "loss");
      add(loss, "loss", x, epochs.stream().mapToDouble(Epoch::loss).toArray());
      add(loss, "val_loss", x, epochs.stream().mapToDouble(Epoch::valLoss).toArray());
      XYChart acc = chart(title + ": accuracy", "accuracy");
      add(acc, "accuracy", x, epochs.stream().mapToDouble(Epoch::accuracy).toArray());
      add(acc, "val_accuracy", x, epochs.stream().mapToDouble(Epoch::valAccuracy).toArray());
      java.awt.image.BufferedImage a = BitmapEncoder.getBufferedImage(loss);
      java.awt.image.BufferedImage b = BitmapEncoder.getBufferedImage(acc);
      java.awt.image.BufferedImage both = new java.awt.image.BufferedImage(a.getWidth() + b.getWidth(),
          Math.max(a.getHeight(), b.getHeight()), java.awt.image.BufferedImage.TYPE_INT_RGB);
      java.awt.Graphics2D g = both.createGraphics();
      g.drawImage(a, 0, 0, null);
      g.drawImage(b, a.getWidth(), 0, null);
      g.dispose();
      AtomicFiles.write(file, tmp -> javax.imageio.ImageIO.write(both, "png", tmp.toFile()));
    }

    private static XYChart chart(String title, String y) {
      XYChart c = new XYChartBuilder().width(640).height(420).title(title).xAxisTitle("epoch").yAxisTitle(y).build();
      c.getStyler().setMarkerSize(5);
      return c;
    }

    private static void add(XYChart c, String name, double[] x, double[] y) {
      List<Double> xs = new ArrayList<>();
      List<Double> ys = new ArrayList<>();
      for (int i = 0; i < y.length; i++) {
        if (!Double.isNaN(y[i])) {
          xs.add(x[i]);
          ys.add(y[i]);
        }
      }
      if (!xs.isEmpty()) {
        c.addSeries(name, xs, ys).setMarker(SeriesMarkers.CIRCLE);
      }
    }
  }
}
