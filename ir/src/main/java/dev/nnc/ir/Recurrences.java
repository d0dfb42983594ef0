package dev.nnc.ir;

import dev.nnc.ir.ops.Recurrence;
import dev.nnc.ir.ops.RecurrenceGrad;

/**
 * The reference semantics of {@link Recurrence} and {@link RecurrenceGrad}, in double precision:
 * the cells' formulas step by step, as the interpreter runs them and the kernels must match.
 */
final class Recurrences {
  private Recurrences() {}

  private static double sigmoid(double x) {
    return 1 / (1 + Math.exp(-x));
  }

  /** Whether step {@code t} of sequence {@code b} is within its length. */
  private static boolean valid(Tensor len, int b, int t) {
    return len == null || t < len.data()[b];
  }

  static Tensor forward(Recurrence r, Tensor xw, Tensor whh, Tensor bhh, Tensor h0, Tensor c0, Tensor len, Shape out) {
    int batch = xw.shape().dim(0);
    int steps = xw.shape().dim(1);
    int hid = r.hidden();
    int gh = r.cell().gates * hid;
    int width = r.cell().slots * hid;
    double[] y = new double[Math.toIntExact(out.size())];
    double[] h = h0.data().clone();
    double[] c = c0 == null ? null : c0.data().clone();
    int init = r.initialRow(steps);
    for (int b = 0; b < batch; b++) {
      int at = (b * (steps + 1) + init) * width;
      System.arraycopy(h, b * hid, y, at, hid);
      if (c != null) {
        System.arraycopy(c, b * hid, y, at + 2 * hid, hid);
      }
    }
    double[] g = new double[gh];
    for (int s = 0; s < steps; s++) {
      int t = r.reverse() ? steps - 1 - s : s;
      for (int b = 0; b < batch; b++) {
        int at = (b * (steps + 1) + r.row(t)) * width;
        if (!valid(len, b, t)) {
          // The state carries on unchanged; the output and the gates are 0.
          System.arraycopy(h, b * hid, y, at, hid);
          if (c != null) {
            System.arraycopy(c, b * hid, y, at + 2 * hid, hid);
          }
          continue;
        }
        for (int k = 0; k < gh; k++) {
          double acc = bhh.data()[k];
          for (int j = 0; j < hid; j++) {
            acc += whh.data()[k * hid + j] * h[b * hid + j];
          }
          g[k] = acc;
        }
        int x = (b * steps + t) * gh;
        double[] xs = xw.data();
        for (int j = 0; j < hid; j++) {
          double hn = switch (r.cell()) {
            case TANH -> Math.tanh(xs[x + j] + g[j]);
            case LSTM -> {
              double i = sigmoid(xs[x + j] + g[j]);
              double f = sigmoid(xs[x + hid + j] + g[hid + j]);
              double gg = Math.tanh(xs[x + 2 * hid + j] + g[2 * hid + j]);
              double o = sigmoid(xs[x + 3 * hid + j] + g[3 * hid + j]);
              double cn = f * c[b * hid + j] + i * gg;
              c[b * hid + j] = cn;
              y[at + 2 * hid + j] = cn;
              y[at + 3 * hid + j] = i;
              y[at + 4 * hid + j] = f;
              y[at + 5 * hid + j] = gg;
              y[at + 6 * hid + j] = o;
              yield o * Math.tanh(cn);
            }
            case GRU -> {
              double rr = sigmoid(xs[x + j] + g[j]);
              double z = sigmoid(xs[x + hid + j] + g[hid + j]);
              double ghn = g[2 * hid + j];
              double n = Math.tanh(xs[x + 2 * hid + j] + rr * ghn);
              y[at + 2 * hid + j] = rr;
              y[at + 3 * hid + j] = z;
              y[at + 4 * hid + j] = n;
              y[at + 5 * hid + j] = ghn;
              yield (1 - z) * n + z * h[b * hid + j];
            }
          };
          y[at + j] = hn;
          y[at + hid + j] = hn;
        }
        // The new state, only now: every unit's gates read the whole previous state.
        System.arraycopy(y, at, h, b * hid, hid);
      }
    }
    return new Tensor(out, y);
  }

