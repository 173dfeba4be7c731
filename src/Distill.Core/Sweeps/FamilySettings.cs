namespace Distill.Core.Sweeps;

/// <summary>One variant of a recipe's family: section: its name and the recipe values it changes (as --set would).</summary>
public sealed record FamilyVariant(string Name, IReadOnlyList<TrialValue> Values);

/// <summary>
/// A recipe's family: section: the variants of the student that `distill train` makes in one family run (a sweep run
/// whose trials are the variants), each exported to the recipe's targets, and a family manifest for each ONNX target.
/// </summary>
public sealed record FamilySettings
{
    public required IReadOnlyList<FamilyVariant> Variants { get; init; }
    /// <summary>The first variant trains the teacher and the others load its checkpoint (when the recipe trains one).</summary>
    public bool ShareTeacher { get; init; } = true;
    /// <summary>Variants trained at once (after the first, when the teacher is shared).</summary>
    public int Parallel { get; init; } = 1;
}
