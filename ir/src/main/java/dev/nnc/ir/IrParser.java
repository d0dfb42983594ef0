package dev.nnc.ir;

import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Broadcast;
import dev.nnc.ir.ops.Concat;
import dev.nnc.ir.ops.Constant;
import dev.nnc.ir.ops.Slice;
import dev.nnc.ir.ops.Conv2d;
import dev.nnc.ir.ops.Patches;
import dev.nnc.ir.ops.PatchesGrad;
import dev.nnc.ir.ops.Permute;
import dev.nnc.ir.ops.Window;
import dev.nnc.ir.ops.DropoutMask;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.LogSoftmax;
import dev.nnc.ir.ops.MatMul;
import dev.nnc.ir.ops.OneHot;
import dev.nnc.ir.ops.Op;
import dev.nnc.ir.ops.Param;
import dev.nnc.ir.ops.Reduce;
import dev.nnc.ir.ops.ReduceFn;
import dev.nnc.ir.ops.Reshape;
import dev.nnc.ir.ops.Softmax;
import dev.nnc.ir.ops.SumTo;
import dev.nnc.ir.ops.Unary;
import dev.nnc.ir.ops.UnaryFn;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses the text that {@link IrPrinter} writes. Errors name the line. */
public final class IrParser {
  private static final Pattern HEADER = Pattern.compile("graph\\s+([\\w.-]+)\\s*\\{");
  private static final Pattern NODE = Pattern.compile(
      "%(\\d+)\\s*=\\s*([a-z_0-9]+)(?:\\[(.*)])?(?:\\(([^)]*)\\))?\\s*:\\s*(f32|i32)(\\[[0-9,\\s]*])");
  private static final Pattern OUTPUT = Pattern.compile("output\\s+\"([^\"]+)\"\\s*=\\s*%(\\d+)");
  private static final Pattern UPDATE = Pattern.compile("update\\s+%(\\d+)\\s*=\\s*%(\\d+)");

  private IrParser() {}

  /** Thrown for malformed IR text; the message starts with {@code line N:}. */
  public static final class ParseException extends RuntimeException {
    public ParseException(int line, String message) {
      super("line " + line + ": " + message);
    }
  }

  public static Graph parse(String text) {
    String[] lines = text.split("\n");
    Graph.Builder b = null;
    Map<Integer, Node> values = new HashMap<>();
    for (int i = 0; i < lines.length; i++) {
      int lineNo = i + 1;
      String line = lines[i].strip();
      if (line.isEmpty() || line.startsWith("//") || line.equals("}")) {
        continue;
      }
      Matcher m;
      if (b == null) {
        m = HEADER.matcher(line);
        if (!m.matches()) {
          throw new ParseException(lineNo, "expected 'graph NAME {', got: " + line);
        }
        b = Graph.builder(m.group(1));
        continue;
      }
      try {
        if ((m = NODE.matcher(line)).matches()) {
          int id = Integer.parseInt(m.group(1));
          Map<String, String> attrs = attributes(m.group(3) == null ? "" : m.group(3));
          List<Node> operands = new ArrayList<>();
          if (m.group(4) != null && !m.group(4).isBlank()) {
            for (String ref : m.group(4).split(",")) {
              operands.add(lookup(values, ref.strip(), lineNo));
            }
          }
          Op op = op(m.group(2), attrs);
          TensorType declared = new TensorType(Shape.parse(m.group(6)), DType.parse(m.group(5)));
          Node n = op.leaf()
              ? b.addTyped(op, operands, declared)
              : b.add(op, operands);
          if (!n.shape().equals(declared.shape()) || n.dtype() != declared.dtype()) {
            throw new ParseException(lineNo, "declared type " + declared + " but the shape rule gives "
                + n.dtype().text() + n.shape());
          }
          values.put(id, n);
        } else if ((m = OUTPUT.matcher(line)).matches()) {
          b.output(m.group(1), lookup(values, "%" + m.group(2), lineNo));
        } else if ((m = UPDATE.matcher(line)).matches()) {
          b.update(lookup(values, "%" + m.group(1), lineNo), lookup(values, "%" + m.group(2), lineNo));
        } else {
          throw new ParseException(lineNo, "cannot parse: " + line);
        }
      } catch (ShapeException | IllegalArgumentException e) {
        throw new ParseException(lineNo, e.getMessage());
      }
    }
    if (b == null) {
      throw new ParseException(1, "empty IR text");
    }
    return b.build();
  }

