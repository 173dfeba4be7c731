using Distill.Core.Models;

namespace Distill.Core.Pruning;

/// <summary>What "output channel c of a layer" covers: every parameter whose entry c along dimension 0
/// must be zero for the channel to be exactly zero downstream. For a block's conv that is the conv's filter
/// and bias, the batch-norm's scale and shift (an all-zero channel would otherwise come out as the BN shift),
/// and, when the next block is depthwise-separable, that block's depthwise filter c and its batch-norm
/// (in eval mode BN(0) is not 0). A hidden layer of the head: its row and bias. The next layer's inputs
/// from a pruned channel then see exact zeros, so <see cref="ModelShrinker"/> can remove them.</summary>
public static class ChannelGroups
{
    public static IReadOnlyList<string> Members(ZooModel model, string layerName)
    {
        var members = new List<string> { layerName };
        for (int i = 0; i < model.Blocks.Count; i++)
        {
            if (layerName != $"block{i}.conv.weight")
                continue;
            var block = model.Blocks[i];
            if (block.Conv.bias is not null)
                members.Add($"block{i}.conv.bias");
            if (block.Bn is not null)
                members.AddRange([$"block{i}.bn.weight", $"block{i}.bn.bias"]);
            if (i + 1 < model.Blocks.Count && model.Blocks[i + 1] is { Depthwise: { } depthwise } next)
            {
                members.Add($"block{i + 1}.depthwise.weight");
                if (depthwise.bias is not null)
                    members.Add($"block{i + 1}.depthwise.bias");
                if (next.DepthwiseBn is not null)
                    members.AddRange([$"block{i + 1}.depthwise_bn.weight", $"block{i + 1}.depthwise_bn.bias"]);
            }
            return members;
        }
        for (int i = 0; i < model.Head.Hidden.Count; i++)
        {
            if (layerName == $"head.fc{i}.weight")
            {
                if (model.Head.Hidden[i].bias is not null)
                    members.Add($"head.fc{i}.bias");
                return members;
            }
        }
        throw new ArgumentException($"{layerName} has no prunable output channels", nameof(layerName));
    }
}
