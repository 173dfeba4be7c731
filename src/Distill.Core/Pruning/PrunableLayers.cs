using Distill.Core.Models;

namespace Distill.Core.Pruning;

/// <summary>A conv or linear weight that pruning can act on, named as in the model's parameters.</summary>
public sealed record PrunableLayer(string Name, LayerKind Kind, long[] Shape)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Size of the dimension N:M groups run along: input channels (conv) or input features (linear).
    /// A depthwise conv sees one input channel per filter.</summary>
    public long InputSize => Shape[1];

    /// <summary>Whether whole output channels of this layer can be pruned: it leads a <see cref="ChannelGroup"/> (a conv or
    /// linear layer whose outputs feed later layers; for a residual stream, the first layer that adds into it). Depthwise
    /// channels follow the layer before them; the model output's units are classes.</summary>
    public bool HasPrunableChannels { get; init; }
}

/// <summary>The prunable layers of a zoo model in forward order: the weights of its graph's conv and linear layers.</summary>
public static class PrunableLayers
{
    public static IReadOnlyList<PrunableLayer> Of(ZooModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var leaders = ChannelGroups.Of(model).Select(g => g.Leader).ToHashSet();
        return model.Graph.Layers
            .Select(l => new PrunableLayer($"{l.Name}.weight", l.Kind, l.Node.Weight.shape)
            {
                HasPrunableChannels = leaders.Contains($"{l.Name}.weight"),
            })
            .ToList();
    }
}
