package dev.nnc.frontend;

import dev.nnc.grammar.NnLexer;
import dev.nnc.grammar.NnParser;
import java.util.LinkedHashMap;
import java.util.Map;
import org.antlr.v4.runtime.BaseErrorListener;
import org.antlr.v4.runtime.CharStreams;
import org.antlr.v4.runtime.CommonTokenStream;
import org.antlr.v4.runtime.RecognitionException;
import org.antlr.v4.runtime.Recognizer;
import org.antlr.v4.runtime.Token;

/** A parsed {@code .nn} file: its models, blocks and training recipes by name. */
public final class Program {
  private final SourceFile source;
  private final Map<String, NnParser.ModelDeclContext> models = new LinkedHashMap<>();
  private final Map<String, NnParser.BlockDeclContext> blocks = new LinkedHashMap<>();
  private final Map<String, NnParser.TrainDeclContext> trains = new LinkedHashMap<>();

  private Program(SourceFile source) {
    this.source = source;
  }

  public SourceFile source() {
    return source;
  }

  public Map<String, NnParser.ModelDeclContext> models() {
    return models;
  }

  public Map<String, NnParser.BlockDeclContext> blocks() {
    return blocks;
  }

  public Map<String, NnParser.TrainDeclContext> trains() {
    return trains;
  }

  /** Parses and indexes a file; syntax errors and duplicate declarations are all reported. */
  public static Program parse(SourceFile src) throws CompileException {
    Diagnostics diag = new Diagnostics(src);
    NnLexer lexer = new NnLexer(CharStreams.fromString(src.text(), src.name()));
    NnParser parser = new NnParser(new CommonTokenStream(lexer));
    BaseErrorListener listener = new BaseErrorListener() {
      @Override
      public void syntaxError(Recognizer<?, ?> recognizer, Object offending, int line, int col, String msg,
          RecognitionException e) {
        diag.error(line, col + 1, "syntax error: " + friendly(msg, offending), null);
      }
    };
    lexer.removeErrorListeners();
    lexer.addErrorListener(listener);
    parser.removeErrorListeners();
    parser.addErrorListener(listener);
    NnParser.FileContext file;
    try {
      file = parser.file();
    } catch (StackOverflowError e) {
      // ANTLR parses nested parentheses and calls recursively; a machine-written file can nest
      // deeper than any stack. A chain of `->` stages is no problem: it is parsed in a loop.
      diag.error(1, 1, "the file nests expressions too deeply to parse",
          "split the deepest expression into several statements (`h = ...`)");
      diag.throwIfAny();
      throw e;
    }
    diag.throwIfAny();
    Program p = new Program(src);
    Map<String, Token> seen = new LinkedHashMap<>();
    for (NnParser.DeclContext d : file.decl()) {
      if (d.modelDecl() != null) {
        p.declare(diag, seen, d.modelDecl().name, p.models, d.modelDecl(), "model");
      } else if (d.blockDecl() != null) {
        p.declare(diag, seen, d.blockDecl().name, p.blocks, d.blockDecl(), "block");
        checkBlockNames(diag, d.blockDecl());
      } else {
        NnParser.TrainDeclContext t = d.trainDecl();
        if (p.trains.containsKey(t.name.getText())) {
          diag.error(t.name, "a train recipe for `" + t.name.getText() + "` is already defined", null);
        }
        p.trains.put(t.name.getText(), t);
      }
    }
    for (NnParser.TrainDeclContext t : p.trains.values()) {
      if (!p.models.containsKey(t.name.getText())) {
        diag.error(t.name, "train recipe for unknown model `" + t.name.getText() + "`",
            Diagnostics.suggest(t.name.getText(), p.models.keySet()));
      }
    }
    if (p.models.isEmpty()) {
      diag.error(1, 1, "the file defines no model", "add `model Name { input x: [4]  output y = x -> dense(1) }`");
    }
    diag.throwIfAny();
    return p;
  }

  /** A block's parameters and inputs share one namespace: each name once. */
  private static void checkBlockNames(Diagnostics diag, NnParser.BlockDeclContext b) {
    Map<String, String> seen = new LinkedHashMap<>();
    java.util.List<Token> names = new java.util.ArrayList<>();
    java.util.List<String> kinds = new java.util.ArrayList<>();
    if (b.params() != null) {
      for (NnParser.ParamContext pc : b.params().param()) {
        names.add(pc.ID().getSymbol());
        kinds.add("parameter");
      }
    }
    for (var id : b.inputs.ID()) {
      names.add(id.getSymbol());
      kinds.add("input");
    }
    for (int i = 0; i < names.size(); i++) {
      String n = names.get(i).getText();
      String prev = seen.putIfAbsent(n, kinds.get(i));
      if (prev != null) {
        diag.error(names.get(i), "block `" + b.name.getText() + "` already has " + (prev.equals("input") ? "an " : "a ")
            + prev + " named `" + n + "`", "give each parameter and input its own name");
      }
    }
  }

  private <T> void declare(Diagnostics diag, Map<String, Token> seen, Token name, Map<String, T> into, T decl,
      String kind) {
    Token prev = seen.get(name.getText());
    if (prev != null) {
      diag.error(name, "`" + name.getText() + "` is already defined at line " + prev.getLine(),
          "rename one of them");
      return;
    }
    seen.put(name.getText(), name);
    into.put(name.getText(), decl);
  }

  static String friendly(String antlrMessage, Object offending) {
    String m = antlrMessage;
    if (m.startsWith("token recognition error at: ")) {
      return "unexpected character " + m.substring(28).replace("'", "`");
    }
    if (offending instanceof Token t) {
      String text = t.getType() == Token.EOF ? "end of file" : "`" + t.getText() + "`";
      if (m.startsWith("mismatched input") || m.startsWith("extraneous input")) {
        int exp = m.indexOf("expecting");
        return "unexpected " + text + (exp >= 0 ? ", expected " + expected(m.substring(exp + 10)) : "");
      }
      if (m.startsWith("no viable alternative")) {
        return "unexpected " + text;
      }
      if (m.startsWith("missing")) {
        return m.replace("'", "`") ;
      }
    }
    return m.replace("'", "`");
  }

  /** ANTLR's {@code {')', ','}} or {@code ')'} as "`)` or `,`". */
  private static String expected(String set) {
    String s = set.strip();
    if (s.startsWith("{") && s.endsWith("}")) {
      s = s.substring(1, s.length() - 1);
    }
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("'(?:[^']|\\\\')*'|[A-Z_]+|<EOF>").matcher(s);
    java.util.List<String> items = new java.util.ArrayList<>();
    while (m.find()) {
      String t = m.group();
      if (t.equals("ID")) {
        t = "a name";
      } else if (t.equals("INT") || t.equals("NUMBER")) {
        t = "a number";
      } else if (t.equals("STRING")) {
        t = "a string";
      } else if (t.equals("<EOF>")) {
        t = "end of file";
      } else {
        t = "`" + t.substring(1, t.length() - 1) + "`";
      }
      if (!items.contains(t)) {
        items.add(t);
      }
    }
    if (items.size() > 6) {
      return String.join(", ", items.subList(0, 6)) + ", …";
    }
    return items.size() == 1 ? items.get(0)
        : String.join(", ", items.subList(0, items.size() - 1)) + " or " + items.get(items.size() - 1);
  }

  /** The model to use: the named one, or the only/first one. */
  public NnParser.ModelDeclContext model(String name) {
    if (name == null) {
      return models.values().iterator().next();
    }
    return models.get(name);
  }
}
