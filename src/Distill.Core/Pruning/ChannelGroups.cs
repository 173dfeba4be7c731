using Distill.Core.Models;

namespace Distill.Core.Pruning;

/// <summary>Output channels that can only be pruned together, and every parameter that holds them.</summary>
/// <param name="Sources">The conv and linear layers (weight names) whose output channels meet: one for a plain layer; for a
/// residual stream, every layer that adds into it (a resnet stage's stem or shortcut and each block's conv2, a
/// mobilenet_v2 stage's projections). The first is the group's leader, the layer a prune section selects.</param>
/// <param name="Members">Every parameter whose entry c along dimension 0 must be zero for channel c to be exactly zero
/// downstream, in forward order: the sources' weights and biases, and the batch norms' scales and shifts and the
/// depthwise filters the channels pass through on the way (an all-zero channel would otherwise come out as the BN shift;
/// in eval mode BN(0) is not 0). The next conv or linear layers' inputs from a pruned channel then see exact zeros, so
/// <see cref="ModelShrinker"/> can remove them.</param>
public sealed record ChannelGroup(IReadOnlyList<string> Sources, IReadOnlyList<string> Members)
{
    public string Leader => Sources[0];
}

/// <summary>Finds the channel groups of a model from its graph. A conv or linear node starts a group; channel-wise
/// nodes (<see cref="LayerKinds.IsChannelwise"/>) and the global average pool carry their input's group on; a residual
/// add joins the groups of its inputs into one. A group can be pruned when every node that reads it is one of those, a
/// conv or linear layer (which loses the matching inputs) or a flatten in front of one, and the model's output (its
/// classes) is not in it.</summary>
public static class ChannelGroups
{
    /// <summary>The prunable groups in the forward order of their leaders.</summary>
    public static IReadOnlyList<ChannelGroup> Of(ZooModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph;
        var root = new Dictionary<string, string>(); // union-find over group ids; a group's id is its first source's node name
        string Find(string id)
        {
            while (root[id] != id)
                id = root[id] = root[root[id]];
            return id;
        }

        var groupOf = new Dictionary<string, string>(); // node name → group id of its output channels
        var blocked = new HashSet<string>();
        foreach (var node in graph.Nodes)
        {
            string? input = node.Inputs[0] == ModelGraph.InputName ? null : node.Inputs[0];
            switch (node.Kind)
            {
                case LayerKind.Conv or LayerKind.Linear:
                    root[node.Name] = node.Name;
                    groupOf[node.Name] = node.Name;
                    break;
                case LayerKind.Add:
                    var ids = node.Inputs.Select(i => groupOf.TryGetValue(i, out var g) ? Find(g) : null).ToList();
                    if (ids.Any(id => id is null))
                    {
                        blocked.UnionWith(ids.OfType<string>());
                        break;
                    }
                    foreach (var id in ids.Skip(1))
                        root[Find(id!)] = Find(ids[0]!);
                    groupOf[node.Name] = ids[0]!;
                    break;
                case var kind when (kind.IsChannelwise() || kind == LayerKind.GlobalAvgPool) && input is not null && groupOf.TryGetValue(input, out var carried):
                    groupOf[node.Name] = carried;
                    break;
                case LayerKind.Flatten:
                    // A flatten spreads channel c over c·H·W … inputs, which only a linear layer can lose.
                    if (input is not null && groupOf.TryGetValue(input, out var flattened) && !graph.Consumers(node.Name).All(c => c.Kind == LayerKind.Linear))
                        blocked.Add(flattened);
                    break;
                default:
                    // A node that mixes channels some other way (or reads the raw input): what it reads cannot shrink.
                    foreach (var i in node.Inputs.Where(groupOf.ContainsKey))
                        blocked.Add(groupOf[i]);
                    break;
            }
        }
        if (groupOf.TryGetValue(graph.Output.Name, out var output))
            blocked.Add(output);
        var blockedRoots = blocked.Select(Find).ToHashSet();

        var sources = new Dictionary<string, List<string>>();
        var members = new Dictionary<string, List<string>>();
        foreach (var node in graph.Nodes)
        {
            if (!groupOf.TryGetValue(node.Name, out var id) || blockedRoots.Contains(Find(id)))
                continue;
            string group = Find(id);
            if (!members.ContainsKey(group))
            {
                sources[group] = [];
                members[group] = [];
            }
            if (node.Kind is LayerKind.Conv or LayerKind.Linear)
                sources[group].Add($"{node.Name}.weight");
            AddParameters(node, members[group]);
        }
        return members.Keys.Select(g => new ChannelGroup(sources[g], members[g])).OrderBy(g => LayerIndex(graph, g.Leader)).ToList();
    }

    private static int LayerIndex(ModelGraph graph, string weightName)
    {
        string node = weightName[..^".weight".Length];
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            if (graph.Nodes[i].Name == node)
                return i;
        }
        return int.MaxValue;
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
