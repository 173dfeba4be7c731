using Distill.Core.Distillation;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>A zoo model built by <see cref="ModelZoo.Build"/>: its <see cref="Graph"/> describes the layers once
/// and the forward pass runs it. Modules are registered in groups ("block0", "head"), so parameters are named
/// after their nodes ("block0.conv.weight", "head.out.bias"). Intermediate outputs ("taps") can be captured by
/// name for feature distillation.</summary>
public sealed class ZooModel : nn.Module<Tensor, Tensor>, ITeacher
{
    public const string FeaturesTap = "features";
    public const string LogitsTap = "logits";

    private readonly Dictionary<string, GraphNode> _taps;

    internal ZooModel(string name, ModelSpec spec, int numClasses, ModelGraph graph, IReadOnlyList<ModuleGroup> groups)
        : base(name)
    {
        Spec = spec;
        NumClasses = numClasses;
        Graph = graph;
        foreach (var group in groups)
        {
            register_module(group.GetName(), group);
        }
        _taps = graph.Nodes.Where(n => n.Tap is not null).ToDictionary(n => n.Tap!);
        TapNames = graph.Nodes.Where(n => n.Tap is not null).Select(n => n.Tap!).ToList();
        ParameterCount = parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    }

    public ModelSpec Spec { get; }

    /// <summary>The layers: kinds, modules, shapes, what feeds what, taps.</summary>
    public ModelGraph Graph { get; }

    string ITeacher.Description => GetName();

    /// <summary>Shape of one input sample, e.g. [1,28,28] or [64].</summary>
    public long[] InputShape => (long[])Graph.InputShape.Clone();
    public int NumClasses { get; }

    /// <summary>cnn: "block0".."block{n-1}" (after pooling), "features" (flattened head input), "logits".
    /// resnet: "stage0".."stage{n-1}" (each stage's last block, after its ReLU), "features" (pooled head input), "logits".
    /// mlp: "hidden0".."hidden{n-1}" (after ReLU), "logits".</summary>
    public IReadOnlyList<string> TapNames { get; }

    /// <summary>Trainable parameters, counted when the model was built.</summary>
    public long ParameterCount { get; }

    /// <summary>Per-sample shape of a tap.</summary>
    public long[] TapShape(string tap)
    {
        RequireTap(tap);
        return (long[])_taps[tap].Shape.Clone();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Graph.Run(x).MoveToOuterDisposeScope();
    }

    /// <summary>Logits plus the requested taps. Tensors belong to the caller's dispose scope.</summary>
    public (Tensor Logits, IReadOnlyDictionary<string, Tensor> Taps) ForwardWithTaps(Tensor x, IReadOnlyCollection<string> taps)
    {
        foreach (var tap in taps)
        {
            RequireTap(tap);
        }
        var captured = new Dictionary<string, Tensor>();
        using var scope = NewDisposeScope();
        var logits = Graph.Run(x, visit: (node, value) =>
        {
            if (node.Tap is { } tap && taps.Contains(tap))
            {
                captured[tap] = value;
            }
        });
        // Each tensor once: the logits may be a tap too.
        foreach (var value in captured.Values.Append(logits).Distinct(ReferenceEqualityComparer.Instance))
        {
            ((Tensor)value!).MoveToOuterDisposeScope();
        }
        return (logits, captured);
    }

    private void RequireTap(string tap)
    {
        if (!_taps.ContainsKey(tap))
        {
            throw new InvalidInputException($"'{tap}' is not a tap of this {GetName()} model; valid taps: {string.Join(", ", TapNames)}.");
        }
    }
}
