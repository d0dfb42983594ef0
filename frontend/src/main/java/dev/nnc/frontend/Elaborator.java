package dev.nnc.frontend;

import dev.nnc.frontend.Val.CallV;
import dev.nnc.frontend.Val.ErrV;
import dev.nnc.frontend.Val.FromV;
import dev.nnc.frontend.Val.ListV;
import dev.nnc.frontend.Val.NumV;
import dev.nnc.frontend.Val.StrV;
import dev.nnc.frontend.Val.SymV;
import dev.nnc.frontend.Val.TensorV;
import dev.nnc.grammar.NnParser;
import dev.nnc.grammar.NnParser.ExprContext;
import dev.nnc.ir.DType;
import dev.nnc.ir.Graph;
import dev.nnc.ir.Node;
import dev.nnc.ir.Shape;
import dev.nnc.ir.ShapeException;
import dev.nnc.ir.TensorType;
import dev.nnc.ir.ops.Binary;
import dev.nnc.ir.ops.BinaryFn;
import dev.nnc.ir.ops.Init;
import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Ops;
import dev.nnc.ir.ops.Param;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.antlr.v4.runtime.ParserRuleContext;
import org.antlr.v4.runtime.Token;

/**
 * Elaboration: evaluates a model's statements and expressions, applies layers (each layer's
 * shape rule runs here, so shapes are inferred as the graph is built) and reports every problem
 * with its position. The parse tree serves as the AST: the language is small enough that a
 * separate tree would only copy it. Its other jobs live beside it: the layers by name
 * ({@link LayerRegistry}), block expansion ({@link Blocks}), binding the recipe's data and loss
 * ({@link LossBinding}), values never used ({@link DeadValues}), recipe settings
 * ({@link RecipeReader}).
 */
public final class Elaborator {

  /**
   * The most layers a model may have. Code generation is linear in the layer count but not
   * cheap (a training step of a 1,000-layer dense chain is 18,000 kernels and about six minutes
   * of LLVM on two cores), so a larger model is a located error instead of an hour of compiling
   * or running out of memory. The course's deepest networks have a few hundred layers.
   */
  public static final int MAX_LAYERS = 2_000;

  /**
   * The most layer and block applications one elaboration may make (a {@code repeat} of a block
   * that adds no layer still costs time); past it, a located error.
   */
  public static final int MAX_APPLICATIONS = 200_000;

  /** Stops elaboration after a "too large" error: nothing later can be checked sensibly. */
  private static final class TooLarge extends RuntimeException {
    TooLarge() {
      super(null, null, false, false);
    }
  }

  private int applications;

  /** Names bound to tensors, for the warnings about values never used. */
  private final DeadValues deadValues = new DeadValues();
  /** The output node of each entry of {@code infos}. */
  /** Per layer applied (aligned with infos), the values it gave: it is live when one of them is. */
  private final List<List<Node>> layerOutputs = new ArrayList<>();

  public static Set<String> layerNames() {
    return LayerRegistry.names();
  }

  final Program program;
  final Diagnostics diag;
  final Graph.Builder graph;
  private final LayerContext.Mode mode;
  final int batch;
  private final Set<String> frozen;
  private final List<Elaborated.LayerInfo> infos = new ArrayList<>();
  final Deque<String> activeBlocks = new ArrayDeque<>();
  private final Set<String> usedPaths = new HashSet<>();
  private Node step;
  private int salt;
  /** Elaborating the step program (see {@link #elaborateStep}). */
  private boolean stepwise;
  /** In the step program: state outputs by name, state input name → output name, and why it cannot run (null: it can). */
  private final Map<String, Node> stateOutputs = new LinkedHashMap<>();
  private final Map<String, String> stateNames = new LinkedHashMap<>();
  private String stepBlocked;

  private Elaborator(Program program, Diagnostics diag, String name, LayerContext.Mode mode, int batch,
      Set<String> frozen) {
    this.program = program;
    this.diag = diag;
    this.graph = Graph.builder(name);
    this.mode = mode;
    this.batch = batch;
    this.frozen = frozen;
  }

