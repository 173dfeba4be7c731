namespace Distill.Core.Sweeps;

/// <summary>A recipe's sweep: section: the search space and how its trials run. The command line's --grid, --random and
/// options win over it.</summary>
public sealed record SweepSettings
{
    public const string DefaultMetric = "student/test_acc";

    public IReadOnlyList<GridAxis> Grid { get; init; } = [];
    public IReadOnlyList<RandomAxis> Random { get; init; } = [];
    /// <summary>Draws of the random axes; null = not given.</summary>
    public int? Trials { get; init; }
    public int Seed { get; init; }
    public string Metric { get; init; } = DefaultMetric;
    /// <summary>"max" or "min".</summary>
    public string Mode { get; init; } = "max";
    public int Parallel { get; init; } = 1;
    public SlurmOptions Slurm { get; init; } = new();
}
