using Distill.Core.Models;
using static TorchSharp.torch;

namespace Distill.Core.Pruning;

/// <summary>magnitude: unstructured, smallest |w| first. channel: whole output channels (conv filters,
/// hidden units of the head) by their norm. n_m: keep the N largest of every M consecutive weights
/// along the input dimension.</summary>
public enum PruneMethod { Magnitude, Channel, NM }

/// <summary>Layers whose masks are ranked together, and the sparsity due for them now.</summary>
public sealed record PruneGroup(IReadOnlyList<SelectedLayer> Layers, double Sparsity);

/// <summary>One mask update: the model, its masks, its weights by parameter name, the prune section, the selected
/// layers and (for methods that rank layers together) their groups with the sparsity due now.</summary>
public sealed record PruneUpdate(
    ZooModel Model,
    MaskSet Masks,
    IReadOnlyDictionary<string, Tensor> Weights,
    PruneOptions Options,
    IReadOnlyList<SelectedLayer> Selected,
    IEnumerable<PruneGroup> Groups);

/// <summary>One pruning method (criterion): its <see cref="PruneMethod"/>, its name, the prune keys it reads, and
/// how it recomputes masks. The maths is in <see cref="PruningCriteria"/>.</summary>
/// <param name="Options">The method's own keys of the prune section (sparsity, ranking, norm, n, m, shrink, overrides);
/// the recipe allows each key only with the methods that name it.</param>
/// <param name="DefaultRanking">The ranking when the recipe names none; null when the method does not rank.</param>
/// <param name="OneShotOnly">Why the method cannot follow the gradual schedule; null when it can.</param>
/// <param name="FixedSparsity">The sparsity the method's own options fix (N:M: 1 − n/m); null = the section's or an override's.</param>
public sealed record PruningMethodEntry(
    PruneMethod Kind,
    string Name,
    string Doc,
    IReadOnlyList<string> Options,
    PruneRanking? DefaultRanking,
    string? OneShotOnly,
    Func<PruneOptions, double>? FixedSparsity,
    Action<PruneUpdate> Update) : IRegistryEntry
{
    public IReadOnlyList<string> Aliases { get; init; } = [];
}

/// <summary>The pruning methods. To add one: its criterion in <see cref="PruningCriteria"/> (or its own file), a
/// member of <see cref="PruneMethod"/> and a line here; the recipe schema, its docs and the binder read this table.</summary>
public static class PruningMethods
{
    public static Registry<PruningMethodEntry> Registry { get; } = new("pruning method",
    [
        new(PruneMethod.Magnitude, "magnitude", "unstructured, smallest |w| first", ["sparsity", "ranking", "overrides"],
            PruneRanking.Global, OneShotOnly: null, FixedSparsity: null, Magnitude),
        new(PruneMethod.Channel, "channel", "whole output channels (conv filters with their batch-norm, hidden head units) by norm",
            ["sparsity", "ranking", "norm", "overrides", "shrink"], PruneRanking.Layer, OneShotOnly: null, FixedSparsity: null, Channel),
        new(PruneMethod.NM, "n_m", "N of every M weights along the input dimension", ["n", "m"],
            DefaultRanking: null, OneShotOnly: "a group keeps exactly n of m weights", o => 1.0 - (double)o.N / o.M, NM),
    ]);

    public static PruningMethodEntry Of(PruneMethod kind) => Registry.Entries.First(e => e.Kind == kind);

    /// <summary>The names of the methods that read a prune key.</summary>
    public static IReadOnlyList<string> Reading(string key) => [.. Registry.Entries.Where(e => e.Options.Contains(key)).Select(e => e.Name)];

    private static void NM(PruneUpdate u)
    {
        foreach (var layer in u.Selected)
        {
            var name = layer.Layer.Name;
            u.Masks.Set(name, PruningCriteria.NM(u.Weights[name], u.Options.N, u.Options.M, u.Masks.Get(name)));
        }
    }

    private static void Magnitude(PruneUpdate u)
    {
        foreach (var group in u.Groups)
        {
            var names = group.Layers.Select(l => l.Layer.Name).ToList();
            var result = PruningCriteria.Magnitude(names.Select(n => u.Weights[n]).ToList(), names.Select(u.Masks.Get).ToList(), group.Sparsity);
            for (int i = 0; i < names.Count; i++)
                u.Masks.Set(names[i], result[i]);
        }
    }

    private static void Channel(PruneUpdate u)
    {
        var byLeader = ChannelGroups.Of(u.Model).ToDictionary(g => g.Leader);
        foreach (var group in u.Groups)
        {
            var channelGroups = group.Layers.Select(l => byLeader.GetValueOrDefault(l.Layer.Name)
                ?? throw new InvalidOperationException($"{l.Layer.Name} has no prunable output channels")).ToList();
            var scores = channelGroups.Select(g => PruningCriteria.ChannelScores(
                g.Sources.Select(n => u.Weights[n]).ToList(), u.Options.Norm, g.Sources.Select(u.Masks.Get).ToList())).ToList();
            int floor = MinimumChannels(u.Model);
            var keep = PruningCriteria.ChannelKeep(scores, group.Sparsity, scores.Select(s => Math.Min(floor, s.Length)).ToArray());
            for (int i = 0; i < channelGroups.Count; i++)
            {
                foreach (var member in channelGroups[i].Members)
                {
                    var mask = PruningCriteria.ChannelMask(keep[i], u.Weights[member].shape, u.Weights[member].device);
                    u.Masks.Set(member, u.Masks.Get(member) is { } old ? mask.mul(old) : mask);
                }
            }
        }
    }

    /// <summary>Channels every group keeps: 1, or for a residual model the narrowest width its convs train reliably at
    /// (<see cref="ResNetLimits.MinWidth"/>), so a shrunk model passes its architecture's checks and does not diverge.</summary>
    private static int MinimumChannels(ZooModel model) =>
        Architectures.Of(model.Spec.Arch).Residual ? ResNetLimits.MinWidth : 1;
}