  /** A lexical scope: model body or one block instantiation. */
  static final class Scope {
    final String prefix;
    final Map<String, Val> vars = new LinkedHashMap<>();
    final Map<String, Integer> counters = new HashMap<>();

    Scope(String prefix) {
      this.prefix = prefix;
    }

    String fresh(String kind) {
      int n = counters.merge(kind, 1, Integer::sum);
      return prefix + kind + n;
    }
  }

  // ---------------------------------------------------------------- entry points

  /**
   * Builds the graph of {@code modelName} (null: the first model) for {@code batch} examples. With
   * a recipe, also binds the data fields and elaborates the loss.
   */
  public static Elaborated elaborate(Program program, String modelName, int batch, LayerContext.Mode mode,
      Recipe recipe) throws CompileException {
    return elaborate(program, modelName, batch, mode, recipe, false);
  }

  /**
   * The model's step program: inference on one element of each sequence (integer inputs
   * {@code int[T]} become {@code int[1]}, float sequences {@code [T, F]} become {@code [1, F]}),
   * each recurrent layer reading its state from the inputs {@code <layer>.h0} (and {@code .c0})
   * and giving the new one as the outputs {@code <layer>.h} (and {@code .c}); see
   * {@link Elaborated#step()} for whether the model can run so.
   */
  public static Elaborated elaborateStep(Program program, String modelName, int batch) throws CompileException {
    return elaborate(program, modelName, batch, LayerContext.Mode.INFER, null, true);
  }

  private static Elaborated elaborate(Program program, String modelName, int batch, LayerContext.Mode mode,
      Recipe recipe, boolean stepwise) throws CompileException {
    Diagnostics diag = new Diagnostics(program.source());
    NnParser.ModelDeclContext model = program.model(modelName);
    if (model == null) {
      diag.error(1, 1, "no model named `" + modelName + "` in " + program.source().name(),
          Diagnostics.suggest(modelName, program.models().keySet()));
      diag.throwIfAny();
    }
    String name = model.name.getText();
    Set<String> frozen = recipe == null ? Set.of() : new HashSet<>(recipe.freeze());
    Elaborator e = new Elaborator(program, diag, name, mode, batch, frozen);
    e.stepwise = stepwise;
    Scope scope = new Scope("");
    Map<String, Node> inputs = new LinkedHashMap<>();
    Map<String, Node> outputs = new LinkedHashMap<>();
    e.collectAssigned(model.stmt());
    try {
      for (NnParser.StmtContext s : model.stmt()) {
        e.modelStmt(s, scope, inputs, outputs);
      }
    } catch (TooLarge stop) {
      diag.throwIfAny();
    } catch (StackOverflowError overflow) {
      // Expression chains are evaluated in loops; what still recurses is nesting (parentheses,
      // blocks calling blocks), which no hand-written model takes this deep.
      diag.error(model.name, "model `" + name + "` nests expressions or blocks too deeply to elaborate",
          "split the deepest expression into several statements (`h = ...`)");
      diag.throwIfAny();
    }
    e.stateOutputs.forEach(outputs::putIfAbsent);
    if (outputs.isEmpty() && !diag.hasErrors()) {
      diag.error(model.name, "model `" + name + "` has no output", "add `output NAME` after the layers");
    }
    Node loss = null;
    if (recipe != null && !diag.hasErrors()) {
      loss = LossBinding.bind(e, recipe, scope, inputs);
    }
    for (String f : frozen) {
      if (e.infos.stream().noneMatch(i -> i.path().equals(f) || i.path().startsWith(f + "."))) {
        diag.error(program.trains().get(name), "`freeze` names `" + f + "`, which is no layer of " + name,
            Diagnostics.suggest(f, e.infos.stream().map(Elaborated.LayerInfo::path).toList()));
      }
    }
    diag.throwIfAny();
    outputs.forEach(e.graph::output);
    if (loss != null) {
      e.graph.output("loss_per_example", loss);
    }
    Set<Node> live = DeadValues.liveFrom(outputs.values(), loss);
    DeadValues.addUpdates(live, e.graph.updates());
    e.graph.retainUpdates(live::contains);
    List<Elaborated.LayerInfo> layers = new ArrayList<>();
    for (int i = 0; i < e.infos.size(); i++) {
      if (e.layerOutputs.get(i).stream().anyMatch(live::contains)) {
        layers.add(e.infos.get(i));
      }
    }
    e.deadValues.warn(diag, live);
    Graph g = e.graph.build(n -> live.contains(n) || n.op() instanceof Input);
    if (recipe != null && g.params().stream().noneMatch(n -> ((Param) n.op()).role() == Param.Role.WEIGHT)) {
      NnParser.TrainDeclContext t = program.trains().get(name);
      boolean anyWeights = !g.params().isEmpty();
      diag.error(t.name, "model `" + name + "` has nothing to train: "
          + (anyWeights ? "every layer with weights is frozen" : "its outputs depend on no layer with weights"),
          anyWeights ? "unfreeze a layer (`freeze` in the recipe)" : "add a layer with weights, e.g. `-> dense(10)`");
      diag.throwIfAny();
    }
    Elaborated.Step step = stepwise ? new Elaborated.Step(Map.copyOf(e.stateNames), e.stepBlocked) : null;
    return new Elaborated(name, g, inputs, outputs, loss, List.copyOf(layers), batch, diag.warnings(), step);
  }