  private static Node lookup(Map<Integer, Node> values, String ref, int line) {
    if (!ref.startsWith("%")) {
      throw new ParseException(line, "expected a value like %3, got '" + ref + "'");
    }
    Node n = values.get(Integer.parseInt(ref.substring(1)));
    if (n == null) {
      throw new ParseException(line, ref + " is used before it is defined");
    }
    return n;
  }

  /** {@code a=1, b=[1,2], name="x, y"} → map; commas inside brackets and quotes do not split. */
  static Map<String, String> attributes(String text) {
    Map<String, String> out = new LinkedHashMap<>();
    int depth = 0;
    boolean quoted = false;
    int start = 0;
    List<String> parts = new ArrayList<>();
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '"') {
        quoted = !quoted;
      } else if (!quoted && (c == '[' || c == '(')) {
        depth++;
      } else if (!quoted && (c == ']' || c == ')')) {
        depth--;
      } else if (!quoted && depth == 0 && c == ',') {
        parts.add(text.substring(start, i));
        start = i + 1;
      }
    }
    parts.add(text.substring(start));
    for (String p : parts) {
      if (p.isBlank()) {
        continue;
      }
      int eq = p.indexOf('=');
      if (eq < 0) {
        throw new IllegalArgumentException("attribute without '=': " + p.strip());
      }
      String v = p.substring(eq + 1).strip();
      if (v.startsWith("\"") && v.endsWith("\"")) {
        v = v.substring(1, v.length() - 1);
      }
      out.put(p.substring(0, eq).strip(), v);
    }
    return out;
  }

  /** {@code [0,3,1,2]} → list. */
  private static List<Integer> ints(String text) {
    String t = text.strip();
    if (!t.startsWith("[") || !t.endsWith("]")) {
      throw new IllegalArgumentException("expected a list like [0,1], got " + text);
    }
    String body = t.substring(1, t.length() - 1).strip();
    return body.isEmpty() ? List.of() : Arrays.stream(body.split(",")).map(s -> Integer.parseInt(s.strip())).toList();
  }

  private static String need(Map<String, String> attrs, String key, String op) {
    String v = attrs.get(key);
    if (v == null) {
      throw new IllegalArgumentException(op + " needs attribute '" + key + "'");
    }
    return v;
  }

  /** The op that IR text writes as {@code mnemonic[attributes]}; the inverse of {@link Op#mnemonic} and {@link Op#attributes}. */
  public static Op op(String mnemonic, String attributes) {
    return op(mnemonic, attributes(attributes));
  }

  private static Op op(String mnemonic, Map<String, String> a) {
    switch (mnemonic) {
      case "input":
        return new Input(need(a, "name", mnemonic));
      case "param":
        return new Param(need(a, "name", mnemonic),
            Param.Role.valueOf(need(a, "role", mnemonic).toUpperCase(Locale.ROOT)),
            Init.parse(need(a, "init", mnemonic)));
      case "const":
        return new Constant(Double.parseDouble(need(a, "value", mnemonic)));
      case "matmul":
        return new MatMul(Boolean.parseBoolean(need(a, "transA", mnemonic)),
            Boolean.parseBoolean(need(a, "transB", mnemonic)));
      case "broadcast":
        return new Broadcast(Shape.parse(need(a, "shape", mnemonic)));
      case "sum_to":
        return new SumTo(Shape.parse(need(a, "shape", mnemonic)));
      case "reshape":
        return new Reshape(Shape.parse(need(a, "shape", mnemonic)));
      case "softmax":
        return new Softmax();
      case "conv2d":
        return new Conv2d(Window.parse(a), Integer.parseInt(need(a, "groups", mnemonic)));
      case "conv2d_grad_input":
        return new dev.nnc.ir.ops.Conv2dGradInput(Window.parse(a), Integer.parseInt(need(a, "h", mnemonic)),
            Integer.parseInt(need(a, "w", mnemonic)));
      case "conv2d_grad_weight":
        return new dev.nnc.ir.ops.Conv2dGradWeight(Window.parse(a));
      case "patches":
        return new Patches(Window.parse(a), Boolean.parseBoolean(need(a, "channelsLast", mnemonic)),
            Double.parseDouble(need(a, "fill", mnemonic)));
      case "patches_grad":
        return new PatchesGrad(Window.parse(a), Boolean.parseBoolean(need(a, "channelsLast", mnemonic)),
            Integer.parseInt(need(a, "h", mnemonic)), Integer.parseInt(need(a, "w", mnemonic)));
      case "concat":
        return new Concat(Integer.parseInt(need(a, "axis", mnemonic)));
      case "slice":
        return new Slice(Integer.parseInt(need(a, "axis", mnemonic)), Integer.parseInt(need(a, "start", mnemonic)),
            Integer.parseInt(need(a, "size", mnemonic)));
      case "permute":
        return new Permute(ints(need(a, "perm", mnemonic)));
      case "winograd_tiles", "winograd_untiles":
        return new dev.nnc.ir.ops.Winograd(mnemonic.equals("winograd_tiles"),
            dev.nnc.ir.ops.Winograd.Matrix.valueOf(need(a, "matrix", mnemonic)),
            Boolean.parseBoolean(need(a, "transposed", mnemonic)), Integer.parseInt(need(a, "stride", mnemonic)),
            Integer.parseInt(need(a, "pt", mnemonic)), Integer.parseInt(need(a, "pl", mnemonic)),
            Integer.parseInt(need(a, "th", mnemonic)), Integer.parseInt(need(a, "tw", mnemonic)),
            Integer.parseInt(need(a, "h", mnemonic)), Integer.parseInt(need(a, "w", mnemonic)));
      case "log_softmax":
        return new LogSoftmax();
      case "embedding":
        return new dev.nnc.ir.ops.Embedding(Integer.parseInt(need(a, "vocab", mnemonic)));
      case "embedding_grad":
        return new dev.nnc.ir.ops.EmbeddingGrad(Integer.parseInt(need(a, "vocab", mnemonic)));
      case "recurrence", "recurrence_grad": {
        dev.nnc.ir.ops.Recurrence r = new dev.nnc.ir.ops.Recurrence(
            dev.nnc.ir.ops.Recurrence.Cell.parse(need(a, "cell", mnemonic)), Integer.parseInt(need(a, "hidden", mnemonic)),
            Boolean.parseBoolean(need(a, "reverse", mnemonic)), Boolean.parseBoolean(need(a, "masked", mnemonic)));
        return mnemonic.equals("recurrence") ? r
            : new dev.nnc.ir.ops.RecurrenceGrad(r.cell(), r.hidden(), r.reverse(), r.masked());
      }
      case "one_hot":
        return new OneHot(Integer.parseInt(need(a, "classes", mnemonic)));
      case "dropout_mask":
        return new DropoutMask(Double.parseDouble(need(a, "rate", mnemonic)),
            Shape.parse(need(a, "shape", mnemonic)), Integer.parseInt(need(a, "salt", mnemonic)));
      default:
        break;
    }
    for (ReduceFn fn : ReduceFn.values()) {
      if (fn.text().equals(mnemonic)) {
        Shape axes = Shape.parse(need(a, "axes", mnemonic));
        return new Reduce(fn, Arrays.stream(axes.dims()).boxed().toList(),
            Boolean.parseBoolean(need(a, "keepDims", mnemonic)));
      }
    }
    for (BinaryFn fn : BinaryFn.values()) {
      if (fn.text().equals(mnemonic)) {
        return new Binary(fn);
      }
    }
    for (UnaryFn fn : UnaryFn.values()) {
      if (fn.text().equals(mnemonic)) {
        return new Unary(fn, a.containsKey("alpha") ? Double.parseDouble(a.get("alpha")) : fn.defaultAlpha());
      }
    }
    throw new IllegalArgumentException("unknown op '" + mnemonic + "'");
  }
}
