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
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        Selected = LayerSelection.Select(model, options, stage);
    }

    public IReadOnlyList<SelectedLayer> Selected { get; }

    /// <summary>Final sparsity of a selected layer: what the method's own options fix (N:M: 1 − N/M), else its
    /// override or the section's sparsity.</summary>
    public double FinalSparsity(SelectedLayer layer) =>
        PruningMethods.Of(_options.Method).FixedSparsity?.Invoke(_options) ?? layer.Override ?? _options.Sparsity;

    /// <summary>Recomputes the masks of the selected layers from the model's current weights with the section's
    /// method (<see cref="PruningMethods"/>). <paramref name="target"/> maps a final sparsity to the sparsity due now (the schedule).</summary>
    public void Update(ZooModel model, MaskSet masks, Func<double, double> target)
    {
        using var scope = NewDisposeScope();
        var weights = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        PruningMethods.Of(_options.Method).Update(new PruneUpdate(model, masks, weights, _options, Selected, Groups(target)));
        foreach (var layer in Selected)
            masks.AddTarget(layer.Layer.Name);
        masks.ApplyTo(model);
    }

    /// <summary>Layers ranked together: with global ranking every layer without an override forms one group;
    /// every other layer is ranked on its own.</summary>
    private IEnumerable<PruneGroup> Groups(Func<double, double> target)
    {
        bool global = _options.Ranking == PruneRanking.Global;
        var shared = Selected.Where(l => global && l.Override is null).ToList();
        if (shared.Count > 0)
            yield return new PruneGroup(shared, target(_options.Sparsity));
        foreach (var layer in Selected.Where(l => !global || l.Override is not null))
            yield return new PruneGroup([layer], target(FinalSparsity(layer)));
    }
}