  /** Checks the {@code train} block of {@code modelName}; null when the file has none. */
  public static Recipe recipe(Program program, String modelName) throws CompileException {
    NnParser.ModelDeclContext model = program.model(modelName);
    if (model == null) {
      return null;
    }
    NnParser.TrainDeclContext t = program.trains().get(model.name.getText());
    if (t == null) {
      return null;
    }
    Diagnostics diag = new Diagnostics(program.source());
    Elaborator e = new Elaborator(program, diag, "recipe", LayerContext.Mode.INFER, 1, Set.of());
    Recipe r = new RecipeReader(program, diag, e::constant).read(t, model);
    diag.throwIfAny();
    return r;
  }

  // ---------------------------------------------------------------- model statements

  private void modelStmt(NnParser.StmtContext s, Scope scope, Map<String, Node> inputs, Map<String, Node> outputs) {
    if (s.inputStmt() != null) {
      NnParser.InputStmtContext in = s.inputStmt();
      String name = in.name.getText();
      DType dtype = DType.F32;
      if (in.dtype != null) {
        switch (in.dtype.getText()) {
          case "float", "f32" -> dtype = DType.F32;
          case "int", "i32" -> dtype = DType.I32;
          default -> diag.error(in.dtype, "unknown element type `" + in.dtype.getText() + "`",
              "use `int` (token ids, labels) or `float` (the default)");
        }
      }
      List<Integer> dims = new ArrayList<>();
      boolean bad = false;
      for (var tok : in.shape().INT()) {
        long d = parseDimension(tok.getText());
        if (d <= 0 || d > Integer.MAX_VALUE) {
          diag.error(tok.getSymbol(), "dimensions must be between 1 and 2,147,483,647, got " + tok.getText(), null);
          bad = true;
        }
        dims.add((int) Math.max(1, Math.min(d, Integer.MAX_VALUE)));
      }
      if (defined(scope, name, in.name)) {
        return;
      }
      if (stepwise && ((dtype == DType.I32 && dims.size() == 1) || (dtype == DType.F32 && dims.size() == 2))) {
        dims.set(0, 1);   // one element of the sequence
      }
      Shape shape;
      try {
        shape = new Shape(dims.stream().mapToInt(Integer::intValue).toArray()).prepend(batch);
      } catch (ShapeException ex) {
        if (!bad) {
          diag.error(in.shape(), "input `" + name + "` is too large: " + ex.getMessage() + " with the batch of "
              + batch, "make the input smaller, or lower the batch size");
        }
        scope.vars.put(name, new ErrV());
        return;
      }
      Node n = graph.addTyped(new Input(name), List.of(), new TensorType(shape, dtype));
      inputs.put(name, n);
      scope.vars.put(name, new TensorV(n));
    } else if (s.outputStmt() instanceof NnParser.OutputAssignContext oa) {
      Val v = eval(oa.expr(), scope);
      String name = oa.ID().getText();
      if (outputs.containsKey(name)) {
        diag.error(oa.ID().getSymbol(), "output `" + name + "` is declared twice", null);
      }
      Node n = tensor(v, oa.expr(), "an output");
      if (n != null) {
        outputs.put(name, n);
      }
      scope.vars.put(name, v);
    } else if (s.outputStmt() instanceof NnParser.OutputNamesContext on) {
      for (var id : on.idList().ID()) {
        String name = id.getText();
        Val v = scope.vars.get(name);
        if (v == null) {
          undefined(id.getSymbol(), name, scope);
        } else if (outputs.containsKey(name)) {
          diag.error(id.getSymbol(), "output `" + name + "` is declared twice", null);
        } else if (v instanceof TensorV t) {
          outputs.put(name, t.node());
        }
      }
    } else {
      assign(s.assignStmt(), scope);
    }
  }

