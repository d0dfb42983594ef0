package dev.nnc.frontend;

import dev.nnc.frontend.Val.ErrV;
import dev.nnc.frontend.Val.ListV;
import dev.nnc.frontend.Val.SymV;
import dev.nnc.frontend.Val.TensorV;
import dev.nnc.grammar.NnParser;
import dev.nnc.grammar.NnParser.ExprContext;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.antlr.v4.runtime.Token;

/**
 * Block expansion: a call of {@code block name(params) (inputs) { ... return ... }} binds its
 * tensor inputs and parameters (positional, named, or defaults evaluated in the block's scope)
 * in a fresh scope whose layers are named under the instance ({@code res1.dense1}), elaborates
 * the block's assignments and returns its results (one value, or a list to unpack). A block
 * calling itself, directly or not, is an error: blocks are not recursive, {@code repeat} is.
 */
final class Blocks {
  private Blocks() {}

  static Val expand(Elaborator e, Token at, NnParser.BlockDeclContext decl, List<Val> args, Map<String, Val> named,
      Elaborator.Scope caller) {
    String name = decl.name.getText();
    if (e.activeBlocks.contains(name)) {
      e.diag.error(at, "block `" + name + "` calls itself", "blocks cannot be recursive; use `repeat`");
      return new ErrV();
    }
    List<org.antlr.v4.runtime.tree.TerminalNode> inputIds = decl.inputs.ID();
    int nIn = inputIds.size();
    if (args.size() < nIn || args.subList(0, nIn).stream().anyMatch(v -> !(v instanceof TensorV))) {
      e.diag.error(at, "block `" + name + "` takes " + nIn + " tensor input" + (nIn == 1 ? "" : "s"),
          "write `x -> " + name + "(...)`");
      return new ErrV();
    }
    List<NnParser.ParamContext> params = decl.params() == null ? List.of() : decl.params().param();
    List<Val> config = args.subList(nIn, args.size());
    if (config.size() > params.size()) {
      e.diag.error(at, "block `" + name + "` takes " + params.size() + " parameter(s), got " + config.size(), null);
      return new ErrV();
    }
    Val explicitName = named.remove("name");
    String inst = explicitName instanceof SymV s ? caller.prefix + s.name() : caller.fresh(name);
    Elaborator.Scope scope = new Elaborator.Scope(inst + ".");
    for (int i = 0; i < nIn; i++) {
      scope.vars.put(inputIds.get(i).getText(), args.get(i));
    }
    Set<String> paramNames = new HashSet<>();
    for (int i = 0; i < params.size(); i++) {
      NnParser.ParamContext p = params.get(i);
      String pn = p.ID().getText();
      paramNames.add(pn);
      Val v;
      if (i < config.size()) {
        v = config.get(i);
      } else if (named.containsKey(pn)) {
        v = named.get(pn);
      } else if (p.expr() != null) {
        v = e.eval(p.expr(), scope);
      } else {
        e.diag.error(at, "block `" + name + "` needs parameter `" + pn + "`", null);
        return new ErrV();
      }
      scope.vars.put(pn, v);
    }
    for (String k : named.keySet()) {
      if (!paramNames.contains(k)) {
        e.diag.error(at, "block `" + name + "` has no parameter `" + k + "`", Diagnostics.suggest(k, paramNames));
        return new ErrV();
      }
    }
    e.activeBlocks.push(name);
    try {
      for (NnParser.StmtContext st : decl.stmt()) {
        if (st.assignStmt() == null) {
          e.diag.error(st, "blocks contain assignments only; inputs and outputs belong to models");
          continue;
        }
        e.assign(st.assignStmt(), scope);
      }
      List<Val> results = new ArrayList<>();
      for (ExprContext r : decl.ret.expr()) {
        Val v = e.eval(r, scope);
        if (!(v instanceof TensorV) && !(v instanceof ErrV)) {
          e.tensor(v, r, "a block result");
          v = new ErrV();
        }
        results.add(v);
      }
      return results.size() == 1 ? results.get(0) : new ListV(results);
    } finally {
      e.activeBlocks.pop();
    }
  }

}
