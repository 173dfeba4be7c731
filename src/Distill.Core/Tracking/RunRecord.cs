namespace Distill.Core.Tracking;

public sealed record MetricPoint(long Step, double Value, DateTimeOffset Timestamp);

/// <param name="Metrics">Latest value per key: highest step, then latest time.</param>
/// <param name="Artifacts">Paths relative to the run's artifact folder, '/'-separated, sorted.</param>
public sealed record RunRecord(
    string Id,
    string Experiment,
    string Name,
    RunStatus Status,
    DateTimeOffset StartTime,
    DateTimeOffset? EndTime,
    string? ParentRunId,
    IReadOnlyDictionary<string, string> Params,
    IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, string> Tags,
    IReadOnlyList<string> Artifacts)
{
    /// <summary>When the run was deleted (it is hidden from listings until restored); null for an active run.</summary>
    public DateTimeOffset? DeletedTime { get; init; }
}