  private boolean defined(Scope scope, String name, Token at) {
    if (scope.vars.containsKey(name)) {
      diag.error(at, "`" + name + "` is already defined", "choose another name");
      return true;
    }
    return false;
  }

  void assign(NnParser.AssignStmtContext a, Scope scope) {
    Val v = eval(a.expr(), scope);
    List<org.antlr.v4.runtime.tree.TerminalNode> ids = a.idList().ID();
    if (ids.size() == 1) {
      bind(ids.get(0).getSymbol(), v, scope);
      return;
    }
    if (v instanceof ListV l && l.items().size() == ids.size()) {
      for (int i = 0; i < ids.size(); i++) {
        bind(ids.get(i).getSymbol(), l.items().get(i), scope);
      }
      return;
    }
    if (!(v instanceof ErrV)) {
      diag.error(a.expr(), "cannot unpack " + Val.describe(v) + " into " + ids.size() + " names",
          "a block that returns " + ids.size() + " values can be unpacked this way");
    }
    for (var id : ids) {
      scope.vars.put(id.getText(), new ErrV());
    }
  }

  /** A dimension literal's value, saturated past the long range (the caller reports it). */
  private static long parseDimension(String digits) {
    try {
      return Long.parseLong(digits);
    } catch (NumberFormatException e) {
      return Long.MAX_VALUE;
    }
  }

  private void bind(Token name, Val v, Scope scope) {
    scope.vars.put(name.getText(), v);
    if (v instanceof TensorV t) {
      deadValues.bound(name, t.node());
    }
  }

  // ---------------------------------------------------------------- expressions

  private Scope currentScope;

  Val eval(ExprContext e, Scope scope) {
    currentScope = scope;
    return switch (e) {
      case NnParser.PrimaryExprContext p -> primary(p.primary(), scope);
      case NnParser.NegExprContext n -> negate(eval(n.expr(), scope), n);
      case NnParser.MulExprContext m -> arith(m.op.getText(), eval(m.expr(0), scope), eval(m.expr(1), scope), m);
      case NnParser.AddExprContext a -> arith(a.op.getText(), eval(a.expr(0), scope), eval(a.expr(1), scope), a);
      case NnParser.PipeExprContext p -> pipeChain(p, scope);
      default -> throw new IllegalStateException("unknown expression " + e.getClass());
    };
  }

  /**
   * {@code x -> a -> b -> c} parses as a left-leaning tree as deep as the chain is long; it is
   * evaluated in a loop (innermost operand first, then each stage in order), so a chain of any
   * length needs no deeper stack than one stage.
   */
  private Val pipeChain(NnParser.PipeExprContext top, Scope scope) {
    Deque<NnParser.PipeExprContext> chain = new ArrayDeque<>();
    ExprContext cur = top;
    while (cur instanceof NnParser.PipeExprContext p) {
      chain.push(p);
      cur = p.expr();
    }
    Val v = eval(cur, scope);
    while (!chain.isEmpty()) {
      NnParser.PipeExprContext p = chain.pop();
      currentScope = scope;
      if (!(v instanceof TensorV) && !(v instanceof ErrV)) {
        tensor(v, p.expr(), "the input of `->`");
        v = new ErrV();
      }
      v = stage(p.stage(), v, p.expr(), scope);
    }
    return v;
  }