  static Tensor backward(RecurrenceGrad r, Tensor trace, Tensor whh, Tensor dstate, Tensor len, Shape out) {
    int batch = trace.shape().dim(0);
    int steps = trace.shape().dim(1) - 1;
    int hid = r.hidden();
    int gh = r.cell().gates * hid;
    int width = r.cell().slots * hid;
    int gw = r.cell().gradSlots * hid;
    Recurrence fwd = r.forward();
    double[] tr = trace.data();
    // The state slots' gradient: h, y (and c), a row of sw values per step.
    double[] dt = dstate.data();
    int sw = r.cell().stateSlots * hid;
    double[] w = whh.data();
    double[] o = new double[Math.toIntExact(out.size())];
    double[] dh = new double[batch * hid];
    double[] dc = new double[batch * hid];
    double[] dpre = new double[gh];
    for (int s = 0; s < steps; s++) {
      int t = r.reverse() ? s : steps - 1 - s;
      for (int b = 0; b < batch; b++) {
        int at = (b * (steps + 1) + fwd.row(t)) * width;
        int prev = (b * (steps + 1) + fwd.previousRow(t)) * width;
        int go = (b * (steps + 1) + fwd.row(t)) * gw;
        int ds = (b * (steps + 1) + fwd.row(t)) * sw;
        boolean ok = valid(len, b, t);
        if (!ok) {
          // h and c were carried: their gradients pass to the previous state.
          for (int j = 0; j < hid; j++) {
            dh[b * hid + j] += dt[ds + j];
            if (r.cell() == Recurrence.Cell.LSTM) {
              dc[b * hid + j] += dt[ds + 2 * hid + j];
            }
          }
          continue;
        }
        double[] direct = new double[hid];
        for (int j = 0; j < hid; j++) {
          double dht = dh[b * hid + j] + dt[ds + j] + dt[ds + hid + j];
          double hn = tr[at + j];
          switch (r.cell()) {
            case TANH -> dpre[j] = dht * (1 - hn * hn);
            case LSTM -> {
              double c = tr[at + 2 * hid + j];
              double i = tr[at + 3 * hid + j];
              double f = tr[at + 4 * hid + j];
              double g = tr[at + 5 * hid + j];
              double oo = tr[at + 6 * hid + j];
              double tc = Math.tanh(c);
              double dO = dht * tc;
              double dct = dc[b * hid + j] + dt[ds + 2 * hid + j] + dht * oo * (1 - tc * tc);
              double di = dct * g;
              double dg = dct * i;
              double df = dct * tr[prev + 2 * hid + j];
              dc[b * hid + j] = dct * f;
              dpre[j] = di * i * (1 - i);
              dpre[hid + j] = df * f * (1 - f);
              dpre[2 * hid + j] = dg * (1 - g * g);
              dpre[3 * hid + j] = dO * oo * (1 - oo);
            }
            case GRU -> {
              double rr = tr[at + 2 * hid + j];
              double z = tr[at + 3 * hid + j];
              double n = tr[at + 4 * hid + j];
              double ghn = tr[at + 5 * hid + j];
              double hp = tr[prev + j];
              double dn = dht * (1 - z);
              double dz = dht * (hp - n);
              double dpn = dn * (1 - n * n);
              double dr = dpn * ghn;
              double dghn = dpn * rr;
              dpre[j] = dr * rr * (1 - rr);
              dpre[hid + j] = dz * z * (1 - z);
              dpre[2 * hid + j] = dghn;
              // dxw's n gate is the pre-activation's gradient itself.
              o[go + 2 * hid + j] = dpn;
              direct[j] = dht * z;
            }
          }
        }
        for (int k = 0; k < gh; k++) {
          if (r.cell() != Recurrence.Cell.GRU || k < 2 * hid) {
            o[go + k] = dpre[k];
          }
          if (r.cell() == Recurrence.Cell.GRU) {
            o[go + gh + k] = dpre[k];
          }
        }
        for (int j = 0; j < hid; j++) {
          double acc = direct[j];
          for (int k = 0; k < gh; k++) {
            acc += dpre[k] * w[k * hid + j];
          }
          dh[b * hid + j] = acc;
        }
      }
    }
    int init = fwd.initialRow(steps);
    for (int b = 0; b < batch; b++) {
      int ds = (b * (steps + 1) + init) * sw;
      int go = (b * (steps + 1) + init) * gw;
      for (int j = 0; j < hid; j++) {
        o[go + j] = dh[b * hid + j] + dt[ds + j];
        if (r.cell() == Recurrence.Cell.LSTM) {
          o[go + hid + j] = dc[b * hid + j] + dt[ds + 2 * hid + j];
        }
      }
    }
    return new Tensor(out, o);
  }
}
