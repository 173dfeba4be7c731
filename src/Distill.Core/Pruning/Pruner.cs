using Distill.Core.Models;
using static TorchSharp.torch;

namespace Distill.Core.Pruning;

/// <summary>One prune section applied to one model: which layers, and how their masks are recomputed
/// when the schedule says so.</summary>
public sealed class Pruner
{
    private readonly PruneOptions _options;

    public Pruner(ZooModel model, PruneOptions options, string stage)
    {
        _options = options;
        Selected = LayerSelection.Select(model, options, stage);
    }

    public IReadOnlyList<SelectedLayer> Selected { get; }

    /// <summary>Final sparsity of a selected layer: its override, the section's sparsity, or 1 − N/M.</summary>
    public double FinalSparsity(SelectedLayer layer) => _options.Method == PruneMethod.NM
        ? 1.0 - (double)_options.N / _options.M
        : layer.Override ?? _options.Sparsity;

    /// <summary>Recomputes the masks of the selected layers from the model's current weights.
    /// <paramref name="target"/> maps a final sparsity to the sparsity due now (the schedule).</summary>
    public void Update(ZooModel model, MaskSet masks, Func<double, double> target)
    {
        using var scope = NewDisposeScope();
        var weights = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        switch (_options.Method)
        {
            case PruneMethod.NM:
                foreach (var layer in Selected)
                {
                    var name = layer.Layer.Name;
                    masks.Set(name, PruningCriteria.NM(weights[name], _options.N, _options.M, masks.Get(name)));
                }
                break;
            case PruneMethod.Magnitude:
                foreach (var group in Groups(target))
                {
                    var names = group.Layers.Select(l => l.Layer.Name).ToList();
                    var result = PruningCriteria.Magnitude(names.Select(n => weights[n]).ToList(), names.Select(masks.Get).ToList(), group.Sparsity);
                    for (int i = 0; i < names.Count; i++)
                        masks.Set(names[i], result[i]);
                }
                break;
            case PruneMethod.Channel:
                foreach (var group in Groups(target))
                {
                    var names = group.Layers.Select(l => l.Layer.Name).ToList();
                    var scores = names.Select(n => PruningCriteria.ChannelScores(weights[n], _options.Norm, masks.Get(n))).ToList();
                    var keep = PruningCriteria.ChannelKeep(scores, group.Sparsity);
                    for (int i = 0; i < names.Count; i++)
                    {
                        foreach (var member in ChannelGroups.Members(model, names[i]))
                        {
                            var mask = PruningCriteria.ChannelMask(keep[i], weights[member].shape, weights[member].device);
                            masks.Set(member, masks.Get(member) is { } old ? mask.mul(old) : mask);
                        }
                    }
                }
                break;
        }
        foreach (var layer in Selected)
            masks.AddTarget(layer.Layer.Name);
        masks.ApplyTo(model);
    }

    private sealed record Group(IReadOnlyList<SelectedLayer> Layers, double Sparsity);

    /// <summary>Layers ranked together: with global ranking every layer without an override forms one group;
    /// every other layer is ranked on its own.</summary>
    private IEnumerable<Group> Groups(Func<double, double> target)
    {
        bool global = _options.Ranking == PruneRanking.Global;
        var shared = Selected.Where(l => global && l.Override is null).ToList();
        if (shared.Count > 0)
            yield return new Group(shared, target(_options.Sparsity));
        foreach (var layer in Selected.Where(l => !global || l.Override is not null))
            yield return new Group([layer], target(FinalSparsity(layer)));
    }
}