  private Val primary(NnParser.PrimaryContext p, Scope scope) {
    return switch (p) {
      case NnParser.NumberLitContext n -> number(n, false);
      case NnParser.IntLitContext n -> number(n, true);
      case NnParser.StringLitContext s -> new StrV(unquote(s.getText()));
      case NnParser.FromLitContext f -> new FromV(unquote(f.STRING().getText()));
      case NnParser.ParenExprContext pe -> eval(pe.expr(), scope);
      case NnParser.ListExprContext l -> {
        List<Val> items = new ArrayList<>();
        for (ExprContext x : l.expr()) {
          items.add(eval(x, scope));
        }
        yield new ListV(items);
      }
      case NnParser.NameRefContext n -> {
        Val v = scope.vars.get(n.ID().getText());
        yield v != null ? v : new SymV(n.ID().getText());
      }
      case NnParser.CallExprContext c -> call(c.call(), null, scope);
      default -> throw new IllegalStateException("unknown primary " + p.getClass());
    };
  }

  /** A number literal; one too large for a double is an error at the literal, never infinity. */
  private Val number(NnParser.PrimaryContext literal, boolean integral) {
    double v = Double.parseDouble(literal.getText());
    if (Double.isInfinite(v)) {
      diag.error(literal, "number `" + literal.getText() + "` is too large (it overflows to infinity)", null);
      return new ErrV();
    }
    return new NumV(v, integral);
  }

  private static String unquote(String s) {
    return s.substring(1, s.length() - 1).replace("\\\"", "\"").replace("\\\\", "\\");
  }

  private Val negate(Val v, ParserRuleContext at) {
    return switch (v) {
      case NumV n -> new NumV(-n.value(), n.integral());
      case TensorV t -> new TensorV(Ops.neg(graph, t.node()));
      case ErrV err -> err;
      default -> {
        diag.error(at, "cannot negate " + Val.describe(v));
        yield new ErrV();
      }
    };
  }

  private Val arith(String op, Val x, Val y, ParserRuleContext at) {
    if (x instanceof ErrV || y instanceof ErrV) {
      return new ErrV();
    }
    if (x instanceof NumV a && y instanceof NumV b) {
      double r = switch (op) {
        case "+" -> a.value() + b.value();
        case "-" -> a.value() - b.value();
        case "*" -> a.value() * b.value();
        default -> a.value() / b.value();
      };
      boolean integral = a.integral() && b.integral() && !op.equals("/");
      if (!Double.isFinite(r)) {
        diag.error(at, "`" + a.value() + " " + op + " " + b.value() + "` is not a finite number", null);
        return new ErrV();
      }
      return new NumV(r, integral);
    }
    Node l = operand(x, ((ParserRuleContext) at.getChild(0)));
    Node r = operand(y, ((ParserRuleContext) at.getChild(2)));
    if (l == null || r == null) {
      return new ErrV();
    }
    BinaryFn fn = switch (op) {
      case "+" -> BinaryFn.ADD;
      case "-" -> BinaryFn.SUB;
      case "*" -> BinaryFn.MUL;
      default -> BinaryFn.DIV;
    };
    try {
      return new TensorV(graph.add(new Binary(fn), l, r));
    } catch (ShapeException ex) {
      diag.error(at.getChild(1) instanceof org.antlr.v4.runtime.tree.TerminalNode t ? t.getSymbol() : at.getStart(),
          "`" + op + "` needs tensors of the same shape, got " + Layer.perExample(l) + " and " + Layer.perExample(r),
          "shapes must match, or one side must be a scalar");
      return new ErrV();
    }
  }

  /** A tensor or number as a graph operand; numbers become constants. */
  private Node operand(Val v, ParserRuleContext at) {
    if (v instanceof NumV n) {
      return Ops.constant(graph, n.value());
    }
    return tensor(v, at, "an operand");
  }

