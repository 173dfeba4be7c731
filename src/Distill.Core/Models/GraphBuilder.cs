using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>A container that only registers modules under their names, so that a graph node "block0.conv" owns
/// the parameters "block0.conv.weight", …: the group is "block0", the child "conv". It has no forward: the
/// <see cref="ModelGraph"/> runs the modules. (No module-typed fields: TorchSharp would register those a second time.)</summary>
public sealed class ModuleGroup : nn.Module
{
    internal ModuleGroup(string name)
        : base(name)
    {
    }

    internal void Add(string name, nn.Module module) => register_module(name, module);
}

/// <summary>Builds a <see cref="ModelGraph"/> node by node, each new node reading the previous one unless told
/// otherwise, and registers every module in the <see cref="ModuleGroup"/> named by its name's first part.</summary>
internal sealed class GraphBuilder
{
    private readonly long[] _inputShape;
    private readonly List<GraphNode> _nodes = [];
    private readonly List<ModuleGroup> _groups = [];

    public GraphBuilder(long[] inputShape)
    {
        _inputShape = inputShape;
        Shape = inputShape;
    }

    /// <summary>The node the next one reads by default.</summary>
    public string Last { get; private set; } = ModelGraph.InputName;

    /// <summary>Per-sample output shape of <see cref="Last"/>.</summary>
    public long[] Shape { get; private set; }

    public void Add(string name, LayerKind kind, nn.Module? module, long[] shape, string? tap = null, IReadOnlyList<string>? inputs = null)
    {
        if (module is not null)
        {
            int dot = name.IndexOf('.', StringComparison.Ordinal);
            string group = name[..dot];
            var owner = _groups.FirstOrDefault(g => g.GetName() == group);
            if (owner is null)
            {
                owner = new ModuleGroup(group);
                _groups.Add(owner);
            }
            owner.Add(name[(dot + 1)..], module);
        }
        _nodes.Add(new GraphNode(name, kind, module, inputs ?? [Last], shape, tap));
        Last = name;
        Shape = shape;
    }

    /// <summary>Sets the tap of the last node.</summary>
    public void Tap(string tap) => _nodes[^1] = _nodes[^1] with { Tap = tap };

    public (ModelGraph Graph, IReadOnlyList<ModuleGroup> Groups) Build() => (new ModelGraph(_inputShape, _nodes), _groups);

    /// <summary>Releases every module built so far (a build that failed half-way).</summary>
    public void DisposeModules()
    {
        foreach (var node in _nodes.Where(n => n.Module is not null))
            node.Module!.Dispose();
        foreach (var group in _groups)
            group.Dispose();
    }
}
