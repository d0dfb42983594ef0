package dev.nnc.ir;

import dev.nnc.ir.ops.Input;
import dev.nnc.ir.ops.Op;
import dev.nnc.ir.ops.Param;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A dataflow graph: nodes in topological order, named outputs, and state updates (a parameter or
 * optimizer-state node and the value it takes after the graph has run). Immutable; passes build a
 * new graph with {@link Builder}.
 */
public final class Graph {
  private final String name;
  private final List<Node> nodes;
  private final Map<String, Node> outputs;
  private final Map<Node, Node> updates;

  Graph(String name, List<Node> nodes, Map<String, Node> outputs, Map<Node, Node> updates) {
    this.name = name;
    this.nodes = List.copyOf(nodes);
    this.outputs = Collections.unmodifiableMap(new LinkedHashMap<>(outputs));
    this.updates = Collections.unmodifiableMap(new LinkedHashMap<>(updates));
  }

  public String name() {
    return name;
  }

  public List<Node> nodes() {
    return nodes;
  }

  public Map<String, Node> outputs() {
    return outputs;
  }

  public Node output(String outputName) {
    Node n = outputs.get(outputName);
    if (n == null) {
      throw new IllegalArgumentException("graph " + name + " has no output '" + outputName + "'");
    }
    return n;
  }

  /** Parameter or state node → its value after this graph ran. */
  public Map<Node, Node> updates() {
    return updates;
  }

  public List<Node> inputs() {
    return nodes.stream().filter(n -> n.op() instanceof Input).toList();
  }

  public List<Node> params() {
    return nodes.stream().filter(n -> n.op() instanceof Param).toList();
  }

  public Node input(String inputName) {
    for (Node n : nodes) {
      if (n.op() instanceof Input in && in.name().equals(inputName)) {
        return n;
      }
    }
    throw new IllegalArgumentException("graph " + name + " has no input '" + inputName + "'");
  }

  /** Users of each node, in node order. */
  public Map<Node, List<Node>> users() {
    Map<Node, List<Node>> users = new LinkedHashMap<>();
    for (Node n : nodes) {
      users.put(n, new ArrayList<>());
    }
    for (Node n : nodes) {
      for (Node i : n.inputs()) {
        users.get(i).add(n);
      }
    }
    return users;
  }

  public static Builder builder(String name) {
    return new Builder(name);
  }

  /** A builder that starts with this graph's nodes, outputs and updates (node objects are shared). */
  public Builder toBuilder() {
    Builder b = new Builder(name);
    for (Node n : nodes) {
      b.nodes.add(n);
      if (n.op() instanceof Param p) {
        b.paramsByName.put(p.name(), n);
      }
    }
    b.outputs.putAll(outputs);
    b.updates.putAll(updates);
    return b;
  }

  @Override
  public String toString() {
    return IrPrinter.print(this);
  }

  /** Builds a graph node by node, inferring each node's type from its op's shape rule. */
  public static final class Builder {
    private final String name;
    private final List<Node> nodes = new ArrayList<>();
    private final Map<String, Node> outputs = new LinkedHashMap<>();
    private final Map<Node, Node> updates = new LinkedHashMap<>();
    private final Map<String, Node> paramsByName = new LinkedHashMap<>();

    Builder(String name) {
      this.name = name;
    }

    public String name() {
      return name;
    }

    /** Appends {@code op(inputs)}; throws {@link ShapeException} when the shape rule rejects it. */
    public Node add(Op op, Node... inputs) {
      return add(op, List.of(inputs));
    }

    public Node add(Op op, List<Node> inputs) {
      if (op.arity() >= 0 && op.arity() != inputs.size()) {
        throw new ShapeException(op.mnemonic() + " takes " + op.arity() + " operand(s), got " + inputs.size());
      }
      TensorType t = op.infer(inputs);
      return addTyped(op, inputs, t);
    }

    /** Appends a node whose type is given (inputs and params, whose shapes are declared). */
    public Node addTyped(Op op, List<Node> inputs, TensorType type) {
      if (op instanceof Param p) {
        Node existing = paramsByName.get(p.name());
        if (existing != null) {
          throw new ShapeException("parameter '" + p.name() + "' is defined twice");
        }
      }
      Node n = new Node(nodes.size(), op, inputs, type.shape(), type.dtype());
      nodes.add(n);
      if (op instanceof Param p) {
        paramsByName.put(p.name(), n);
      }
      return n;
    }

    public Node param(String paramName) {
      return paramsByName.get(paramName);
    }

    public List<Node> nodes() {
      return Collections.unmodifiableList(nodes);
    }

    public Builder output(String outputName, Node value) {
      outputs.put(outputName, value);
      return this;
    }

    public Map<String, Node> outputs() {
      return Collections.unmodifiableMap(outputs);
    }

    public Builder update(Node state, Node newValue) {
      if (!(state.op() instanceof Param)) {
        throw new IllegalArgumentException("only parameters and state can be updated, not " + state);
      }
      if (!state.shape().equals(newValue.shape())) {
        throw new ShapeException("update of " + state + " with a value of shape " + newValue.shape());
      }
      updates.put(state, newValue);
      return this;
    }

    /** The updates so far: state → new value. */
    public Map<Node, Node> updates() {
      return Collections.unmodifiableMap(updates);
    }

    /** Drops the updates of states {@code keep} rejects (a layer left out of the model takes its own). */
    public Builder retainUpdates(java.util.function.Predicate<Node> keep) {
      updates.keySet().removeIf(s -> !keep.test(s));
      return this;
    }

    public Builder clearOutputs() {
      outputs.clear();
      return this;
    }

    public Graph build() {
      return new Graph(name, nodes, outputs, updates);
    }

    /**
     * The graph of the nodes {@code keep} accepts, in order; it must accept every operand of an
     * accepted node and every output and update.
     */
    public Graph build(java.util.function.Predicate<Node> keep) {
      return new Graph(name, nodes.stream().filter(keep).toList(), outputs, updates);
    }
  }
}