  /** Requires a tensor; reports otherwise (once) and returns null. */
  Node tensor(Val v, ParserRuleContext at, String role) {
    if (currentScope != null) {
      currentNames.clear();
      currentNames.addAll(currentScope.vars.keySet());
    }
    switch (v) {
      case TensorV t -> {
        return t.node();
      }
      case ErrV err -> {
        return null;
      }
      case SymV s -> {
        if (LayerRegistry.has(s.name()) || program.blocks().containsKey(s.name())) {
          diag.error(at, "`" + s.name() + "` is a layer, not a tensor", "apply it with `x -> " + s.name() + "`");
        } else {
          undefined(at.getStart(), s.name(), null);
        }
        return null;
      }
      default -> {
        diag.error(at, "expected a tensor as " + role + ", got " + Val.describe(v));
        return null;
      }
    }
  }

  private void undefined(Token at, String name, Scope scope) {
    if (LayerRegistry.NOT_YET.contains(name)) {
      diag.error(at, "`" + name + "` is not supported yet", "see docs/language.md for the layers implemented");
      return;
    }
    Integer later = assignedLines.get(name);
    if (later != null && later > at.getLine()) {
      diag.error(at, "`" + name + "` is not defined before this line",
          "it is assigned at line " + later + "; a model is read top to bottom, and cycles are not allowed");
      return;
    }
    List<String> candidates = new ArrayList<>(currentNames);
    candidates.addAll(assignedLines.keySet());
    String hint = Diagnostics.suggest(name, candidates);
    diag.error(at, "`" + name + "` is not defined", hint != null ? hint : "define it before this line");
  }

  /** Every name the current model or block assigns, with its line: for "used before defined". */
  private final Map<String, Integer> assignedLines = new HashMap<>();

  private void collectAssigned(List<NnParser.StmtContext> stmts) {
    for (NnParser.StmtContext s : stmts) {
      if (s.assignStmt() != null) {
        for (var id : s.assignStmt().idList().ID()) {
          assignedLines.putIfAbsent(id.getText(), id.getSymbol().getLine());
        }
      } else if (s.outputStmt() instanceof NnParser.OutputAssignContext oa) {
        assignedLines.putIfAbsent(oa.ID().getText(), oa.ID().getSymbol().getLine());
      }
    }
  }

  /** Names visible where the last error happened, for suggestions. */
  final List<String> currentNames = new ArrayList<>();

  private Val stage(NnParser.StageContext st, Val lhs, ExprContext lhsCtx, Scope scope) {
    currentNames.clear();
    currentNames.addAll(scope.vars.keySet());
    return switch (st) {
      case NnParser.RepeatStageContext r -> {
        if (lhs instanceof ErrV) {
          yield lhs;
        }
        Val count = eval(r.count, scope);
        if (!(count instanceof NumV n) || !n.integral() || n.value() < 0) {
          if (!(count instanceof ErrV)) {
            diag.error(r.count, "repeat needs a non-negative integer count, got " + Val.describe(count));
          }
          yield new ErrV();
        }
        Val cur = lhs;
        for (int i = 0; i < (int) n.value() && !(cur instanceof ErrV); i++) {
          for (NnParser.StageContext inner : r.stage()) {
            cur = stage(inner, cur, lhsCtx, scope);
          }
        }
        yield cur;
      }
      case NnParser.CallStageContext c -> call(c.call(), lhs, scope);
      case NnParser.NameStageContext n -> apply(n.ID().getSymbol(), n, lhs, List.of(), new LinkedHashMap<>(),
          scope);
      default -> throw new IllegalStateException("unknown stage " + st.getClass());
    };
  }

  /** A call; {@code piped} is the left side of {@code ->}, or null for a plain call. */
  private Val call(NnParser.CallContext c, Val piped, Scope scope) {
    List<ExprContext> positional = new ArrayList<>();
    Map<String, ExprContext> named = new LinkedHashMap<>();
    for (NnParser.ArgContext a : c.arg()) {
      if (a.ID() != null) {
        if (named.containsKey(a.ID().getText())) {
          diag.error(a.ID().getSymbol(), "argument `" + a.ID().getText() + "` is given twice", null);
        }
        named.put(a.ID().getText(), a.expr());
      } else {
        if (!named.isEmpty()) {
          diag.error(a, "positional argument after named ones", "put positional arguments first");
        }
        positional.add(a.expr());
      }
    }
    List<Val> pos = new ArrayList<>();
    if (piped != null) {
      pos.add(piped);
    }
    for (ExprContext x : positional) {
      pos.add(eval(x, scope));
    }
    Map<String, Val> nam = new LinkedHashMap<>();
    named.forEach((k, v) -> nam.put(k, eval(v, scope)));
    return apply(c.ID().getSymbol(), c, null, pos, nam, scope);
  }

