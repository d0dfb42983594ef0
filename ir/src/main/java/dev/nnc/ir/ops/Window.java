package dev.nnc.ir.ops;

import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import java.util.Map;

/**
 * A sliding window over the last two dimensions of an {@code [N, C, H, W]} tensor, as
 * convolutions and pooling use it: kernel {@code kh×kw}, stride, padding on each side (top, left,
 * bottom, right; asymmetric for {@code same} with an even kernel) and dilation. Output size as in
 * PyTorch: {@code ⌊(H + top + bottom − dh·(kh−1) − 1) / sh⌋ + 1}.
 */
public record Window(int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh, int dw) {
  public Window {
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1 || pt < 0 || pl < 0 || pb < 0 || pr < 0) {
      throw new ShapeException("window needs kernel, stride and dilation ≥ 1 and padding ≥ 0, got " + text());
    }
  }

  /** Square kernel, symmetric padding, no dilation. */
  public static Window of(int k, int stride, int pad) {
    return new Window(k, k, stride, stride, pad, pad, pad, pad, 1, 1);
  }

  public int outH(int h) {
    return Math.floorDiv(h + pt + pb - dh * (kh - 1) - 1, sh) + 1;
  }

  public int outW(int w) {
    return Math.floorDiv(w + pl + pr - dw * (kw - 1) - 1, sw) + 1;
  }

  /** Whether a window can reach outside the input (so its reads need guards). */
  /** The same window without padding. */
  public Window unpadded() {
    return new Window(kh, kw, sh, sw, 0, 0, 0, 0, dh, dw);
  }

  public boolean padded() {
    return pt > 0 || pl > 0 || pb > 0 || pr > 0;
  }

  /** Checks {@code x} is {@code [N, C, H, W]} and the window leaves a non-empty map; returns {@code [OH, OW]}. */
  public int[] out(Shape x, String what) {
    if (x.rank() != 4) {
      throw new ShapeException(what + " expects an [N, C, H, W] tensor, got " + x);
    }
    int oh = outH(x.dim(2));
    int ow = outW(x.dim(3));
    if (oh < 1 || ow < 1) {
      throw new ShapeException(what + ": a " + (dh * (kh - 1) + 1) + "×" + (dw * (kw - 1) + 1) + " window on a "
          + x.dim(2) + "×" + x.dim(3) + " map (padding " + pt + "," + pl + "," + pb + "," + pr
          + ") leaves an empty output");
    }
    return new int[] {oh, ow};
  }

  /** IR text: {@code kernel=[3,3], stride=[1,1], pad=[1,1,1,1], dilation=[1,1]}. */
  public String text() {
    return "kernel=[" + kh + "," + kw + "], stride=[" + sh + "," + sw + "], pad=[" + pt + "," + pl + "," + pb + ","
        + pr + "], dilation=[" + dh + "," + dw + "]";
  }

  /** The inverse of {@link #text}. */
  public static Window parse(Map<String, String> a) {
    int[] k = dims(a, "kernel", 2);
    int[] s = dims(a, "stride", 2);
    int[] p = dims(a, "pad", 4);
    int[] d = dims(a, "dilation", 2);
    return new Window(k[0], k[1], s[0], s[1], p[0], p[1], p[2], p[3], d[0], d[1]);
  }

  private static int[] dims(Map<String, String> a, String key, int n) {
    String v = a.get(key);
    if (v == null) {
      throw new IllegalArgumentException("window needs attribute '" + key + "'");
    }
    String body = v.strip();
    if (!body.startsWith("[") || !body.endsWith("]")) {
      throw new IllegalArgumentException(key + " must be a list like [1,1], got " + v);
    }
    String[] parts = body.substring(1, body.length() - 1).split(",");
    if (parts.length != n) {
      throw new IllegalArgumentException(key + " needs " + n + " values, got " + v);
    }
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = Integer.parseInt(parts[i].strip());
    }
    return out;
  }
}
