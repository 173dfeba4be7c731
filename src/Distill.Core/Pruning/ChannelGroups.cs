using Distill.Core.Models;

namespace Distill.Core.Pruning;

/// <summary>What "output channel c of a layer" covers: every parameter whose entry c along dimension 0
/// must be zero for the channel to be exactly zero downstream. That is the layer's own filter (or row) and bias,
/// then, following the graph while each next node is the only consumer and works channel by channel
/// (<see cref="LayerKinds.IsChannelwise"/>), the parameters of those nodes: a batch norm's scale and shift (an
/// all-zero channel would otherwise come out as the BN shift; in eval mode BN(0) is not 0) and a depthwise conv's
/// filter c and bias. The next conv or linear layer's inputs from a pruned channel then see exact zeros, so
/// <see cref="ModelShrinker"/> can remove them.</summary>
public static class ChannelGroups
{
    public static IReadOnlyList<string> Members(ZooModel model, string layerName)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph;
        var layer = PrunableLayers.Of(model).FirstOrDefault(l => l.Name == layerName && l.HasPrunableChannels)
            ?? throw new ArgumentException($"{layerName} has no prunable output channels", nameof(layerName));
        var node = graph[layerName[..^".weight".Length]];
        var members = new List<string>();
        AddParameters(node, members);
        while (graph.Consumers(node.Name) is [var next] && next.Kind.IsChannelwise())
        {
            AddParameters(next, members);
            node = next;
        }
        return members;
    }

    private static void AddParameters(GraphNode node, List<string> members)
    {
        var (weight, bias) = node.Module switch
        {
            TorchSharp.Modules.BatchNorm2d bn => (bn.weight, bn.bias),
            _ when node.Kind.HasWeights() => (node.Weight, node.Bias),
            _ => (null, null),
        };
        if (weight is not null)
            members.Add($"{node.Name}.weight");
        if (bias is not null)
            members.Add($"{node.Name}.bias");
    }
}