  /**
   * Applies a layer or block by name. {@code single} is a piped operand for the no-argument stage
   * form ({@code -> relu}); otherwise the operands lead {@code pos}.
   */
  private Val apply(Token nameTok, ParserRuleContext at, Val single, List<Val> pos, Map<String, Val> named,
      Scope scope) {
    String name = nameTok.getText();
    List<Val> args = new ArrayList<>(pos);
    if (single != null) {
      args.add(0, single);
    }
    if (++applications > MAX_APPLICATIONS) {
      diag.error(nameTok, "the model is too large: more than " + String.format("%,d", MAX_APPLICATIONS)
          + " layer and block applications", "make the model smaller or lower its `repeat` counts (docs/language.md, Limits)");
      throw new TooLarge();
    }
    boolean poisoned = args.stream().anyMatch(v -> v instanceof ErrV)
        || named.values().stream().anyMatch(v -> v instanceof ErrV);
    // An unknown layer is worth reporting even when its input already failed.
    if (poisoned && (program.blocks().containsKey(name) || LayerRegistry.has(name))) {
      return new ErrV();
    }
    if (program.blocks().containsKey(name)) {
      return Blocks.expand(this, nameTok, program.blocks().get(name), args, named, scope);
    }
    Layer layer = LayerRegistry.get(name);
    if (layer == null) {
      if (LayerRegistry.NOT_YET.contains(name)) {
        diag.error(nameTok, "`" + name + "` is not supported yet",
            "see docs/language.md for the layers implemented so far");
        return new ErrV();
      }
      if (scope.vars.get(name) instanceof TensorV) {
        diag.error(nameTok, "`" + name + "` is a tensor, not a layer", "use it as `" + name + " -> layer`");
        return new ErrV();
      }
      List<String> known = new ArrayList<>(LayerRegistry.names());
      known.addAll(program.blocks().keySet());
      String hint = Diagnostics.suggest(name, known);
      diag.error(nameTok, "unknown layer `" + name + "`", hint != null ? hint : "see docs/language.md for the layers");
      return new ErrV();
    }
    if (poisoned) {
      return new ErrV();
    }
    int needed = layer.operands();
    if (needed == Layer.VARIADIC || needed == Layer.LEADING) {
      int tensors = 0;
      while (tensors < args.size() && args.get(tensors) instanceof TensorV) {
        tensors++;
      }
      if (needed == Layer.LEADING) {
        tensors = Math.max(tensors, 1);
      } else if (tensors < 2) {
        diag.error(nameTok, name + " takes two or more tensor operands, got " + tensors,
            "write `" + name + "(a, b)`");
        return new ErrV();
      }
      needed = tensors;
    }
    if (args.size() < needed || args.subList(0, needed).stream().anyMatch(v -> !(v instanceof TensorV))) {
      diag.error(nameTok, name + " takes " + needed + " tensor operand" + (needed == 1 ? "" : "s") + ", got "
          + args.stream().filter(v -> v instanceof TensorV).count(),
          needed == 1 ? "write `x -> " + name + "(...)`" : "write `" + name + "(a, b)`");
      return new ErrV();
    }
    List<Node> operands = args.subList(0, needed).stream().map(v -> ((TensorV) v).node()).toList();
    List<Val> config = args.subList(needed, args.size());
    Map<String, Val> cfg = new LinkedHashMap<>(named);
    Val explicitName = cfg.remove("name");
    try {
      Args bound = Args.bind(name, layer.specs(), config, cfg);
      String path = explicitName instanceof SymV s ? scope.prefix + s.name()
          : explicitName instanceof StrV s ? scope.prefix + s.value() : scope.fresh(name);
      if (!usedPaths.add(path)) {
        throw new LayerException("layer name `" + path + "` is used twice", "give each layer its own name");
      }
      if (infos.size() >= MAX_LAYERS) {
        diag.error(nameTok, "the model is too large: more than " + String.format("%,d", MAX_LAYERS) + " layers",
            "make the model smaller or lower its `repeat` counts (docs/language.md, Limits)");
        throw new TooLarge();
      }
      List<Node> params = new ArrayList<>();
      List<Node> outs = layer.applyAll(context(path, params), operands, bound);
      Node out = outs.get(0);
      infos.add(new Elaborated.LayerInfo(path, name, Layer.perExample(out), params, operands, out, bound));
      layerOutputs.add(outs);
      if (outs.size() > 1) {
        return new ListV(outs.stream().map(n -> (Val) new TensorV(n)).toList());
      }
      return new TensorV(out);
    } catch (LayerException ex) {
      diag.error(nameTok, ex.getMessage(), ex.hint());
    } catch (ShapeException ex) {
      diag.error(nameTok, name + ": " + ex.getMessage(), null);
    }
    return new ErrV();
  }

