using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>One node of a <see cref="ModelGraph"/>.</summary>
/// <param name="Name">The module path ("block0.conv", "head.out"): a node with a module owns the parameters
/// "{Name}.weight", "{Name}.bias" (and a batch norm its running statistics). Nodes without a module
/// (ReLU, flatten, add) are named after the layer they follow.</param>
/// <param name="Inputs">Names of the nodes that feed this one, or <see cref="ModelGraph.InputName"/>.</param>
/// <param name="Shape">Per-sample output shape.</param>
/// <param name="Tap">The name under which this node's output can be captured for feature distillation, if any.</param>
public sealed record GraphNode(string Name, LayerKind Kind, nn.Module? Module, IReadOnlyList<string> Inputs, long[] Shape, string? Tap = null)
{
    /// <summary>The weight of a conv or linear node (of a linear node tied to an embedding: the embedding's table).</summary>
    public Parameter Weight => Module switch
    {
        Conv2d conv => conv.weight!,
        Linear linear => linear.weight!,
        Embedding tied when Kind == LayerKind.Linear => tied.weight!,
        _ => throw new InvalidOperationException($"node '{Name}' ({Kind}) has no weight"),
    };

    /// <summary>The bias of a conv or linear node, or null.</summary>
    public Parameter? Bias => Module switch
    {
        Conv2d conv => conv.bias,
        Linear linear => linear.bias,
        Embedding when Kind == LayerKind.Linear => null,
        _ => throw new InvalidOperationException($"node '{Name}' ({Kind}) has no bias"),
    };
}

/// <summary>A conv or linear node with the batch norm and the activation (ReLU or ReLU6) that follow it when each is
/// the only consumer of what comes before: the unit that quantisation fake-quantises (weight with the batch norm folded,
/// output after the activation) and that lowerings fuse into one operator.</summary>
public sealed record WeightLayer(GraphNode Node, GraphNode? BatchNorm, GraphNode? Activation)
{
    public string Name => Node.Name;
    public LayerKind Kind => Node.Kind;

    /// <summary>The activation is ReLU6 (a ReLU capped at 6) rather than ReLU.</summary>
    public bool Relu6 => Activation?.Kind == LayerKind.Relu6;

    /// <summary>The node whose output is the layer's output.</summary>
    public GraphNode Last => Activation ?? BatchNorm ?? Node;

    public BatchNorm2d? Bn => BatchNorm?.Module as BatchNorm2d;
}

/// <summary>
/// A model described once: nodes in a topological order (each node's inputs come before it), the last node being
/// the output. Forward passes run it (<see cref="Run"/>), and quantisation, pruning and every lowering read it,
/// so nothing else spells out a model's layers. The nodes hold the model's modules; the model registers them.
/// </summary>
public sealed class ModelGraph
{
    public const string InputName = "input";

    private readonly Dictionary<string, GraphNode> _byName;
    private readonly Dictionary<string, List<GraphNode>> _consumers;

    public ModelGraph(long[] inputShape, IReadOnlyList<GraphNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        ArgumentNullException.ThrowIfNull(nodes);
        if (nodes.Count == 0)
            throw new ArgumentException("a model graph needs at least one node", nameof(nodes));
        InputShape = (long[])inputShape.Clone();
        Nodes = nodes;
        _byName = [];
        _consumers = new() { [InputName] = [] };
        foreach (var node in nodes)
        {
            if (node.Name == InputName || !_byName.TryAdd(node.Name, node))
                throw new ArgumentException($"node name '{node.Name}' is used twice (or is the input's)", nameof(nodes));
            if (node.Inputs.Count == 0)
                throw new ArgumentException($"node '{node.Name}' has no input", nameof(nodes));
            foreach (var input in node.Inputs)
            {
                if (!_consumers.TryGetValue(input, out var consumers))
                    throw new ArgumentException($"node '{node.Name}' reads '{input}', which is not an earlier node", nameof(nodes));
                consumers.Add(node);
            }
            _consumers[node.Name] = [];
        }
        Layers = nodes.Where(n => n.Kind.HasWeights()).Select(Fuse).ToList();
    }

