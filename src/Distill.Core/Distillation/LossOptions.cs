namespace Distill.Core.Distillation;

/// <summary>One loss term's options (<see cref="KdOptions"/>, <see cref="HintLossOptions"/>, …); its entry in
/// <see cref="Losses.Registry"/> builds the term from it.</summary>
public interface ILossTermOptions
{
    /// <summary>Throws <see cref="InvalidInputException"/> naming the first option out of its range (the entry's <see cref="LossKey"/>s).</summary>
    void Validate();
}

/// <summary>What a stage minimises: the options of its loss terms, at most one record per term. Cross-entropy on the
/// hard labels is always a term (with default options when <see cref="Terms"/> has none); without a teacher's terms
/// it is the whole loss.</summary>
public sealed record LossOptions
{
    public IReadOnlyList<ILossTermOptions> Terms { get; init; } = [];

    /// <summary>The options of one term; null when the term is off.</summary>
    public T? Get<T>() where T : class, ILossTermOptions => Terms.OfType<T>().FirstOrDefault();

    /// <summary>The names of the terms that read <paramref name="needs"/>, e.g. ["hint"].</summary>
    public IReadOnlyList<string> Needing(LossNeeds needs) =>
        [.. Terms.Select(Losses.Of).Where(e => (e.Needs & needs) == needs).Select(e => e.Name)];

    /// <summary>The cross-entropy term alone (a teacher trains on the hard labels).</summary>
    public LossOptions HardLabelsOnly() => new() { Terms = [.. Terms.OfType<CrossEntropyOptions>()] };

    /// <summary>The terms as a <see cref="DistillationLoss"/> folds them: in registry order, cross-entropy first (with
    /// default options when absent).</summary>
    /// <exception cref="ArgumentException">Two records of one term.</exception>
    public IReadOnlyList<ILossTermOptions> Resolved()
    {
        var duplicate = Terms.GroupBy(t => t.GetType()).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"the loss has {duplicate.Count()} {duplicate.Key.Name} records; a term is given once");
        var terms = Terms.Any(t => t is CrossEntropyOptions) ? Terms : [new CrossEntropyOptions(), .. Terms];
        return [.. terms.OrderBy(t => IndexOf(Losses.Of(t)))];
    }

    public bool Equals(LossOptions? other) => other is not null && Terms.SequenceEqual(other.Terms);

    public override int GetHashCode() => Terms.Aggregate(0, HashCode.Combine);

    private static int IndexOf(LossTermEntry entry)
    {
        var entries = Losses.Registry.Entries;
        for (int i = 0; i < entries.Count; i++)
        {
            if (ReferenceEquals(entries[i], entry))
                return i;
        }
        return int.MaxValue;
    }
}