  private LayerContext context(String path, List<Node> params) {
    return new LayerContext() {
      @Override
      public Graph.Builder graph() {
        return graph;
      }

      @Override
      public Mode mode() {
        return mode;
      }

      @Override
      public Node param(String local, Shape shape, Init init) {
        boolean isFrozen = frozen.stream().anyMatch(f -> path.equals(f) || path.startsWith(f + "."));
        Node p = graph.addTyped(new Param(path + "." + local, isFrozen ? Param.Role.FROZEN : Param.Role.WEIGHT, init),
            List.of(), TensorType.f32(shape));
        params.add(p);
        return p;
      }

      @Override
      public Node buffer(String local, Shape shape, Init init) {
        Node p = graph.addTyped(new Param(path + "." + local, Param.Role.BUFFER, init), List.of(),
            TensorType.f32(shape));
        params.add(p);
        return p;
      }

      @Override
      public Node step() {
        return Elaborator.this.step();
      }

      @Override
      public int nextSalt() {
        return ++salt;
      }

      @Override
      public boolean stepwise() {
        return stepwise;
      }

      @Override
      public Node stateInput(String local, Shape shape) {
        String name = path + "." + local;
        return graph.addTyped(new Input(name), List.of(), TensorType.f32(shape.prepend(batch)));
      }

      @Override
      public void stateOutput(String local, Node value) {
        stateOutputs.put(path + "." + local, value);
        stateNames.put(path + "." + local + "0", path + "." + local);
      }

      @Override
      public void notSteppable(String why) {
        if (stepBlocked == null) {
          stepBlocked = why;
        }
      }
    };
  }

  private Node step() {
    if (step == null) {
      step = graph.param("step");
      if (step == null) {
        step = graph.addTyped(new Param("step", Param.Role.STATE, Init.ZEROS), List.of(), TensorType.f32(Shape.SCALAR));
      }
    }
    return step;
  }

  /** Evaluates a recipe value: numbers, words, strings, lists and calls stay symbolic. */
  Val constant(ExprContext e) {
    Scope scope = new Scope("");
    return switch (e) {
      case NnParser.PrimaryExprContext p when p.primary() instanceof NnParser.CallExprContext c -> {
        Map<String, Val> named = new LinkedHashMap<>();
        List<Val> pos = new ArrayList<>();
        for (NnParser.ArgContext a : c.call().arg()) {
          if (a.ID() != null) {
            named.put(a.ID().getText(), constant(a.expr()));
          } else {
            pos.add(constant(a.expr()));
          }
        }
        yield new CallV(c.call().ID().getText(), pos, named);
      }
      case NnParser.PrimaryExprContext p when p.primary() instanceof NnParser.ListExprContext l -> {
        List<Val> items = new ArrayList<>();
        for (ExprContext x : l.expr()) {
          items.add(constant(x));
        }
        yield new ListV(items);
      }
      default -> {
        Val v = eval(e, scope);
        if (v instanceof TensorV) {
          diag.error(e, "a training setting must be a constant");
          yield new ErrV();
        }
        yield v;
      }
    };
  }
}
