using System.Text.RegularExpressions;
using Distill.Core.Models;

namespace Distill.Core.Pruning;

/// <summary>A layer a prune section acts on, with its own target sparsity when an override names it.</summary>
public sealed record SelectedLayer(PrunableLayer Layer, double? Override);

/// <summary>Resolves a prune section's layer patterns against a model. Everything that can only be checked
/// against the model (a pattern that matches nothing, N:M groups that do not fit) is reported here, as
/// bad input naming the recipe line, the stage and the pattern.</summary>
public static class LayerSelection
{
    public static IReadOnlyList<SelectedLayer> Select(ZooModel model, PruneOptions options, string stage)
    {
        var all = PrunableLayers.Of(model);
        string listing = "the student's prunable layers are: " + string.Join(", ", all.Select(l => l.Name));
        InvalidInputException Bad(string? where, string message) =>
            new($"{where ?? options.Where ?? "recipe"}: stage '{stage}': prune: {message}; {listing}");

        var candidates = options.Method switch
        {
            PruneMethod.Channel => all.Where(l => l.HasPrunableChannels).ToList(),
            PruneMethod.NM when options.Layers.Count == 0 => all.Where(l => l.Kind != LayerKind.Depthwise).ToList(),
            _ => all.ToList(),
        };

        var chosen = new HashSet<string>();
        if (options.Layers.Count == 0)
            chosen.UnionWith(candidates.Select(l => l.Name));
        foreach (var pattern in options.Layers)
        {
            var matches = all.Where(l => Matches(pattern.Glob, l.Name)).ToList();
            if (matches.Count == 0)
                throw Bad(pattern.Where, $"layers pattern '{pattern.Glob}' matches no layer");
            var usable = matches.Where(candidates.Contains).ToList();
            if (usable.Count == 0)
                throw Bad(pattern.Where, $"layers pattern '{pattern.Glob}' matches only {string.Join(", ", matches.Select(l => l.Name))}, " +
                    $"which {MethodName(options.Method)} pruning cannot prune (channel pruning acts on block convs and hidden head layers; " +
                    "in a residual model on the first layer of each group of channels an add joins)");
            chosen.UnionWith(usable.Select(l => l.Name));
        }
        foreach (var pattern in options.Exclude)
        {
            var matches = all.Where(l => Matches(pattern.Glob, l.Name)).ToList();
            if (matches.Count == 0)
                throw Bad(pattern.Where, $"exclude pattern '{pattern.Glob}' matches no layer");
            chosen.ExceptWith(matches.Select(l => l.Name));
        }
        if (options.KeepFirstLastDense)
        {
            chosen.Remove(all[0].Name);
            chosen.Remove(all[^1].Name);
        }
        var selected = all.Where(l => chosen.Contains(l.Name)).ToList();
        if (selected.Count == 0)
            throw Bad(options.Where, "selects no layer to prune" + (options.KeepFirstLastDense
                ? $" ({all[0].Name} and {all[^1].Name} stay dense while keep_first_last_dense is true)"
                : ""));

        var overrides = new Dictionary<string, double>();
        foreach (var entry in options.Overrides)
        {
            var matches = selected.Where(l => Matches(entry.Glob, l.Name)).ToList();
            if (matches.Count == 0)
                throw Bad(entry.Where, $"overrides layer '{entry.Glob}' matches no selected layer (selected: {string.Join(", ", selected.Select(l => l.Name))})");
            foreach (var layer in matches)
                overrides[layer.Name] = entry.Sparsity;
        }

        if (options.Method == PruneMethod.NM)
        {
            if (selected.FirstOrDefault(l => l.InputSize % options.M != 0) is { } layer)
                throw Bad(options.Where, $"{options.N}:{options.M} pruning needs M = {options.M} to divide the input size of every selected layer, " +
                    $"but {layer.Name} has input size {layer.InputSize}; exclude it or choose another M");
        }
        return selected.Select(l => new SelectedLayer(l, overrides.TryGetValue(l.Name, out var s) ? s : null)).ToList();
    }

    /// <summary>Glob over a whole name: * any run of characters, ? one character.</summary>
    public static bool Matches(string glob, string name) =>
        Regex.IsMatch(name, "^" + Regex.Escape(glob).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$");

    private static string MethodName(PruneMethod method) => PruningMethods.Of(method).Name;
}
