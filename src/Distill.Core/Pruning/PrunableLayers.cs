using Distill.Core.Models;

namespace Distill.Core.Pruning;

public enum LayerKind { Conv, Depthwise, Linear }

/// <summary>A conv or linear weight that pruning can act on, named as in the model's parameters.</summary>
public sealed record PrunableLayer(string Name, LayerKind Kind, long[] Shape)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Size of the dimension N:M groups run along: input channels (conv) or input features (linear).
    /// A depthwise conv sees one input channel per filter.</summary>
    public long InputSize => Shape[1];

    /// <summary>Whether whole output channels of this layer can be pruned: a block's (pointwise) conv or a
    /// hidden layer of the head. Depthwise channels follow the block before them; the output layer's units are classes.</summary>
    public bool HasPrunableChannels { get; init; }
}

/// <summary>The prunable layers of a zoo model in forward order.</summary>
public static class PrunableLayers
{
    public static IReadOnlyList<PrunableLayer> Of(ZooModel model)
    {
        var layers = new List<PrunableLayer>();
        for (int i = 0; i < model.Blocks.Count; i++)
        {
            var block = model.Blocks[i];
            if (block.Depthwise is { } depthwise)
                layers.Add(new PrunableLayer($"block{i}.depthwise.weight", LayerKind.Depthwise, depthwise.weight!.shape));
            layers.Add(new PrunableLayer($"block{i}.conv.weight", LayerKind.Conv, block.Conv.weight!.shape) { HasPrunableChannels = true });
        }
        for (int i = 0; i < model.Head.Hidden.Count; i++)
            layers.Add(new PrunableLayer($"head.fc{i}.weight", LayerKind.Linear, model.Head.Hidden[i].weight!.shape) { HasPrunableChannels = true });
        layers.Add(new PrunableLayer("head.out.weight", LayerKind.Linear, model.Head.Output.weight!.shape));
        return layers;
    }
}
