using Distill.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Pruning;

/// <summary>Physically removes pruned channels: a block's output channel (or a hidden unit of the head)
/// whose whole channel group (<see cref="ChannelGroups"/>) is masked contributes exact zeros downstream, so
/// a model built with fewer channels, holding the kept weights, computes the same outputs.</summary>
public static class ModelShrinker
{
    /// <summary>A smaller model with the same outputs, and the masks cut to fit it. The caller owns both.</summary>
    public static (ZooModel Model, MaskSet Masks) Shrink(ZooModel model, MaskSet masks)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(masks);
        // Every source of a group (the layers adding into one residual stream) keeps the same units.
        var kept = new Dictionary<string, long[]>();
        foreach (var group in ChannelGroups.Of(model))
        {
            var units = KeptUnits(model, masks, group);
            foreach (var source in group.Sources)
                kept[source[..^".weight".Length]] = units;
        }
        var spec = ModelZoo.WithWidths(model.Spec, kept.ToDictionary(k => k.Key, k => k.Value.Length));
        var slicer = new Slicer(model.Graph, kept);
        var shrunk = ModelZoo.Build(spec, model.InputShape, model.NumClasses).to(ComputeDevice.Of(model));
        var shrunkMasks = new MaskSet();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            // Not state_dict(): TorchSharp lists every submodule held in a property twice there (once under its
            // backing field's name); the named parameters and buffers are the real entries, each once.
            var source = Entries(model).ToDictionary(e => e.Name, e => e.Value);
            foreach (var (name, target) in Entries(shrunk))
                target.copy_(slicer.Slice(name, source[name]));
            foreach (var name in masks.Names)
                shrunkMasks.Set(name, slicer.Slice(name, masks.Get(name)!));
            foreach (var target in masks.Targets)
                shrunkMasks.AddTarget(target);
            shrunk.train(model.training);
        }
        catch
        {
            shrunk.Dispose();
            shrunkMasks.Dispose();
            throw;
        }
        return (shrunk, shrunkMasks);
    }

    private static IEnumerable<(string Name, Tensor Value)> Entries(ZooModel model) =>
        model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(model.named_buffers());

    /// <summary>Indices of the units of a layer that are not wholly masked; at least one is kept.</summary>
    private static long[] KeptUnits(ZooModel model, MaskSet masks, ChannelGroup group)
    {
        using var scope = NewDisposeScope();
        long units = model.Graph.Layer(group.Leader[..^".weight".Length]).Node.Weight.shape[0];
        // A unit survives if any member of its group still has a live entry for it.
        var alive = zeros(units, dtype: ScalarType.Bool, device: ComputeDevice.Of(model));
        foreach (var member in group.Members)
        {
            if (masks.Get(member) is not { } mask)
                return Enumerable.Range(0, (int)units).Select(i => (long)i).ToArray();
            using var zero = 0.ToScalar();
            alive = alive.logical_or(ComputeDevice.Move(mask.reshape(units, -1).sum(1).gt(zero), alive.device));
        }
        var kept = Enumerable.Range(0, (int)units).Where(i => alive[i].item<bool>()).Select(i => (long)i).ToArray();
        return kept.Length > 0 ? kept : [0];
    }

    /// <summary>Which indices of which dimensions of an old tensor survive, by state-dict name. The channels that
    /// flow out of each node follow the graph: a pruned layer's kept units, a channel-wise node's input channels, a
    /// flatten's kept channels spread over their positions.</summary>
    private sealed class Slicer
    {
        private readonly ModelGraph _graph;
        private readonly Dictionary<string, long[]?> _outputs = [];

        public Slicer(ModelGraph graph, IReadOnlyDictionary<string, long[]> kept)
        {
            _graph = graph;
            _outputs[ModelGraph.InputName] = null;
            foreach (var node in graph.Nodes)
            {
                var input = _outputs[node.Inputs[0]];
                _outputs[node.Name] = node.Kind switch
                {
                    LayerKind.Conv or LayerKind.Linear => kept.GetValueOrDefault(node.Name),
                    LayerKind.Flatten => Spread(input, graph.InputShapeOf(node)),
                    // The inputs of an add are one channel group, so they keep the same channels.
                    LayerKind.Add or LayerKind.GlobalAvgPool => input,
                    _ when node.Kind.IsChannelwise() => input,
                    _ => throw new InvalidOperationException($"the shrinker does not handle {node.Kind} node '{node.Name}'"),
                };
            }
        }

        public Tensor Slice(string name, Tensor value)
        {
            var result = value;
            foreach (var (dim, index) in Slices(name))
                result = result.index_select(dim, tensor(index, device: value.device));
            return result;
        }

        private IEnumerable<(int Dim, long[] Index)> Slices(string name)
        {
            int dot = name.LastIndexOf('.');
            var node = dot > 0 ? _graph.Nodes.FirstOrDefault(n => n.Name == name[..dot]) : null;
            if (node is null)
                throw new InvalidOperationException($"the shrinker does not know the model entry {name}");
            string entry = name[(dot + 1)..];
            if (entry == "num_batches_tracked")
                yield break;
            var input = _outputs[node.Inputs[0]];
            if (_outputs[node.Name] is { } output)
                yield return (0, output);
            if (node.Kind is LayerKind.Conv or LayerKind.Linear && entry == "weight" && input is not null)
                yield return (1, input);
        }

        /// <summary>Flattened inputs that survive: channel c of a [C, H, W] input covers c·H·W … c·H·W + H·W − 1.</summary>
        private static long[]? Spread(long[]? channels, long[] shape)
        {
            if (channels is null)
                return null;
            long area = shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            return channels.SelectMany(c => Enumerable.Range(0, (int)area).Select(p => c * area + p)).ToArray();
        }
    }
}
