namespace Distill.Core.Quantization;

/// <summary>The observers' names, spelled once: recipes, target profiles, model cards, `distill targets` and
/// `distill calibrate` all read them here.</summary>
public static class ObserverNames
{
    private static readonly (ObserverKind Kind, string Name)[] Entries =
    [
        (ObserverKind.MinMax, "min_max"),
        (ObserverKind.MovingAverageMinMax, "moving_average"),
        (ObserverKind.Percentile, "percentile"),
        (ObserverKind.Entropy, "entropy"),
        (ObserverKind.Mse, "mse"),
    ];

    /// <summary>Earlier spellings of `distill calibrate --observer`, still accepted there.</summary>
    private static readonly (string Alias, ObserverKind Kind)[] Aliases =
    [
        ("minmax", ObserverKind.MinMax),
        ("moving-average", ObserverKind.MovingAverageMinMax),
    ];

    /// <summary>Every name, in the order of <see cref="ObserverKind"/>.</summary>
    public static IReadOnlyList<string> All { get; } = [.. Entries.Select(e => e.Name)];

    public static string Of(ObserverKind kind) => Entries.First(e => e.Kind == kind).Name;

    /// <summary>The observer a name (or, with <paramref name="aliases"/>, an earlier spelling) stands for; null when none.</summary>
    public static ObserverKind? Find(string name, bool aliases = false)
    {
        foreach (var (kind, known) in Entries)
        {
            if (known == name)
                return kind;
        }
        if (aliases)
        {
            foreach (var (alias, kind) in Aliases)
            {
                if (alias == name)
                    return kind;
            }
        }
        return null;
    }
}