    /// <summary>Per-sample shape of the model input.</summary>
    public long[] InputShape { get; }

    public IReadOnlyList<GraphNode> Nodes { get; }

    /// <summary>The last node: its output is the model's.</summary>
    public GraphNode Output => Nodes[^1];

    /// <summary>The conv and linear layers in forward order, each with its batch norm and activation.</summary>
    public IReadOnlyList<WeightLayer> Layers { get; }

    public GraphNode this[string name] =>
        _byName.TryGetValue(name, out var node) ? node : throw new ArgumentException($"the model has no node '{name}'", nameof(name));

    public WeightLayer Layer(string name) =>
        Layers.FirstOrDefault(l => l.Name == name) ?? throw new ArgumentException($"'{name}' is not a conv or linear layer of the model", nameof(name));

    /// <summary>Nodes that read <paramref name="name"/> (a node's name or <see cref="InputName"/>).</summary>
    public IReadOnlyList<GraphNode> Consumers(string name) => _consumers[name];

    /// <summary>Per-sample shape of a node's input (its first input).</summary>
    public long[] InputShapeOf(GraphNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node.Inputs[0] == InputName ? InputShape : this[node.Inputs[0]].Shape;
    }

    /// <summary>Runs the nodes in order on <paramref name="input"/> and returns the output node's value.
    /// <paramref name="evaluate"/> may compute a node differently (return null for the default of <see cref="Evaluate"/>);
    /// <paramref name="visit"/> sees every node's value. Values belong to the caller's dispose scope.</summary>
    public Tensor Run(Tensor input, Func<GraphNode, IReadOnlyList<Tensor>, Tensor?>? evaluate = null, Action<GraphNode, Tensor>? visit = null)
    {
        var values = new Dictionary<string, Tensor> { [InputName] = input };
        foreach (var node in Nodes)
        {
            var inputs = node.Inputs.Select(i => values[i]).ToList();
            var value = evaluate?.Invoke(node, inputs) ?? Evaluate(node, inputs);
            values[node.Name] = value;
            visit?.Invoke(node, value);
        }
        return values[Output.Name];
    }

    /// <summary>What a node of each kind computes, in the module's own mode (training or eval).</summary>
    public static Tensor Evaluate(GraphNode node, IReadOnlyList<Tensor> inputs)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(inputs);
        return node.Kind switch
        {
            LayerKind.Relu => nn.functional.relu(inputs[0]),
            LayerKind.Relu6 => nn.functional.relu6(inputs[0]),
            LayerKind.Flatten => inputs[0].flatten(1),
            LayerKind.GlobalAvgPool => inputs[0].mean([-2L, -1L]),
            LayerKind.Add => inputs.Skip(1).Aggregate(inputs[0], (sum, x) => sum.Plus(x)),
            _ when node.Module is BatchNorm2d bn => bn.BatchNormed(inputs[0]),
            _ when node.Module is nn.Module<Tensor, Tensor> module => module.call(inputs[0]),
            _ => throw new InvalidOperationException($"node '{node.Name}' ({node.Kind}) has no module to run"),
        };
    }

    /// <summary>The ReLU that is the only consumer of <paramref name="node"/> (a residual add's), or null.</summary>
    public GraphNode? ReluAfter(GraphNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return SoleConsumer(node, LayerKind.Relu);
    }

    private WeightLayer Fuse(GraphNode node)
    {
        var bn = SoleConsumer(node, LayerKind.BatchNorm);
        var activation = SoleConsumer(bn ?? node, LayerKind.Relu) ?? SoleConsumer(bn ?? node, LayerKind.Relu6);
        return new WeightLayer(node, bn, activation);
    }

    private GraphNode? SoleConsumer(GraphNode node, LayerKind kind) =>
        _consumers[node.Name] is [var only] && only.Kind == kind && only.Inputs.Count == 1 ? only : null;
}
